"""Public metadata: the JWK Set (RFC 7517) and the discovery document (OpenID Connect Discovery 1.0)."""
from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from idp.conf import idp_settings
from idp.jws import ALGORITHM
from idp.oauth import pkce
from idp.oauth.endpoints.authorize import supported_prompt_values
from idp.oauth.endpoints.introspect import Introspection
from idp.oauth.endpoints.revoke import Revocation
from idp.oauth.server import AUTH_METHODS
from keys import keyring
from keys.conf import keys_settings


class PublicMetadataView(APIView):
    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    def perform_content_negotiation(self, request: Request, force: bool = False):
        # Metadata has one representation; a client asking for application/jwk-set+json (RFC
        # 7517 §8.5) or anything else gets it rather than a 406.
        return super().perform_content_negotiation(request, force=True)


class JWKSView(PublicMetadataView):
    """Serve the published public keys with Cache-Control max-age, a strong ETag, and 304s."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 304: None})
    def get(self, request: Request) -> HttpResponse:
        # From memory, so the public keys stay up through a database outage.
        body = json.dumps(keyring.served_jwks(), separators=(",", ":"), sort_keys=True).encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {
            "Cache-Control": f"public, max-age={keys_settings.JWKS_MAX_AGE}",
            "ETag": etag,
        }
        if _etag_matches(request.headers.get("If-None-Match", ""), etag):
            return HttpResponse(status=304, headers=headers)
        return HttpResponse(body, content_type="application/json", headers=headers)


def _etag_matches(if_none_match: str, etag: str) -> bool:
    # RFC 9110 §13.1.2: If-None-Match uses the weak comparison, so W/ prefixes are ignored.
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


# OpenID Connect Core §5.4 (profile, email) and §2, §5.1: what the id_token and /userinfo carry.
SCOPES_SUPPORTED = ["openid", "profile", "email"]
CLAIMS_SUPPORTED = [
    "iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "sid", "at_hash",
    "name", "given_name", "family_name", "preferred_username", "updated_at",
    "email", "email_verified",
]


def _url(name: str) -> str:
    # The issuer's configured URL, not the Host header: discovery must name the issuer exactly
    # (OpenID Connect Discovery 1.0 §4.3), whatever host a proxy forwarded.
    return idp_settings.ISSUER.rstrip("/") + reverse(name)


class OpenIDConfigurationView(PublicMetadataView):
    """OpenID Connect Discovery 1.0 §3, RFC 8414 §2: every REQUIRED field, and only what is true."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        return Response(
            {
                "issuer": idp_settings.ISSUER,
                "authorization_endpoint": _url("authorize"),
                "token_endpoint": _url("token"),
                "userinfo_endpoint": _url("userinfo"),
                "jwks_uri": _url("jwks"),
                # RP-Initiated Logout 1.0 §2.1.
                "end_session_endpoint": _url("end-session"),
                # Back-Channel Logout 1.0 §2.1: logout tokens are posted to clients' registered
                # backchannel_logout_uri, and carry the `sid` that the id_token carries too.
                "backchannel_logout_supported": True,
                "backchannel_logout_session_supported": True,
                "scopes_supported": SCOPES_SUPPORTED,
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": [ALGORITHM],
                "token_endpoint_auth_methods_supported": AUTH_METHODS,
                # RFC 8414 §2: RFC 7009 revocation and RFC 7662 introspection.
                "revocation_endpoint": _url("revoke"),
                "revocation_endpoint_auth_methods_supported": Revocation.CLIENT_AUTH_METHODS,
                "introspection_endpoint": _url("introspect"),
                "introspection_endpoint_auth_methods_supported": Introspection.CLIENT_AUTH_METHODS,
                "claims_supported": CLAIMS_SUPPORTED,
                # RFC 8414 §2 (RFC 7636): S256 only.
                "code_challenge_methods_supported": list(pkce.METHODS),
                # RFC 9207 §3.
                "authorization_response_iss_parameter_supported": True,
                "request_parameter_supported": False,
                "request_uri_parameter_supported": False,
                "claims_parameter_supported": False,
                # OIDC Core §3.1.2.1; `create` while registration is open (Prompt Create 1.0 §4.2).
                "prompt_values_supported": supported_prompt_values(),
                # OpenID Connect Discovery 1.0 §3: the languages of the pages, for `ui_locales`.
                "ui_locales_supported": [code for code, _name in settings.LANGUAGES],
            },
            headers={"Cache-Control": f"public, max-age={keys_settings.JWKS_MAX_AGE}"},
        )
