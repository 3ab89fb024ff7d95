"""The issuer's token API: login, refresh, logout, and the caller's identity and user listing.

Login, refresh and logout answer in the body, or in cookie mode with cookies (idp/cookies.py).
"""
from __future__ import annotations

from dataclasses import asdict

from django.contrib.auth import get_user_model
from django.middleware.csrf import rotate_token
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import permissions
from rest_framework.generics import ListAPIView
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from idp import cookies, sessions
from idp.authentication import AccessCookieAuthentication
from idp.conf import idp_settings
from idp.errors import InvalidCredentials, InvalidToken, Refused, TooManyLoginAttempts, bearer_challenge
from idp.exceptions import AccountInactive, CredentialsRefused, LoginThrottled, TokenNotYours, TokenRejected
from idp.login import check_password_login
from idp.schema import ERRORS, CookieModeSerializer, MeSerializer, MessageSerializer, TokenPairSerializer
from idp.serializers import LoginSerializer, RefreshSerializer, UserSerializer
from idp.verification import verify_refresh


class CredentialsView(APIView):
    """Base of the endpoints that take credentials in the body (or a cookie), not in Authorization."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    def get_authenticate_header(self, request: Request) -> str:
        return bearer_challenge()


# The token pair in the body, or in cookie mode a message and the pair in cookies.
TOKENS_OR_COOKIES = PolymorphicProxySerializer(
    component_name="TokensOrCookies",
    serializers=[TokenPairSerializer, CookieModeSerializer],
    resource_type_field_name=None,
)


def _cookie_mode_answer(request: Request, pair: sessions.TokenPair, detail: str, code: str) -> Response:
    """Answer `pair` in cookies, with a message and the access token's lifetime in the body."""
    response = Response(
        {"detail": detail, "code": code, "expires_in": int(idp_settings.ACCESS_TOKEN_LIFETIME.total_seconds())}
    )
    cookies.set_token_cookies(response, request, pair)
    return response


class LoginView(CredentialsView):
    @extend_schema(request=LoginSerializer, responses={200: TOKENS_OR_COOKIES, **ERRORS})
    def post(self, request: Request) -> Response:
        body = LoginSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        cookie_mode = body.validated_data["cookie"]
        if cookie_mode:
            # Before the password is checked: a forged login costs no hash and no throttle count.
            cookies.refuse_cross_site_login(request)
        try:
            user = check_password_login(request, body.validated_data["username"], body.validated_data["password"])
        except LoginThrottled as e:
            raise TooManyLoginAttempts(e.wait) from e
        except CredentialsRefused as e:
            raise InvalidCredentials() from e
        except AccountInactive as e:
            # The right password of an account awaiting activation: only its owner gets here.
            raise Refused(e) from e
        pair = sessions.start_session(user)
        if not cookie_mode:
            return Response(asdict(pair))
        # A new CSRF secret with every sign-in, as django.contrib.auth.login does: a token planted
        # in the browser before it is of no use after.
        rotate_token(request)
        return _cookie_mode_answer(request, pair, "Logged in; the tokens are in cookies.", "logged_in")


class RefreshView(CredentialsView):
    """Rotate the refresh token in the body, or (cookie mode) the refresh cookie when the body has none."""

    @extend_schema(
        request=RefreshSerializer,
        responses={200: TOKENS_OR_COOKIES, **ERRORS},
        description="Cookie mode: without a `refresh` field, the refresh cookie is rotated (X-CSRFToken required).",
    )
    def post(self, request: Request) -> Response:
        presented = cookies.refresh_token(request)
        from_cookie = presented is not None
        if not from_cookie:
            body = RefreshSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            presented = body.validated_data["refresh"]
        try:
            pair = sessions.refresh_session(presented)
        except TokenRejected as e:
            raise InvalidToken(e) from e
        if not from_cookie:
            return Response(asdict(pair))
        return _cookie_mode_answer(request, pair, "Refreshed; the new tokens are in cookies.", "refreshed")


LOGGED_OUT = {"detail": "Logged out.", "code": "logged_out"}


def _by_cookie(request: Request) -> bool:
    """Whether cookie mode's access cookie authenticated `request` (no Bearer header did)."""
    return isinstance(request.successful_authenticator, AccessCookieAuthentication)


class LogoutView(APIView):
    """End the session of the refresh token in the body; the caller must own it.

    In cookie mode the access cookie names the session (its `sid`) and the body is not read: the
    refresh cookie never reaches this path (idp/cookies.py). Both cookies are cleared.
    """

    @extend_schema(
        request=RefreshSerializer,
        responses={200: MessageSerializer, **ERRORS},
        description="Cookie mode: the access cookie (with X-CSRFToken) names the session; no body is read.",
    )
    def post(self, request: Request) -> Response:
        if _by_cookie(request):
            sessions.logout(request.auth)
            response = Response(LOGGED_OUT)
            cookies.clear_token_cookies(response, request)
            return response
        body = RefreshSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            refresh = verify_refresh(body.validated_data["refresh"])
        except TokenRejected as e:
            raise InvalidToken(e) from e
        if refresh["user_id"] != str(request.user.pk):
            raise Refused(TokenNotYours())
        sessions.logout(refresh)
        return Response(LOGGED_OUT)


class LogoutEverywhereView(APIView):
    """End every session of the caller; in cookie mode, clear the token cookies too."""

    @extend_schema(request=None, responses={200: MessageSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        ended = sessions.end_all_sessions(request.user)
        response = Response({"detail": "Logged out everywhere.", "code": "logged_out", "sessions_ended": ended})
        if _by_cookie(request):
            cookies.clear_token_cookies(response, request)
        return response


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
