"""The JSON API of accounts: register, resend the activation mail, request a password reset, change the password.

The three requests that send mail answer 202 with the same body whatever the address (no
enumeration, see idp/accounts/registration.py) and are throttled per address and per client IP
(429 with Retry-After). Registration and its resend answer 404, like an unknown path, while
KUNCI_IDP REGISTRATION is off. Bodies are JSON or forms; errors are `{detail, code}` (idp/errors.py),
with `fields` naming every refused field, each password validator's failure among them.

The answers are English, as all of the JSON API's (settings/languages.py); the mail they cause is
for a person, so it speaks the caller's language: the language cookie, else Accept-Language.
"""
from __future__ import annotations

from typing import Any

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils import translation
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.exceptions import ErrorDetail
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from idp.accounts.limits import count_account_request
from idp.accounts.passwords import change_password, request_password_reset
from idp.accounts.registration import (
    NAME_MAX_LENGTH,
    Registration,
    check_new_password,
    normalize_email,
    register,
    registration_open,
    resend_activation,
)
from idp.errors import TooManyLoginAttempts, TooManyRequests
from idp.exceptions import AccountRequestsThrottled, LoginThrottled, PasswordRefused
from idp.schema import ERRORS, ErrorSerializer, MessageSerializer
from idp.serializers import no_control_characters
from idp.views import CredentialsView

REGISTRATION_REQUESTED = {
    "detail": "Check this address's mailbox: a message there says how to continue.",
    "code": "registration_requested",
}
ACTIVATION_REQUESTED = {
    "detail": "If an account at this address awaits activation, a new activation link was sent to it.",
    "code": "activation_requested",
}
PASSWORD_RESET_REQUESTED = {
    "detail": "If an account uses this address, a link to set a new password was sent to it.",
    "code": "password_reset_requested",
}


def password_errors(error: DjangoValidationError) -> list[ErrorDetail]:
    """Return each message of Django's password validators, with its code (password_too_short, ...)."""
    return [ErrorDetail(message, code=item.code or "invalid_password") for item in error.error_list for message in item.messages]


class EmailSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class RegisterSerializer(EmailSerializer):
    password = serializers.CharField(max_length=1024, trim_whitespace=False)
    username = serializers.CharField(
        required=False, allow_blank=True, max_length=150, validators=[UnicodeUsernameValidator()],
    )
    name = serializers.CharField(
        required=False, allow_blank=True, max_length=NAME_MAX_LENGTH, validators=[no_control_characters],
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        try:
            check_new_password(
                data["password"], email=data["email"], username=data.get("username", ""), name=data.get("name", ""),
            )
        except DjangoValidationError as e:
            raise serializers.ValidationError({"password": password_errors(e)}) from e
        return data


class PasswordChangeSerializer(serializers.Serializer):
    old_password = serializers.CharField(max_length=1024, trim_whitespace=False)
    new_password = serializers.CharField(max_length=1024, trim_whitespace=False)


class RegistrationView(CredentialsView):
    """Answers 404 for every method while registration is off, as if the path did not exist."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if not registration_open():
            raise Http404
        super().initial(request, *args, **kwargs)


def _throttled(request: Request, email: str) -> None:
    try:
        count_account_request(request, email)
    except AccountRequestsThrottled as e:
        raise TooManyRequests(e) from e


def _in_callers_language(request: Request) -> translation.override:
    """Queue the mail a request causes in its caller's language, not the API's English."""
    return translation.override(translation.get_language_from_request(request))


class RegisterView(RegistrationView):
    """Register an account that stays inactive until the emailed link activates it; 202 for every address."""

    @extend_schema(request=RegisterSerializer, responses={202: MessageSerializer, 404: ErrorSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        body = RegisterSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        email = normalize_email(data["email"])
        _throttled(request, email)
        with _in_callers_language(request):
            register(Registration(
                email=email, password=data["password"], username=data.get("username", ""), name=data.get("name", ""),
            ))
        return Response(REGISTRATION_REQUESTED, status=status.HTTP_202_ACCEPTED)


class MailingRequestView(CredentialsView):
    """A request for a mail about `email`: validated, throttled, then `act`ed on; the same 202 `answer` for every address."""

    answer: dict[str, str]

    def act(self, email: str) -> None:
        raise NotImplementedError

    def post(self, request: Request) -> Response:
        body = EmailSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        email = normalize_email(body.validated_data["email"])
        _throttled(request, email)
        with _in_callers_language(request):
            self.act(email)
        return Response(self.answer, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(post=extend_schema(request=EmailSerializer, responses={202: MessageSerializer, 404: ErrorSerializer, **ERRORS}))
class ResendActivationView(RegistrationView, MailingRequestView):
    """Mail a new activation link if the address awaits activation; 202 for every address."""

    answer = ACTIVATION_REQUESTED

    def act(self, email: str) -> None:
        resend_activation(email)


@extend_schema_view(post=extend_schema(request=EmailSerializer, responses={202: MessageSerializer, **ERRORS}))
class PasswordResetView(MailingRequestView):
    """Mail a link to set a new password if the address has an active account; 202 for every address."""

    answer = PASSWORD_RESET_REQUESTED

    def act(self, email: str) -> None:
        request_password_reset(email)


class PasswordChangeView(APIView):
    """Change the caller's password; every other session of theirs ends, the access token's own stays."""

    @extend_schema(request=PasswordChangeSerializer, responses={200: MessageSerializer, **ERRORS})
    def post(self, request: Request) -> Response:
        body = PasswordChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            ended = change_password(
                request, request.user, data["old_password"], data["new_password"], keep_sid=request.auth["sid"],
            )
        except LoginThrottled as e:
            raise TooManyLoginAttempts(e.wait) from e
        except PasswordRefused as e:
            raise serializers.ValidationError({"old_password": [ErrorDetail(e.description, code=e.code)]}) from e
        except DjangoValidationError as e:
            raise serializers.ValidationError({"new_password": password_errors(e)}) from e
        return Response({"detail": "Password changed.", "code": "password_changed", "sessions_ended": ended})
