"""Public metadata: the JWK Set (RFC 7517) and the discovery document (OpenID Connect Discovery 1.0)."""
from __future__ import annotations

import hashlib
import json

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from idp.conf import idp_settings
from idp.jws import ALGORITHM
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


class OpenIDConfigurationView(PublicMetadataView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        issuer = idp_settings.ISSUER
        return Response(
            {
                "issuer": issuer,
                "jwks_uri": f"{issuer}/.well-known/jwks.json",
                "token_endpoint": f"{issuer}/api/login",
                "refresh_endpoint": f"{issuer}/api/login/refresh",
                "logout_endpoint": f"{issuer}/api/logout",
                "userinfo_endpoint": f"{issuer}/api/me",
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": [ALGORITHM],
                "access_token_signing_alg_values_supported": [ALGORITHM],
                "token_endpoint_auth_methods_supported": ["none"],
                "claims_supported": [
                    "iss", "aud", "sub", "exp", "iat", "jti", "sid", "user_id", "username", "email",
                ],
            },
            headers={"Cache-Control": f"public, max-age={keys_settings.JWKS_MAX_AGE}"},
        )
