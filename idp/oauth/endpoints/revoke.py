"""Token revocation (RFC 7009): a client tells the issuer it no longer needs a token.

- **Who.** Every client, authenticated as at /token: confidential clients by their registered
  secret method, public clients (RFC 6749 §2.1) by `client_id` alone (`none`). §2.1 validates the
  credentials "in case of a confidential client"; a public client (a single-page app, or a native
  app, whose secret could not stay secret: RFC 8252 §8.5) names itself and may revoke only its own
  tokens. Whoever holds one of its tokens could use it anyway; revoking only takes power away.
- **What a token revokes: its grant**, through `end_grant` (SessionEnd.REVOKED); the session and
  the user's other clients live on. A refresh token ends its family and, as §2.1 says the server
  SHOULD, every access token of the same grant: the issuer refuses them at once, and `end_grant`
  is where back-channel logout tells the clients. An access token ends its grant too (§2.1: the server "MAY revoke the
  respective refresh token as well"): Kunci's access tokens are self-contained JWTs, so ending
  what issued them is the only way to make one stop working before it expires (§3).
- **Whose.** A token of this issuer that was issued to another client, or to the JSON API, is
  refused with `invalid_grant` and nothing is revoked: §2.1, the server "verifies whether the
  token was issued to the client making the revocation request. If this validation fails, the
  request is refused"; RFC 6749 §5.2 names a grant "issued to another client" `invalid_grant`.
- **Invalid tokens** (expired, malformed, unknown, another issuer's) get 200 like a revoked one:
  "invalid tokens do not cause an error response" (§2.2). So does a token already revoked.
- **`unsupported_token_type`** (§2.2.1) only for a kind of token Kunci issues and does not revoke:
  an id_token (the end-session endpoint ends a session). An unknown `token_type_hint` is ignored.

The answer is 200 with an empty JSON object: "the content of the response body is ignored by the
client" (§2.2). Browsers may call it cross-origin from a client's web origin (§2.3, idp/cors.py).
"""
from __future__ import annotations

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc7009 import RevocationEndpoint

from idp import sessions
from idp.models import SessionEnd
from idp.oauth.endpoints.presented_token import PresentedTokenEndpoint, PresentedTokenView, TokenRequestRefused
from idp.oauth.models import Client
from idp.oauth.presented import PresentedToken, is_id_token
from idp.oauth.server import AUTH_METHODS


class TokenOfAnotherClient(TokenRequestRefused):
    error = "invalid_grant"
    code = "token_wrong_client"
    description = "The token was issued to another client"


class IdTokenNotRevocable(TokenRequestRefused):
    error = "unsupported_token_type"
    code = "id_token_not_revocable"
    description = "An id_token cannot be revoked; the end-session endpoint ends its session"


class Revocation(PresentedTokenEndpoint, RevocationEndpoint):
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> PresentedToken | None:
        token = super().query_token(token_string, token_type_hint)
        if token is None and is_id_token(token_string):
            raise IdTokenNotRevocable()
        return token

    def authenticate_token(self, request: OAuth2Request, client: Client) -> PresentedToken | None:
        """Return the token the request presents, None if it is invalid, or refuse another client's (§2.1)."""
        # authlib's own refuses with a bare invalid_grant, without an error_description.
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        if token is not None and not token.check_client(client):
            raise TokenOfAnotherClient()
        return token

    def revoke_token(self, token: PresentedToken, request: OAuth2Request) -> None:
        grant = token.open_grant()
        if grant is not None:
            sessions.end_grant(grant, SessionEnd.REVOKED)


class RevokeView(PresentedTokenView):
    endpoint_class = Revocation
