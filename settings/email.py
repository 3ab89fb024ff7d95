"""KUNCI_EMAIL_URL: where the issuer's email goes, as one URL read into Django's EMAIL_* settings.

    smtp://user:pass@host:port            plain SMTP (port 25 by default)
    smtp+starttls://user:pass@host:port   SMTP upgraded with STARTTLS (port 587 by default)
    smtps://user:pass@host:port           SMTP over TLS from the first byte (port 465 by default)
    file:///absolute/folder               one file per message in that folder (the demo's var/mail/)
    console:                              printed on the worker's standard output

The user and password may be percent-encoded (a password holding "@" or "/" must be). `?timeout=N`
sets the seconds an SMTP connection may stall before the outbox retries the message (10 by default).
Errors name the part that is wrong and never repeat the URL, which may hold a password.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

SMTP_SCHEMES = {
    # scheme: (default port, EMAIL_USE_TLS, EMAIL_USE_SSL)
    "smtp": (25, False, False),
    "smtp+starttls": (587, True, False),
    "smtps": (465, False, True),
}
DEFAULT_TIMEOUT = 10.0
# Outside demo mode with no KUNCI_EMAIL_URL: sending fails, so every message waits in the outbox
# (and idp.W001 says why) until the URL is set, instead of vanishing.
NOT_CONFIGURED_BACKEND = "idp.accounts.mail.NotConfiguredBackend"


def email_settings(url: str | None, *, demo_mail_dir: Path | None) -> dict[str, Any]:
    """Return Django's EMAIL_* settings for `url`; without one, files under `demo_mail_dir` (demo mode) or none."""
    if not url:
        if demo_mail_dir is not None:
            return {"EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend", "EMAIL_FILE_PATH": str(demo_mail_dir)}
        return {"EMAIL_BACKEND": NOT_CONFIGURED_BACKEND}
    scheme, _, rest = url.partition(":")
    scheme = scheme.lower()
    if scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if scheme == "file":
        return _file_settings(url)
    if scheme in SMTP_SCHEMES:
        return _smtp_settings(scheme, url)
    raise ImproperlyConfigured(
        f"KUNCI_EMAIL_URL has the scheme {scheme!r}; use smtp://, smtp+starttls://, smtps://, file:/// or console:"
    )


def _file_settings(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.netloc or not parts.path.startswith("/"):
        raise ImproperlyConfigured("KUNCI_EMAIL_URL file:// needs an absolute folder, as in file:///var/lib/kunci/mail")
    return {"EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend", "EMAIL_FILE_PATH": unquote(parts.path)}


def _smtp_settings(scheme: str, url: str) -> dict[str, Any]:
    default_port, use_tls, use_ssl = SMTP_SCHEMES[scheme]
    parts = urlsplit(url)
    if not parts.hostname:
        raise ImproperlyConfigured(f"KUNCI_EMAIL_URL {scheme}:// needs a host, as in {scheme}://mail.example.com")
    try:
        port = parts.port if parts.port is not None else default_port
    except ValueError:
        port = 0
    if not port:
        raise ImproperlyConfigured(f"KUNCI_EMAIL_URL {scheme}:// has a port that is not a number from 1 to 65535")
    if parts.path not in ("", "/"):
        raise ImproperlyConfigured(f"KUNCI_EMAIL_URL {scheme}:// takes no path after the host")
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": port,
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_TLS": use_tls,
        "EMAIL_USE_SSL": use_ssl,
        "EMAIL_TIMEOUT": _timeout(scheme, parts.query),
    }


def _timeout(scheme: str, query: str) -> float:
    options = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(options) - {"timeout"})
    if unknown:
        raise ImproperlyConfigured(f"KUNCI_EMAIL_URL {scheme}:// has unknown options {unknown}; only timeout is known")
    values = options.get("timeout", [str(DEFAULT_TIMEOUT)])
    try:
        timeout = float(values[-1])
    except ValueError:
        timeout = -1.0
    if not 0 < timeout <= 600:
        raise ImproperlyConfigured(f"KUNCI_EMAIL_URL {scheme}:// timeout must be seconds from 0 to 600")
    return timeout
