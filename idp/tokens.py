"""Claim builders of Kunci's tokens: plain functions that return claims dicts, signed by idp/jws.py.

Each builder takes what it needs explicitly: the user, the session id, the audience, and `now`, the
time of issue (so tests inject the clock). Lifetimes, issuer and default audience are read from
KUNCI_IDP at call time. Nothing here signs or touches the database: idp/sessions.py signs the
claims with `jws.sign` and records refresh tokens, where both are visible.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

from idp.conf import idp_settings

# The header `typ` of each kind (RFC 8725 §3.11): RFC 9068 §2.1 names access tokens `at+jwt`; a
# refresh token has its own type, so no relying party can take it for an access token, even one
# that ignores `token_type`; an id_token is a plain `JWT` (OpenID Connect Core §2, RFC 7519 §5.1);
# a logout token is `logout+jwt` (OpenID Connect Back-Channel Logout 1.0 §2.4, §4.1).
ACCESS_TYP = "at+jwt"
REFRESH_TYP = "refresh+jwt"
ID_TOKEN_TYP = "JWT"
LOGOUT_TYP = "logout+jwt"

# Back-Channel Logout 1.0 §2.4: the member of `events` that declares a JWT a logout token.
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# §2.4 requires an `exp`; Kunci keeps it short: a logout token is minted at each delivery attempt,
# so it only has to outlive one POST and the receiver's clock skew.
LOGOUT_TOKEN_LIFETIME = timedelta(minutes=2)


def access_claims(
    user: Any,
    *,
    sid: str,
    now: datetime,
    audience: str | list[str] | None = None,
    lifetime: timedelta | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Return the claims of an access token (RFC 9068 §2.2) of session `sid` for `user`.

    `audience` defaults to KUNCI_IDP's AUDIENCE, `lifetime` to ACCESS_TOKEN_LIFETIME. `extra`
    claims (an OAuth client's `client_id` and `scope`, RFC 9068 §2.2.1, §2.2.3) are added as given.
    """
    return {
        **_session_claims(user, sid, now, lifetime or idp_settings.ACCESS_TOKEN_LIFETIME, audience),
        "token_type": "access",
        **extra,
    }


def refresh_claims(user: Any, *, sid: str, now: datetime, lifetime: timedelta | None = None) -> dict[str, Any]:
    """Return the claims of a refresh token of session `sid` for `user`, good for REFRESH_TOKEN_LIFETIME.

    A rotation builds its successor the same way, from the user row: a changed email reaches
    relying parties on the next refresh instead of living as long as the session.
    """
    return {
        **_session_claims(user, sid, now, lifetime or idp_settings.REFRESH_TOKEN_LIFETIME, None),
        "token_type": "refresh",
    }


def id_token_claims(
    user: Any,
    *,
    sid: str,
    client_id: str,
    auth_time: datetime,
    now: datetime,
    lifetime: timedelta,
    nonce: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Return the claims of an id_token (OpenID Connect Core §2) for `client_id`.

    `aud` is the client alone and `azp` names it too (§2); `nonce` is echoed when the
    authentication request sent one (§3.1.3.6). `extra` takes `at_hash` and profile claims.
    """
    issued = _epoch(now)
    claims = {
        "iss": idp_settings.ISSUER,
        "sub": str(user.pk),
        "aud": client_id,
        "azp": client_id,
        "exp": issued + _seconds(lifetime),
        "iat": issued,
        "auth_time": _epoch(auth_time),
        "sid": sid,
    }
    if nonce is not None:
        claims["nonce"] = nonce
    return {**claims, **extra}


def logout_claims(
    *, sub: str, sid: str, client_id: str, now: datetime, lifetime: timedelta = LOGOUT_TOKEN_LIFETIME
) -> dict[str, Any]:
    """Return the claims of a logout token (Back-Channel Logout 1.0 §2.4) telling `client_id` that session `sid` of `sub` ended.

    Both `sub` and `sid` are sent (§2.4: at least one), `aud` is the client alone, and there is
    never a `nonce` (§2.4: its presence is what tells a logout token from an id_token).
    """
    issued = _epoch(now)
    return {
        "iss": idp_settings.ISSUER,
        "sub": sub,
        "aud": client_id,
        "iat": issued,
        "exp": issued + _seconds(lifetime),
        "jti": uuid4().hex,
        "sid": sid,
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }


def expires_at(claims: Mapping[str, Any]) -> datetime:
    """Return the `exp` of `claims` as an aware datetime."""
    return datetime.fromtimestamp(claims["exp"], tz=timezone.utc)


def issued_at(claims: Mapping[str, Any]) -> datetime:
    """Return the `iat` of `claims` as an aware datetime."""
    return datetime.fromtimestamp(claims["iat"], tz=timezone.utc)


def new_sid() -> str:
    """Return a fresh session id."""
    return uuid4().hex


def _session_claims(
    user: Any, sid: str, now: datetime, lifetime: timedelta, audience: str | list[str] | None
) -> dict[str, Any]:
    issued = _epoch(now)
    return {
        "iss": idp_settings.ISSUER,
        "aud": idp_settings.AUDIENCE if audience is None else audience,
        "sub": str(user.pk),
        # simplejwt's name for the subject, kept because the JSON API's tokens have always carried it.
        "user_id": str(user.pk),
        "exp": issued + _seconds(lifetime),
        "iat": issued,
        # RFC 7519 §4.1.7: unique per token; refresh tokens are found, rotated and blacklisted by it.
        "jti": uuid4().hex,
        "sid": sid,
        "username": user.get_username(),
        "email": getattr(user, "email", "") or "",
    }


def _epoch(moment: datetime) -> int:
    # RFC 7519 §2: a NumericDate; whole seconds, as every Kunci token has carried them.
    return int(moment.timestamp())


def _seconds(lifetime: timedelta) -> int:
    return int(lifetime.total_seconds())
