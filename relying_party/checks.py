"""System checks: refuse to start with RELYING_PARTY settings that could never verify a token."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.module_loading import import_string

from relying_party.conf import rp_settings
from relying_party.exceptions import InvalidSetting

_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
# RFC 6265 §4.1.1: a cookie-name is an RFC 2616 token: no separators, no controls, no spaces.
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@checks.register(checks.Tags.security)
def check_relying_party_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Build a verifier from settings (no network) and report what its constructors refuse."""
    from relying_party.state import build_verifier

    # Registered for the whole process once imported; a project (or test run) that neither
    # installs the app nor configures it is not a relying party, and has nothing to check.
    if not apps.is_installed("relying_party") and not hasattr(settings, "RELYING_PARTY"):
        return []
    messages: list[checks.CheckMessage] = []
    for key in rp_settings.unknown_keys():
        messages.append(checks.Warning(f"RELYING_PARTY has an unknown option {key!r}.", id="relying_party.W002"))
    try:
        verifier = build_verifier()
    except InvalidSetting as e:
        messages.append(
            checks.Error(f"RELYING_PARTY is not usable: {e}", hint="See relying_party/conf.py.", id="relying_party.E001")
        )
        return messages
    url = urlsplit(verifier.jwks.url)
    if url.scheme != "https" and url.hostname not in _LOOPBACK_HOSTS:
        messages.append(
            checks.Warning(
                f"RELYING_PARTY JWKS_URL {verifier.jwks.url!r} is not https: anyone on the path can swap the keys.",
                id="relying_party.W001",
            )
        )
    messages += _revocation_store_messages()
    messages.extend(_check_access_cookie())
    if rp_settings.LOCAL_USERS and not apps.is_installed("relying_party"):
        messages.append(
            checks.Error(
                "RELYING_PARTY LOCAL_USERS needs 'relying_party' in INSTALLED_APPS (its model links users).",
                id="relying_party.E002",
            )
        )
    return messages


def _revocation_store_messages() -> list[checks.CheckMessage]:
    """Report a revocation store that the workers could not share, or that could not work at all."""
    from relying_party.revocations import RevocationView
    from relying_party.state import REVOCATION_STORES

    store = rp_settings.REVOCATION_STORE
    if store not in REVOCATION_STORES:
        return [checks.Error(f"RELYING_PARTY REVOCATION_STORE must be one of {REVOCATION_STORES}, got {store!r}.", id="relying_party.E004")]
    try:
        RevocationView(store=None, refresh_interval=rp_settings.REVOCATION_REFRESH)  # type: ignore[arg-type]
    except InvalidSetting as e:
        return [checks.Error(f"RELYING_PARTY is not usable: {e}", id="relying_party.E001")]
    if store == "database" and not apps.is_installed("relying_party"):
        return [
            checks.Error(
                "RELYING_PARTY REVOCATION_STORE 'database' needs 'relying_party' in INSTALLED_APPS (its tables "
                "hold the ended sessions); without it no session is ever refused as ended.",
                id="relying_party.E003",
            )
        ]
    if store == "cache":
        backend = settings.CACHES.get(rp_settings.REVOCATION_CACHE, {}).get("BACKEND", "")
        if not backend:
            return [checks.Error(f"RELYING_PARTY REVOCATION_CACHE {rp_settings.REVOCATION_CACHE!r} is not in CACHES.", id="relying_party.E005")]
        if backend.rsplit(".", 1)[-1] in ("LocMemCache", "DummyCache"):
            return [
                checks.Warning(
                    f"RELYING_PARTY REVOCATION_CACHE {rp_settings.REVOCATION_CACHE!r} is a {backend.rsplit('.', 1)[-1]}, "
                    "which the workers do not share: a logout reaches only the worker that received it.",
                    hint="Use Redis (KUNCI_CACHE_URL), or REVOCATION_STORE 'database'.",
                    id="relying_party.W003",
                )
            ]
    return []
def _check_access_cookie() -> list[checks.CheckMessage]:
    """Refuse an ACCESS_COOKIE_NAME that is not a cookie name, or one no CSRF cookie would go with."""
    name = rp_settings.ACCESS_COOKIE_NAME
    if name is None:
        return []
    if not isinstance(name, str) or not _COOKIE_NAME.fullmatch(name):
        return [
            checks.Error(
                f"RELYING_PARTY ACCESS_COOKIE_NAME must be None or a cookie name (RFC 6265 §4.1.1), got {name!r}.",
                id="relying_party.E006",
            )
        ]
    if not any(_is_csrf_middleware(path) for path in settings.MIDDLEWARE):
        # enforce_csrf checks the token without it, but only the middleware sets the CSRF cookie
        # that clients echo: every unsafe request the cookie authenticates would be refused.
        return [
            checks.Error(
                "RELYING_PARTY ACCESS_COOKIE_NAME needs django.middleware.csrf.CsrfViewMiddleware in MIDDLEWARE: "
                "it gives clients the CSRF cookie that unsafe requests authenticated by the cookie must echo.",
                id="relying_party.E007",
            )
        ]
    return []


def _is_csrf_middleware(path: str) -> bool:
    try:
        return issubclass(import_string(path), CsrfViewMiddleware)
    except (ImportError, TypeError):
        return False
