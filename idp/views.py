"""The issuer's token API: login, refresh, logout, and the caller's identity and user listing."""
from __future__ import annotations

from dataclasses import asdict

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.generics import ListAPIView
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from idp import sessions
from idp.errors import InvalidCredentials, InvalidToken, Refused, TooManyLoginAttempts, bearer_challenge
from idp.exceptions import CredentialsRefused, LoginThrottled, TokenNotYours, TokenRejected
from idp.login import check_password_login
from idp.schema import ERRORS, MeSerializer, MessageSerializer, TokenPairSerializer
from idp.serializers import LoginSerializer, RefreshSerializer, UserSerializer
from idp.verification import verify_refresh


class CredentialsView(APIView):
    """Base of the endpoints that take credentials in the body, not in Authorization."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    def get_authenticate_header(self, request: Request) -> str:
        return bearer_challenge()


class LoginView(CredentialsView):
    @extend_schema(request=LoginSerializer, responses={200: TokenPairSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        body = LoginSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            user = check_password_login(request, body.validated_data["username"], body.validated_data["password"])
        except LoginThrottled as e:
            raise TooManyLoginAttempts(e.wait) from e
        except CredentialsRefused as e:
            raise InvalidCredentials() from e
        return Response(asdict(sessions.start_session(user)))


class RefreshView(CredentialsView):
    @extend_schema(request=RefreshSerializer, responses={200: TokenPairSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        body = RefreshSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            pair = sessions.refresh_session(body.validated_data["refresh"])
        except TokenRejected as e:
            raise InvalidToken(e) from e
        return Response(asdict(pair))


class LogoutView(APIView):
    """End the session of the refresh token in the body; the caller must own it."""

    @extend_schema(request=RefreshSerializer, responses={200: MessageSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        body = RefreshSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            refresh = verify_refresh(body.validated_data["refresh"])
        except TokenRejected as e:
            raise InvalidToken(e) from e
        if refresh["user_id"] != str(request.user.pk):
            raise Refused(TokenNotYours())
        sessions.logout(refresh)
        return Response({"detail": "Logged out.", "code": "logged_out"})


class LogoutEverywhereView(APIView):
    """End every session of the caller."""

    @extend_schema(request=None, responses={200: MessageSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        ended = sessions.end_all_sessions(request.user)
        return Response({"detail": "Logged out everywhere.", "code": "logged_out", "sessions_ended": ended})


class MeView(APIView):
    @extend_schema(responses={200: MeSerializer, **ERRORS})
    def get(self, request: Request) -> Response:
        claims = request.auth.claims
        return Response(
            {
                "sub": claims["sub"],
                "user_id": claims["user_id"],
                "username": request.user.get_username(),
                "email": request.user.email,
                "is_staff": request.user.is_staff,
                "sid": claims["sid"],
                "iss": claims["iss"],
                "aud": claims["aud"],
                "exp": claims["exp"],
                "kid": request.auth.kid,
            }
        )


class UserPagination(LimitOffsetPagination):
    default_limit = 100
    max_limit = 1000


class UserListView(ListAPIView):
    """List users, to staff only: an identity provider does not leak its user list."""

    permission_classes = [permissions.IsAdminUser]
    serializer_class = UserSerializer
    pagination_class = UserPagination

    def get_queryset(self):
        return get_user_model()._default_manager.order_by("pk")
