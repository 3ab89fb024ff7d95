"""Token introspection (RFC 7662): a client asks whether a token is live, and what it carries.

Who may introspect what. RFC 7662 §2.1 requires authorization "to prevent token scanning attacks":
- only confidential clients, authenticated as at /token by their registered secret method; a
  public client, which holds no secret, gets 401 `invalid_client` like a wrong secret;
- a client sees the tokens issued to it, access and refresh tokens alike;
- a client that accepts the shared access-token audience (`accepts_shared_audience`) also sees
  every access token: Kunci mints them all for that audience, the JSON API's and other clients'
  included, and such a client is one of the resource servers they are for (§1), such as the
  "verify" endpoint of a microservice that keeps a cookie session;
- any other token is `{"active": false}`, exactly like a dead one (§2.2: the answer for a token
  "the protected resource is not allowed to introspect"), so the answer says nothing about it.

The answer (§2.2) is `{"active": false}` and nothing else for anything that is not a live token
of this issuer: malformed, another issuer's, expired (at `exp`, without the verifier's leeway),
rotated or revoked, of an ended session or grant, of an inactive user. A live token gets
`active: true` and `scope`, `client_id`, `username`, `token_type`, `exp`, `iat`, `sub`, `aud`,
`iss`, `jti`, `sid`; the JSON API's tokens have no `scope` nor `client_id`.
"""
from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from idp.oauth.endpoints.presented_token import PresentedTokenEndpoint, PresentedTokenView
from idp.oauth.models import Client
from idp.oauth.presented import ACCESS_TOKEN, REFRESH_TOKEN, PresentedToken
from idp.oauth.server import CONFIDENTIAL_AUTH_METHODS

# §2.2 `token_type`: an access token's is RFC 6749 §5.1's, as /token answers it. A refresh token
# has none there; it gets its RFC 7009 §4.1.2 hint name, so that a resource server that checks for
# `Bearer` never takes a refresh token for an access token.
TOKEN_TYPES = {ACCESS_TOKEN: "Bearer", REFRESH_TOKEN: REFRESH_TOKEN}
# The claims the answer repeats, when the token has them (§2.2).
CLAIMS = ("username", "exp", "iat", "sub", "aud", "iss", "jti", "sid")


def may_introspect(client: Client, token: PresentedToken) -> bool:
    """Return whether `client` may see `token`: its own tokens, and every access token if it accepts their audience."""
    # The verifier accepted the access token only for the shared audience (idp/verification.py).
    return token.check_client(client) or (token.kind == ACCESS_TOKEN and client.accepts_shared_audience)


class Introspection(PresentedTokenEndpoint, IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS

    def check_permission(self, token: PresentedToken, client: Client, request: OAuth2Request) -> bool:
        return may_introspect(client, token)

    def introspect_token(self, token: PresentedToken) -> dict[str, Any]:
        # authlib asks only after is_expired() and is_revoked() said no.
        body: dict[str, Any] = {"active": True}
        scope = token.family.scope if token.family is not None else token.claims.get("scope")
        if scope:
            body["scope"] = scope
        if token.client_id is not None:
            body["client_id"] = token.client_id
        body["token_type"] = TOKEN_TYPES[token.kind]
        body.update({name: token.claims[name] for name in CLAIMS if name in token.claims.claims})
        return body


class IntrospectView(PresentedTokenView):
    endpoint_class = Introspection
