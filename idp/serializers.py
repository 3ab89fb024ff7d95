"""Request bodies of the issuer's endpoints, validated before any credential or token work."""
from __future__ import annotations

import unicodedata

from rest_framework import serializers

# A JWT of Kunci's is about 1 KB; 8 KB leaves room and refuses abuse before any crypto runs.
MAX_TOKEN_LENGTH = 8192


def _no_control_characters(value: str) -> str:
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
        raise serializers.ValidationError("must not contain control characters", code="invalid_input")
    return value


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=254, validators=[_no_control_characters])
    password = serializers.CharField(max_length=1024, trim_whitespace=False)


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField(max_length=MAX_TOKEN_LENGTH)


class UserSerializer(serializers.Serializer):
    id = serializers.CharField(source="pk")
    username = serializers.CharField(source="get_username")
    email = serializers.EmailField()
    is_staff = serializers.BooleanField()
    is_active = serializers.BooleanField()
    date_joined = serializers.DateTimeField()
