"""authlib as plumbing: client authentication at the token endpoint (RFC 6749 §2.3.1), over Kunci's Client.

Only authlib's client authentication runs here. The grants themselves are Kunci's
(idp/oauth/endpoints/): authlib's grant classes store tokens through a token model and mint them
with a generator that cannot see the OP session, default PKCE to `plain`, and turn errors into
responses inside their own flow, where ending a grant on a code replay would be rolled back with
the request's transaction (see idp/oauth/codes.py). Codes, PKCE, sessions and tokens are Kunci's.
"""
from __future__ import annotations

from authlib.integrations.django_oauth2 import AuthorizationServer
from authlib.integrations.django_oauth2.requests import DjangoOAuth2Payload, DjangoOAuth2Request
from authlib.oauth2.rfc6749 import InvalidClientError, OAuth2Request
from django.http import HttpRequest

from idp.conf import idp_settings
from idp.oauth.models import AuthMethod, Client

# RFC 7591 §2 `token_endpoint_auth_method` values, in the order authlib tries them.
AUTH_METHODS = [AuthMethod.CLIENT_SECRET_BASIC.value, AuthMethod.CLIENT_SECRET_POST.value, AuthMethod.NONE.value]


class ClientAuthenticationFailed(Exception):
    """The client could not be authenticated: answer `invalid_client` (RFC 6749 §5.2)."""

    def __init__(self, description: str, *, basic: bool) -> None:
        super().__init__(description)
        self.description = description
        # RFC 6749 §5.2: a client that tried HTTP Basic gets 401 with a matching WWW-Authenticate.
        self.basic = basic


class _Server(AuthorizationServer):
    def __init__(self) -> None:
        super().__init__(Client, None)

    def query_client(self, client_id: str) -> Client | None:
        if not isinstance(client_id, str) or not client_id or len(client_id) > 64:
            return None
        return Client.objects.filter(client_id=client_id).first()

    def create_oauth2_request(self, request: HttpRequest) -> DjangoOAuth2Request:
        # authlib refuses a request whose URI is not https. TLS usually ends at a proxy, so the
        # URI Django sees says nothing; the issuer's configured URL is what clients reach (https
        # outside demo mode, a loopback address in it).
        return _IssuerRequest(request)


class _IssuerRequest(DjangoOAuth2Request):
    def __init__(self, request: HttpRequest) -> None:
        OAuth2Request.__init__(self, method=request.method, uri=idp_settings.ISSUER + request.path, headers=request.headers)
        self.payload = DjangoOAuth2Payload(request)
        self._request = request


_server = _Server()


def authenticate_client(request: HttpRequest) -> Client:
    """Return the client that authenticated `request` by its registered method, or raise ClientAuthenticationFailed."""
    basic = request.headers.get("Authorization", "").lower().startswith("basic ")
    # RFC 6749 §2.3.1: client credentials "MUST NOT be included in the request URI". A secret in
    # the query string is refused outright, whatever else the request carries.
    if "client_secret" in request.GET:
        raise ClientAuthenticationFailed("client_secret must not be sent in the request URI (RFC 6749 §2.3.1)", basic=basic)
    try:
        return _server.authenticate_client(_server.create_oauth2_request(request), AUTH_METHODS, "token")
    except InvalidClientError as error:
        raise ClientAuthenticationFailed("Client authentication failed", basic=basic) from error
