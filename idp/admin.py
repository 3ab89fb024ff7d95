"""The issuer's admin pages: users, and the login sessions they started (read-only).

The admin's sign-in form is under the same failed-login throttle as /api/login, so that it is
no side door for guessing passwords.
"""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from idp.models import LoginSession, User
from idp.oauth import admin as oauth_admin  # noqa: F401  (registers the client registry)
from idp.views import login_throttle


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's sign-in form; each refused password counts against the login throttle."""

    def clean(self) -> dict[str, Any]:
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if not username or not password:
            return super().clean()  # "this field is required": no password is checked
        ip = self.request.META.get("REMOTE_ADDR", "") if self.request else ""
        with login_throttle().attempt(username, ip) as attempt:
            if attempt.wait is not None:
                # Refused before the password hasher runs, like /api/login's 429.
                raise ValidationError(
                    "Too many failed sign-ins. Try again in %(wait)d seconds.",
                    code="too_many_attempts",
                    params={"wait": attempt.wait},
                )
            try:
                cleaned = super().clean()
            except ValidationError:
                # A wrong password counts; a right one refused for not being staff does not.
                if self.get_user() is None:
                    attempt.refused()
                else:
                    attempt.succeeded()
                raise
            attempt.succeeded()
            return cleaned


admin.site.login_form = ThrottledAdminAuthenticationForm
admin.site.site_header = admin.site.site_title = "Kunci administration"


class UserCreationForm(auth_forms.AdminUserCreationForm):
    """Django's admin creation form over Kunci's user model, asking for the email too."""

    class Meta(auth_forms.AdminUserCreationForm.Meta):
        model = User
        fields = ("username", "email")


class UserChangeForm(auth_forms.UserChangeForm):
    class Meta(auth_forms.UserChangeForm.Meta):
        model = User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "email", "usable_password", "password1", "password2")}),
    )
    search_fields = ("username", "email")


@admin.register(LoginSession)
class LoginSessionAdmin(admin.ModelAdmin):
    """Sessions are listed, never edited here: a session ends only through the session-ending code."""

    list_display = ("sid", "user", "created_at", "expires_at", "ended_at", "end_reason")
    list_filter = ("end_reason",)
    list_select_related = ("user",)
    search_fields = ("sid", "user__username", "user__email")
    ordering = ("-created_at",)
    fields = list_display
    readonly_fields = list_display
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: LoginSession | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: LoginSession | None = None) -> bool:
        return False
