"""authlib as plumbing: client authentication (RFC 6749 §2.3.1) over Kunci's Client, and the
endpoint classes of token revocation (RFC 7009) and introspection (RFC 7662) on top of it.

authlib's grants do not run here. They are Kunci's (idp/oauth/endpoints/): authlib's grant classes
store tokens through a token model and mint them with a generator that cannot see the OP session,
default PKCE to `plain`, and turn errors into responses inside their own flow, where ending a grant
on a code replay would be rolled back with the request's transaction (see idp/oauth/codes.py).
Codes, PKCE, sessions and tokens are Kunci's.

Every endpoint that authenticates clients does it through `_Server.authenticate_client`, so /token,
/revoke and /introspect apply one rule: each client by its registered method only, and never a
secret in the request URI.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from authlib.integrations.django_oauth2 import AuthorizationServer
from authlib.integrations.django_oauth2.requests import DjangoOAuth2Payload, DjangoOAuth2Request
from authlib.oauth2.rfc6749 import InvalidClientError, OAuth2Request
from authlib.oauth2.rfc6749.endpoint import Endpoint
from django.http import HttpRequest

from idp.conf import idp_settings
from idp.oauth.models import AuthMethod, Client

# RFC 7591 §2 `token_endpoint_auth_method` values, in the order authlib tries them.
AUTH_METHODS = [AuthMethod.CLIENT_SECRET_BASIC.value, AuthMethod.CLIENT_SECRET_POST.value, AuthMethod.NONE.value]
# The methods of confidential clients (RFC 6749 §2.1), which hold a secret.
CONFIDENTIAL_AUTH_METHODS = AUTH_METHODS[:2]

E = TypeVar("E", bound=Endpoint)


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

    def authenticate_client(self, request: OAuth2Request, methods: Sequence[str], endpoint: str = "token") -> Client:
        """Return the client that authenticated `request` by one of `methods`, or raise ClientAuthenticationFailed."""
        basic = request.headers.get("Authorization", "").lower().startswith("basic ")
        # RFC 6749 §2.3.1: client credentials "MUST NOT be included in the request URI". A secret in
        # the query string is refused outright, whatever else the request carries.
        if "client_secret" in request.args:
            raise ClientAuthenticationFailed("client_secret must not be sent in the request URI (RFC 6749 §2.3.1)", basic=basic)
        try:
            return super().authenticate_client(request, list(methods), endpoint)
        except InvalidClientError as error:
            raise ClientAuthenticationFailed("Client authentication failed", basic=basic) from error


class _IssuerRequest(DjangoOAuth2Request):
    def __init__(self, request: HttpRequest) -> None:
        OAuth2Request.__init__(self, method=request.method, uri=idp_settings.ISSUER + request.path, headers=request.headers)
        self.payload = DjangoOAuth2Payload(request)
        self._request = request


_server = _Server()


def authenticate_client(request: HttpRequest) -> Client:
    """Return the client that authenticated `request` to the token endpoint, or raise ClientAuthenticationFailed."""
    return _server.authenticate_client(_server.create_oauth2_request(request), AUTH_METHODS, "token")


def endpoint(endpoint_class: type[E]) -> E:
    """Return authlib's `endpoint_class` bound to Kunci's server: it authenticates clients as /token does."""
    return endpoint_class(_server)
