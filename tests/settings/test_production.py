"""settings.idp in production mode: secrets from the environment, `check --deploy` clean."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys

from tests.e2e.servers import ROOT


def _manage(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KUNCI_", "DJANGO_")) and k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "KUNCI_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "settings.idp", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _production_secrets() -> dict[str, str]:
    return {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "KUNCI_KEY_ENCRYPTION_KEY": secrets.token_urlsafe(32),
    }


def _production() -> dict[str, str]:
    return {**_production_secrets(), "KUNCI_ISSUER": "https://id.example.com", "KUNCI_EMAIL_URL": "smtps://mail.example.com"}


def test_production_settings_pass_check_deploy_without_warnings(tmp_path):
    result = _manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **_production())

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_kunci_email_url_is_unset(tmp_path):
    result = _manage(tmp_path, "check", "--deploy", **{**_production(), "KUNCI_EMAIL_URL": ""})

    assert result.returncode == 0
    assert "idp.W001" in result.stderr and "KUNCI_EMAIL_URL is not set" in result.stderr


def test_check_deploy_fails_with_an_error_when_kunci_issuer_is_unset(tmp_path):
    result = _manage(tmp_path, "check", "--deploy", **_production_secrets())

    assert result.returncode != 0
    assert "ERRORS:" in result.stderr
    assert "idp.E003" in result.stderr
    assert "'http://127.0.0.1:8000'" in result.stderr


def test_check_deploy_fails_with_an_error_when_kunci_issuer_is_plain_http(tmp_path):
    result = _manage(tmp_path, "check", "--deploy", **{**_production(), "KUNCI_ISSUER": "http://id.example.com"})

    assert result.returncode != 0
    assert "idp.E003" in result.stderr
    assert "https" in result.stderr


def test_the_demo_keeps_its_plain_http_issuer(tmp_path):
    result = _manage(tmp_path, "check", KUNCI_DEMO="1")

    assert result.returncode == 0, result.stderr
    assert "idp.E003" not in result.stderr + result.stdout


def test_production_refuses_to_start_without_secrets(tmp_path):
    result = _manage(tmp_path, "check")

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_production_refuses_the_demo_key_encryption_key_and_names_it(tmp_path):
    assert _manage(tmp_path, "check", KUNCI_DEMO="1").returncode == 0
    demo_kek = (tmp_path / "key-encryption-key").read_text().strip()

    result = _manage(tmp_path, "check", **{**_production_secrets(), "KUNCI_KEY_ENCRYPTION_KEY": demo_kek})

    assert result.returncode != 0
    assert "KUNCI_KEY_ENCRYPTION_KEY is the demo secret" in result.stderr
    assert demo_kek not in result.stderr


def test_production_refuses_the_demo_django_secret_and_names_it(tmp_path):
    assert _manage(tmp_path, "check", KUNCI_DEMO="1").returncode == 0
    demo_secret = (tmp_path / "django-secret-key").read_text().strip()

    result = _manage(tmp_path, "check", **{**_production_secrets(), "DJANGO_SECRET_KEY": demo_secret})

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is the demo secret" in result.stderr


def test_demo_mode_with_debug_off_warns_loudly_about_the_demo_key_encryption_key(tmp_path):
    result = _manage(tmp_path, "check", KUNCI_DEMO="1")

    assert "keys.W001" in result.stderr + result.stdout
    assert "DEMO KEY-ENCRYPTION KEY" in result.stderr + result.stdout


def test_token_cookies_leave_out_secure_to_loopback_in_the_demo_only_and_take_their_names_from_the_environment(tmp_path):
    show = (
        "from django.conf import settings as s; c = s.KUNCI_IDP; "
        "print(c['COOKIE_SECURE_ON_LOOPBACK'], c.get('ACCESS_COOKIE_NAME'), c.get('ACCESS_COOKIE_DOMAIN'))"
    )
    names = {"KUNCI_ACCESS_COOKIE_NAME": "id_at", "KUNCI_ACCESS_COOKIE_DOMAIN": "example.com"}

    production = _manage(tmp_path, "shell", "-v", "0", "-c", show, **_production(), **names)
    demo = _manage(tmp_path, "shell", "-v", "0", "-c", show, KUNCI_DEMO="1")

    assert production.stdout.split() == ["True", "id_at", "example.com"], production.stderr
    assert demo.stdout.split() == ["False", "None", "None"], demo.stderr


def test_the_issuer_hashes_passwords_with_argon2id_first():
    from settings import idp

    assert idp.PASSWORD_HASHERS[0] == "idp.hashers.Argon2idPasswordHasher"
