"""System checks: refuse to start with RELYING_PARTY settings that could never verify a token."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core import checks

from relying_party.conf import rp_settings
from relying_party.exceptions import InvalidSetting

_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


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
    if rp_settings.LOCAL_USERS and not apps.is_installed("relying_party"):
        messages.append(
            checks.Error(
                "RELYING_PARTY LOCAL_USERS needs 'relying_party' in INSTALLED_APPS (its model links users).",
                id="relying_party.E002",
            )
        )
    return messages
