"""The one validation of a client's registration, used by `Client.clean()` and so by the admin and `manage.py clients`."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from idp.oauth.redirect_uris import InvalidRedirectURI, validate_redirect_uri
from settings.environment import demo_mode

if TYPE_CHECKING:
    from idp.oauth.models import Client

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
MAX_URIS = 20


def validate_client(client: Client) -> None:
    """Raise ValidationError, keyed by field, unless `client`'s registration is acceptable.

    Plain http URIs are accepted everywhere only in demo mode (KUNCI_DEMO=1), read now.
    """
    allow_http = demo_mode()
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if client.name and not client.name.strip():  # an empty name is the field's own "cannot be blank"
        add("name", "A client needs a name: it is shown on the sign-in and consent pages.")
    if not client.redirect_uris:
        # OpenID Connect Core §3.1.2.1 requires a redirect_uri, which must match a registered one.
        add("redirect_uris", "Register at least one redirect URI.")
    for field in ("redirect_uris", "post_logout_redirect_uris"):
        uris = getattr(client, field)
        if not isinstance(uris, list):
            add(field, "Must be a list of URIs.")
            continue
        if len(uris) > MAX_URIS:
            add(field, f"At most {MAX_URIS} URIs.")
        if len(set(map(str, uris))) != len(uris):
            add(field, "Lists a URI twice.")
        for uri in uris:
            _check_uri(uri, allow_http, field, add)
    if client.backchannel_logout_uri:
        # Back-Channel Logout 1.0 §2.2: absolute, no fragment, https; it "MAY use the http scheme,
        # provided that the Client Type is confidential ... and provided the OP allows" it, which
        # Kunci does as for redirect URIs (loopback literals, and anywhere in demo mode).
        _check_uri(client.backchannel_logout_uri, allow_http, "backchannel_logout_uri", add)
        if client.is_public and urlsplit(str(client.backchannel_logout_uri)).scheme.lower() == "http":
            add("backchannel_logout_uri", "must use https for a public client (Back-Channel Logout 1.0 §2.2).")
    if not isinstance(client.allowed_scopes, list) or not all(
        isinstance(scope, str) and _SCOPE_TOKEN.fullmatch(scope) for scope in client.allowed_scopes
    ):
        add("allowed_scopes", "Must be a list of scope tokens without spaces or quotes (RFC 6749 §3.3).")
    if errors:
        raise ValidationError(errors)


def _check_uri(uri: object, allow_http: bool, field: str, add) -> None:
    try:
        validate_redirect_uri(uri, allow_http=allow_http)
    except InvalidRedirectURI as error:
        add(field, f"{uri!r} {error}.")
