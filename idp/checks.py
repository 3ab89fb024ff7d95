"""System checks: the issuer URL, token lifetimes against the keyring's retirement window, the schema, CORS
origins, token cookie names, back-channel logout, email.
"""
from __future__ import annotations

import re
import ipaddress
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder

from idp.conf import IDP_DEFAULTS, idp_settings
from keys.conf import keys_settings


@register()
def check_issuer_url(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    issuer = idp_settings.ISSUER
    if not isinstance(issuer, str) or not issuer.startswith(("https://", "http://")) or issuer.endswith("/"):
        return [
            Error(
                f"KUNCI_IDP['ISSUER'] must be an http(s) URL without a trailing slash, got {issuer!r}; "
                "it is every token's iss and the prefix of every discovery URL.",
                id="idp.E002",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_issuer_url_is_https(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    issuer = idp_settings.ISSUER
    if isinstance(issuer, str) and issuer.startswith("https://"):
        return []
    # The iss is what relying parties trust and the prefix of the jwks_uri they fetch keys from:
    # over plain HTTP anyone on the path could serve their own keys (OpenID Connect Discovery 1.0
    # §3 requires https for the issuer).
    return [
        Error(
            f"KUNCI_IDP['ISSUER'] is {issuer!r}; a deployed issuer must have an https URL.",
            hint="Set KUNCI_ISSUER to the issuer's public https URL, e.g. https://id.example.com.",
            id="idp.E003",
        )
    ]


@register(deploy=True)
def check_email_is_configured(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    from idp.accounts.mail import NotConfiguredBackend

    if settings.EMAIL_BACKEND != f"{NotConfiguredBackend.__module__}.{NotConfiguredBackend.__qualname__}":
        return []
    return [
        Warning(
            "KUNCI_EMAIL_URL is not set: activation and password-reset mail waits in the outbox, unsent.",
            hint="Set KUNCI_EMAIL_URL, e.g. smtp+starttls://user:password@mail.example.com (README, Email).",
            id="idp.W001",
        )
    ]


@register()
def check_retired_keys_outlive_tokens(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    longest = max(idp_settings.ACCESS_TOKEN_LIFETIME, idp_settings.REFRESH_TOKEN_LIFETIME)
    if keys_settings.RETIRED_KEY_LIFETIME < longest:
        return [
            Error(
                f"KUNCI_KEYS['RETIRED_KEY_LIFETIME'] ({keys_settings.RETIRED_KEY_LIFETIME}) is shorter "
                f"than the longest token lifetime ({longest}); tokens would outlive their key.",
                id="idp.E001",
            )
        ]
    return []


@register(Tags.database)
def check_schema_is_current(
    app_configs: Sequence[AppConfig] | None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Refuse a database made before Kunci had its own user model (`migrate` runs this first).

    Such a database records the issuer's first migration as applied but has no user table of
    Kunci's, and no migration can move Django's built-in users across: it must be made anew.
    """
    from idp.models import User

    errors: list[CheckMessage] = []
    for alias in databases or []:
        connection = connections[alias]
        recorder = MigrationRecorder(connection)
        if not recorder.has_table():
            continue
        if ("idp", "0001_initial") in recorder.applied_migrations() and User._meta.db_table not in (
            connection.introspection.table_names()
        ):
            errors.append(
                Error(
                    f"Database {alias!r} was made by an earlier Kunci, before it had its own user model.",
                    hint="For the demo, `make clean` resets it (it deletes var/: the demo keys, users and "
                    "secrets); `make run` then sets everything up again. A real deployment made by that "
                    "version must be migrated by hand.",
                    id="idp.E004",
                )
            )
    return errors


@register()
def check_authorization_code_lifetime(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    seconds = idp_settings.AUTHORIZATION_CODE_SECONDS
    # RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED."
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= 600:
        return [
            Error(
                f"KUNCI_IDP['AUTHORIZATION_CODE_SECONDS'] must be whole seconds from 1 to 600, got {seconds!r}.",
                hint="Set KUNCI_AUTHORIZATION_CODE_SECONDS; the default, 60, suits a browser redirect.",
                id="idp.E005",
            )
        ]
    return []


# Process caches: past a minute, what changed in another process would linger too long there.
_CACHE_SECONDS = {
    "CLIENT_CACHE_SECONDS": ("idp.E006", "a client changed in another process may be seen as it was"),
    "SIGN_IN_CACHE_SECONDS": ("idp.E007", "a browser's Django session deleted in another process may still be read"),
}


@register()
def check_cache_seconds(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """idp/oauth/client_cache.py and idp/accounts/browser.py: each cache's lifetime is 0 to 60 seconds."""
    errors: list[CheckMessage] = []
    for name, (check_id, meaning) in _CACHE_SECONDS.items():
        seconds = getattr(idp_settings, name)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 60:
            default = IDP_DEFAULTS[name]
            errors.append(Error(
                f"KUNCI_IDP['{name}'] must be seconds from 0 to 60, got {seconds!r}.",
                hint=f"Set KUNCI_{name}; the default, {default}, is how long {meaning}.",
                id=check_id,
            ))
    return errors


# --- Cross-origin reads (idp/cors.py) ------------------------------------------------------------


@register(Tags.security)
def check_cors_origins(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """Refuse KUNCI_CORS_ORIGINS entries that are not origins as browsers send them."""
    from idp.cors import origin_problem

    origins = idp_settings.CORS_ORIGINS
    if isinstance(origins, str) or not isinstance(origins, (list, tuple)):
        return [Error(f"KUNCI_IDP['CORS_ORIGINS'] must be a list of origins, got {origins!r}.", id="idp.E010")]
    return [
        Error(
            f"KUNCI_CORS_ORIGINS: {origin!r} {problem}.",
            hint="List the origins of the front-ends that call the JSON API, comma-separated, "
            "e.g. KUNCI_CORS_ORIGINS=https://app.example.com,http://127.0.0.1:5173",
            id="idp.E010",
        )
        for origin in origins
        if (problem := origin_problem(origin)) is not None
    ]


@register(Tags.security)
def check_cors_never_opens_everything(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """Keep django-cors-headers from allowing every origin or credentials, which Kunci's policy never does."""
    from django.conf import settings

    return [
        Error(
            f"{name} is on; Kunci's CORS policy (idp/cors.py) allows no credentials and never every origin "
            "with them.",
            hint=f"Remove {name} from the settings; list API origins in KUNCI_CORS_ORIGINS instead.",
            id="idp.E011",
        )
        for name in ("CORS_ALLOW_ALL_ORIGINS", "CORS_ALLOW_CREDENTIALS")
        if getattr(settings, name, False)
    ]


# --- Cookie mode (idp/cookies.py) ----------------------------------------------------------------

# RFC 6265 §4.1.1: a cookie-name is an RFC 2616 token: no separators, no controls, no spaces.
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@register(Tags.security)
def check_token_cookie_names(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """Refuse token cookie names that are not cookie names, or that another of the issuer's cookies uses."""
    from django.conf import settings

    names = {
        "KUNCI_IDP['ACCESS_COOKIE_NAME']": idp_settings.ACCESS_COOKIE_NAME,
        "KUNCI_IDP['REFRESH_COOKIE_NAME']": idp_settings.REFRESH_COOKIE_NAME,
    }
    errors = [
        Error(f"{setting} must be a cookie name (RFC 6265 §4.1.1), got {name!r}.", id="idp.E012")
        for setting, name in names.items()
        if not isinstance(name, str) or not _COOKIE_NAME.fullmatch(name)
    ]
    # Two cookies of one name overwrite each other: a token would replace the session or CSRF
    # cookie, or the access token the refresh token.
    taken = [*names.values(), settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME]
    if not errors and len(set(taken)) < len(taken):
        errors.append(
            Error(
                f"The token cookie names {sorted(names.values())} must differ from each other and from "
                f"SESSION_COOKIE_NAME and CSRF_COOKIE_NAME ({settings.SESSION_COOKIE_NAME!r}, "
                f"{settings.CSRF_COOKIE_NAME!r}).",
                id="idp.E012",
            )
        )
    return errors
# --- Back-channel logout (idp/backchannel.py) ---------------------------------------------------


@register(Tags.security)
def check_backchannel_allowed_networks(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """Refuse KUNCI_BACKCHANNEL_ALLOWED_NETWORKS entries that are not networks: every delivery would fail on them."""
    networks = idp_settings.BACKCHANNEL_ALLOWED_NETWORKS
    if isinstance(networks, str) or not isinstance(networks, (list, tuple)):
        return [Error(f"KUNCI_IDP['BACKCHANNEL_ALLOWED_NETWORKS'] must be a list of networks, got {networks!r}.", id="idp.E014")]
    errors: list[CheckMessage] = []
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except (TypeError, ValueError):
            errors.append(
                Error(
                    f"KUNCI_BACKCHANNEL_ALLOWED_NETWORKS: {network!r} is not an IP network.",
                    hint="List networks in CIDR notation, comma-separated, e.g. "
                    "KUNCI_BACKCHANNEL_ALLOWED_NETWORKS=10.20.0.0/16,127.0.0.1/32",
                    id="idp.E014",
                )
            )
    return errors


@register()
def check_backchannel_logout_has_a_handler(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """Refuse OUTBOX_HANDLERS without the back-channel logout handler: every ended session enqueues one."""
    from idp.backchannel import KIND

    if KIND in idp_settings.OUTBOX_HANDLERS:
        return []
    return [
        Error(
            f"KUNCI_IDP['OUTBOX_HANDLERS'] has no {KIND!r} handler; every session that ends writes rows of that kind, "
            "so every logout would fail.",
            hint=f"Keep {KIND!r}: 'idp.backchannel.deliver' beside the kinds you add.",
            id="idp.E013",
        )
    ]
