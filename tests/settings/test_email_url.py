"""KUNCI_EMAIL_URL read into Django's EMAIL_* settings, and its errors, which never repeat a password."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from settings.email import email_settings

SMTP = "django.core.mail.backends.smtp.EmailBackend"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://127.0.0.1:2525", {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": 2525, "EMAIL_USE_TLS": False, "EMAIL_USE_SSL": False}),
        ("smtp://mail.example.com", {"EMAIL_PORT": 25, "EMAIL_HOST_USER": "", "EMAIL_HOST_PASSWORD": ""}),
        ("smtp+starttls://kunci:s3cret@mail.example.com", {"EMAIL_PORT": 587, "EMAIL_USE_TLS": True, "EMAIL_USE_SSL": False}),
        ("smtps://mail.example.com", {"EMAIL_PORT": 465, "EMAIL_USE_TLS": False, "EMAIL_USE_SSL": True}),
        ("SMTP://[::1]:25", {"EMAIL_HOST": "::1"}),
        ("smtp://u:p@mail.example.com/?timeout=2.5", {"EMAIL_TIMEOUT": 2.5}),
        ("smtp://mail.example.com", {"EMAIL_TIMEOUT": 10.0}),
    ],
)
def test_smtp_urls(url, expected):
    settings = email_settings(url, demo_mail_dir=None)

    assert settings["EMAIL_BACKEND"] == SMTP
    assert expected.items() <= settings.items()


def test_the_user_and_password_are_percent_decoded():
    settings = email_settings("smtp+starttls://me%40example.com:p%40ss%2Fw%3Ard%23@mail.example.com:587", demo_mail_dir=None)

    assert settings["EMAIL_HOST_USER"] == "me@example.com"
    assert settings["EMAIL_HOST_PASSWORD"] == "p@ss/w:rd#"


def test_file_and_console_urls(tmp_path):
    assert email_settings(f"file://{tmp_path}/mail", demo_mail_dir=None) == {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend", "EMAIL_FILE_PATH": f"{tmp_path}/mail",
    }
    assert email_settings("console:", demo_mail_dir=None) == {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}


def test_without_a_url_the_demo_writes_files_and_production_sends_nothing_silently(tmp_path):
    assert email_settings("", demo_mail_dir=tmp_path / "mail") == {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend", "EMAIL_FILE_PATH": str(tmp_path / "mail"),
    }
    assert email_settings(None, demo_mail_dir=None) == {"EMAIL_BACKEND": "idp.accounts.mail.NotConfiguredBackend"}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("smtp://user:hunter2@:25", "needs a host"),
        ("smtp://user:hunter2@mail.example.com:port", "port that is not a number"),
        ("smtp://user:hunter2@mail.example.com:70000", "port that is not a number"),
        ("smtp://user:hunter2@mail.example.com:0", "port that is not a number"),
        ("smtp://user:hunter2@mail.example.com/inbox", "takes no path"),
        ("smtp://user:hunter2@mail.example.com?tls=1", "unknown options ['tls']"),
        ("smtp://user:hunter2@mail.example.com?timeout=soon", "timeout must be seconds"),
        ("smtp://user:hunter2@mail.example.com?timeout=0", "timeout must be seconds"),
        ("ftp://user:hunter2@mail.example.com", "scheme 'ftp'"),
        ("mail.example.com", "scheme 'mail.example.com'"),
        ("file://relative/mail", "absolute folder"),
        ("file:mail", "absolute folder"),
    ],
)
def test_a_bad_url_is_a_clear_error_that_never_shows_the_password(url, message):
    with pytest.raises(ImproperlyConfigured) as raised:
        email_settings(url, demo_mail_dir=None)

    assert message in str(raised.value)
    assert "hunter2" not in str(raised.value)
    assert str(raised.value).startswith("KUNCI_EMAIL_URL")


def test_the_issuer_settings_read_kunci_email_url(tmp_path):
    import os
    import subprocess
    import sys

    from tests.e2e.servers import ROOT

    script = "from django.conf import settings; print(settings.EMAIL_BACKEND, settings.EMAIL_HOST, settings.EMAIL_PORT, settings.DEFAULT_FROM_EMAIL)"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KUNCI_", "DJANGO_"))},
        "DJANGO_SETTINGS_MODULE": "settings.idp", "KUNCI_VAR_DIR": str(tmp_path), "KUNCI_DEMO": "1",
        "KUNCI_EMAIL_URL": "smtp://127.0.0.1:2525", "KUNCI_DEFAULT_FROM_EMAIL": "Accounts <accounts@id.example.com>",
    }
    result = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {script}"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)

    assert result.stdout.split() == [SMTP, "127.0.0.1", "2525", "Accounts", "<accounts@id.example.com>"], result.stderr
    assert not Path(tmp_path / "mail").exists()
