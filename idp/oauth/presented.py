"""Tokens a client presents back to the issuer, to revoke (RFC 7009) or introspect (RFC 7662) them.

A presented string is a token of these endpoints only if the issuer's one verifier accepts it
(idp/verification.py): an access token (RFC 9068 `at+jwt`) or a refresh token (`refresh+jwt`)
that this issuer signed with a published key, unexpired within the leeway, and for a refresh
token one the issuer recorded. Anything else (malformed, another issuer's, forged, expired, an
id_token) is not one, and each endpoint answers it as its RFC says.

`token_type_hint` is a hint only (RFC 7009 §2.1, RFC 7662 §2.1): the hinted kind is tried first and
the other after it, since both RFCs say to "extend its search across all of its supported token
types" when the hint finds nothing. Any other value is ignored (the server "MAY ignore this
parameter"): the header `typ` tells the kinds apart anyway (RFC 8725 §3.11).

Whose a token is: an access token names its client in `client_id` (RFC 9068 §2.2); a refresh token
belongs to the client of its grant, its family. The JSON API's tokens belong to no client.
"""
from __future__ import annotations

from dataclasses import dataclass

from idp import sessions
from idp.models import Grant
from idp.oauth.id_token_hint import InvalidHint, verify_hint
from idp.oauth.models import Client
from idp.verification import verify_access, verify_refresh
from relying_party.exceptions import TokenRejected
from relying_party.verifier import VerifiedToken

# The token type hints (RFC 7009 §2.1, registered by §4.1.2; RFC 7662 §2.1 uses the same registry).
ACCESS_TOKEN = "access_token"
REFRESH_TOKEN = "refresh_token"
_VERIFIERS = {ACCESS_TOKEN: verify_access, REFRESH_TOKEN: verify_refresh}


@dataclass(frozen=True)
class PresentedToken:
    """A verified access or refresh token of this issuer, as presented at `at` (seconds since the epoch).

    `is_expired` and `is_revoked` are what authlib's IntrospectionEndpoint asks of a token.
    """

    kind: str
    claims: VerifiedToken
    at: float
    # The client it was issued to; None for the JSON API's tokens.
    client_id: str | None
    # A refresh token's grant, ended or not; None for an access token.
    family: Grant | None = None

    def check_client(self, client: Client) -> bool:
        """Return whether the token was issued to `client` (RFC 7009 §2.1)."""
        return self.client_id is not None and self.client_id == client.client_id

    def is_expired(self) -> bool:
        """Return whether `exp` has passed (RFC 7519 §4.1.4), without the verifier's leeway.

        The leeway tolerates the clock skew of the issuer's replicas; an answer that calls a
        token active must not carry an `exp` already past.
        """
        return self.claims.exp <= self.at

    def is_revoked(self) -> bool:
        """Return whether the token stopped working before its expiry: rotated, its session or grant ended, its user inactive."""
        if self.kind == REFRESH_TOKEN:
            return not sessions.refresh_is_live(self.claims["jti"])
        session = sessions.live_session(self.claims)
        return session is None or not session.user.is_active

    def open_grant(self) -> Grant | None:
        """Return the open grant of a client's token, whose ending revokes it; None if it has none."""
        if self.family is not None:
            return self.family if self.family.ended_at is None else None
        return sessions.access_grant(self.claims) if self.client_id is not None else None


def find_token(raw: str, hint: str | None, *, at: float) -> PresentedToken | None:
    """Return the access or refresh token of this issuer that `raw` is at `at`, or None if it is neither."""
    kinds = [REFRESH_TOKEN, ACCESS_TOKEN] if hint == REFRESH_TOKEN else [ACCESS_TOKEN, REFRESH_TOKEN]
    for kind in kinds:
        try:
            claims = _VERIFIERS[kind](raw, now=at)
        except TokenRejected:
            continue
        if kind == ACCESS_TOKEN:
            client_id = claims.get("client_id")
            return PresentedToken(kind, claims, at, client_id if isinstance(client_id, str) else None)
        family = sessions.refresh_family(claims["jti"])
        if family is None:
            # Signed here but never recorded, or flushed after its expiry: not a token the issuer knows.
            return None
        return PresentedToken(kind, claims, at, family.client.client_id if family.client else None, family)
    return None


def is_id_token(raw: str) -> bool:
    """Return whether `raw` is an id_token this issuer signed, expired or not."""
    try:
        verify_hint(raw)
    except InvalidHint:
        return False
    return True
