"""`id_token_hint`: an id_token this issuer signed, presented back to it (OIDC Core §3.1.2.1, RP-Initiated Logout §2).

A hint may have expired: RP-Initiated Logout 1.0 §4 says the OP "SHOULD accept ID Tokens when the
RP identified by the ID Token's aud claim and/or sid claim has a current session or had a recent
session", and a client's id_token has usually expired by the time it signs out. So expiry is not
checked; everything that proves the token is ours is: the RS256 signature by a published key of
the keyring (PyJWT, never authlib's JOSE), the header `typ`, and `iss` byte for byte. Another
issuer's token, or a forged one, is refused.
"""
from __future__ import annotations

from dataclasses import dataclass

import jwt

from idp import tokens
from idp.conf import idp_settings
from idp.jws import ALGORITHM
from keys import exceptions as keyring_errors
from keys import keyring

MAX_LENGTH = 8192


class InvalidHint(Exception):
    """The id_token_hint was not an id_token this issuer signed."""


@dataclass(frozen=True)
class Hint:
    sub: str
    sid: str | None
    client_id: str | None


def verify_hint(value: object) -> Hint:
    """Return what the id_token `value` says about its session, or raise InvalidHint; expired tokens pass."""
    if not isinstance(value, str) or not value or len(value) > MAX_LENGTH:
        raise InvalidHint("id_token_hint is not a token")
    try:
        header = jwt.get_unverified_header(value)
        kid = header.get("kid")
        if not isinstance(kid, str) or header.get("typ") != tokens.ID_TOKEN_TYP:
            raise InvalidHint("id_token_hint is not an id_token of this issuer")
        key = keyring.verifying_key(kid)
        claims = jwt.decode(
            value, key, algorithms=[ALGORITHM], issuer=idp_settings.ISSUER,
            options={"verify_exp": False, "verify_aud": False, "verify_iat": False, "require": ["iss", "sub", "aud"]},
        )
    except keyring_errors.UnknownKey as error:
        raise InvalidHint("id_token_hint is not signed by this issuer") from error
    except jwt.PyJWTError as error:
        raise InvalidHint(f"id_token_hint is not an id_token of this issuer: {error}") from error
    audience = claims.get("aud")
    client_id = audience if isinstance(audience, str) else None
    sid = claims.get("sid")
    return Hint(sub=str(claims["sub"]), sid=sid if isinstance(sid, str) else None, client_id=client_id)
