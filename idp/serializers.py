"""Request bodies of the issuer's endpoints, validated before any credential or token work."""
from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from rest_framework import serializers


def no_control_characters(value: str) -> str:
    """Refuse a value with a control character or a lone surrogate: a validator of DRF and Django form fields alike."""
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
        raise ValidationError("must not contain control characters", code="invalid_input")
    return value


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=254, validators=[no_control_characters])
    password = serializers.CharField(max_length=1024, trim_whitespace=False)
    # Cookie mode (idp/cookies.py): the tokens in HttpOnly cookies instead of the body.
    cookie = serializers.BooleanField(required=False, default=False)


class RefreshSerializer(serializers.Serializer):
    # Its length is checked with the token itself, so that an oversize token is a 401 like any other bad token.
    refresh = serializers.CharField()


class UserSerializer(serializers.Serializer):
    id = serializers.CharField(source="pk")
    username = serializers.CharField(source="get_username")
    email = serializers.EmailField()
    is_staff = serializers.BooleanField()
    is_active = serializers.BooleanField()
    date_joined = serializers.DateTimeField()
