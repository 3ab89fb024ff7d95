"""The pages' forms: sign in, end one session, change the password, register, ask for a mail
(activation or reset), activate, set a new password.

Their bounds are those of the JSON API's bodies (idp/serializers.py, idp/accounts/api.py); Django's
CharField refuses NUL. The password fields never render their value back.
"""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _

from idp.accounts.redirects import NEXT_MAX_LENGTH
from idp.accounts.registration import NAME_MAX_LENGTH, check_new_password, normalize_email
from idp.serializers import no_control_characters

# The same bound as /api/login's body (idp/serializers.py): no password is set that could not sign in.
PASSWORD_MAX_LENGTH = 1024


def _next_field() -> forms.CharField:
    return forms.CharField(required=False, max_length=NEXT_MAX_LENGTH, widget=forms.HiddenInput)


def _new_password_field(label: str) -> forms.CharField:
    return forms.CharField(
        label=label, max_length=PASSWORD_MAX_LENGTH, strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class SignInForm(forms.Form):
    # The same bounds as /api/login's body (idp/serializers.py); Django's CharField refuses NUL.
    username = forms.CharField(
        label=_("Username or email"), max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True, "autocapitalize": "none"}),
    )
    password = forms.CharField(
        label=_("Password"), max_length=PASSWORD_MAX_LENGTH, strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    next = _next_field()


class EndSessionForm(forms.Form):
    """Which of the user's sessions to end: its `sid` (idp.models.LoginSession)."""

    sid = forms.CharField(max_length=32, widget=forms.HiddenInput)


class AccountPasswordChangeForm(forms.Form):
    """The change-password page's fields: the current password and the new one twice (Django's own fields and messages).

    Checking the current password and setting the new one are `browser.change_password`'s
    (idp/accounts/passwords.py), the same code as /api/password/change: throttled like a sign-in,
    Django's validators, every other session ended.
    """

    old_password = PasswordChangeForm.base_fields["old_password"]
    new_password1 = SetPasswordForm.base_fields["new_password1"]
    new_password2 = SetPasswordForm.base_fields["new_password2"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.max_length = PASSWORD_MAX_LENGTH
            field.validators.append(MaxLengthValidator(PASSWORD_MAX_LENGTH))
            field.widget.attrs["maxlength"] = str(PASSWORD_MAX_LENGTH)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("new_password1") and data.get("new_password1") != data.get("new_password2"):
            self.add_error(
                "new_password2",
                ValidationError(PasswordChangeForm.error_messages["password_mismatch"], code="password_mismatch"),
            )
        return data

    def refuse_old_password(self) -> None:
        self.add_error(
            "old_password",
            ValidationError(PasswordChangeForm.error_messages["password_incorrect"], code="password_incorrect"),
        )


class EmailForm(forms.Form):
    """One address: to resend the activation mail, or to send a reset link."""

    email = forms.EmailField(
        label=_("Email"), max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    next = _next_field()

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data["email"])


class NewPasswordForm(forms.Form):
    """A new password typed twice, checked by Django's validators against `user` (or the fields of a registration)."""

    password = _new_password_field(_("New password"))
    password_again = _new_password_field(_("New password again"))

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        password, again = data.get("password"), data.get("password_again")
        if password is None or again is None:
            return data
        if password != again:
            self.add_error("password_again", ValidationError(_("The two passwords differ."), code="password_mismatch"))
            return data
        try:
            check_new_password(password, **self.password_context(data))
        except ValidationError as e:
            self.add_error("password", e)
        return data

    def password_context(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"email": self.user.email, "user": self.user}


class RegisterForm(NewPasswordForm):
    email = forms.EmailField(
        label=_("Email"), max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    username = forms.CharField(
        label=_("Username (optional)"), required=False, max_length=150, validators=[UnicodeUsernameValidator()],
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    name = forms.CharField(
        label=_("Name (optional)"), required=False, max_length=NAME_MAX_LENGTH, validators=[no_control_characters],
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    password = _new_password_field(_("Password"))
    password_again = _new_password_field(_("Password again"))
    next = _next_field()

    field_order = ["email", "username", "name", "password", "password_again"]

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data["email"])

    def password_context(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"email": data.get("email", ""), "username": data.get("username", ""), "name": data.get("name", "")}


class LinkForm(forms.Form):
    """The one-time link's parts, carried from the page the link opened to its confirming POST."""

    uid = forms.CharField(max_length=64, widget=forms.HiddenInput)
    token = forms.CharField(max_length=64, widget=forms.HiddenInput)
    next = _next_field()


class SetPasswordForm(LinkForm, NewPasswordForm):
    """The reset page's form: the link's parts and the new password."""
