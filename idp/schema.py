"""OpenAPI description of the issuer (drf-spectacular), served at /api/schema."""
from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import serializers

from idp.conf import idp_settings


class AccessTokenScheme(OpenApiAuthenticationExtension):
    target_class = "idp.authentication.AccessTokenAuthentication"
    name = "bearer"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class AccessCookieScheme(OpenApiAuthenticationExtension):
    target_class = "idp.authentication.AccessCookieAuthentication"
    name = "accessCookie"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": idp_settings.ACCESS_COOKIE_NAME}


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class CookieModeSerializer(serializers.Serializer):
    """Cookie mode's answer: the tokens are in Set-Cookie; `expires_in` is the access token's lifetime in seconds."""

    detail = serializers.CharField()
    code = serializers.CharField()
    expires_in = serializers.IntegerField()


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()


class MessageSerializer(ErrorSerializer):
    sessions_ended = serializers.IntegerField(required=False)


class MeSerializer(serializers.Serializer):
    sub = serializers.CharField()
    user_id = serializers.CharField()
    username = serializers.CharField()
    email = serializers.CharField()
    is_staff = serializers.BooleanField()
    sid = serializers.CharField()
    iss = serializers.CharField()
    aud = serializers.CharField()
    exp = serializers.IntegerField()
    kid = serializers.CharField()


ERRORS = {status: ErrorSerializer for status in (400, 401, 403, 405, 413, 415, 429)}
