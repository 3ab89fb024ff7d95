"""The issuer's admin pages: users, and the OP sessions they started with their grants.

Sessions are read-only, but staff with the change permission can end them ("End selected
sessions"), through the one session-ending function. The admin's sign-in form checks passwords
through the same code path as /api/login and the sign-in page (idp/login.py), throttle included,
so that it is no side door for guessing passwords.
"""
from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from idp import sessions
from idp.exceptions import AccountInactive, CredentialsRefused, LoginThrottled
from idp.hashers import PasswordHashingBusy
from idp.login import check_password_login
from idp.models import Grant, LoginSession, SessionEnd, User
from idp.oauth import admin as oauth_admin  # noqa: F401  (registers the client registry)
from idp.outbox import admin as outbox_admin  # noqa: F401  (registers the outbox)


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's sign-in form; each refused password counts against the login throttle."""

    def clean(self) -> dict[str, Any]:
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if not username or not password:
            return super().clean()  # "this field is required": no password is checked
        try:
            self.user_cache = check_password_login(self.request, username, password)
        except LoginThrottled as e:
            # Refused before the password hasher runs, like /api/login's 429.
            raise ValidationError(
                "Too many failed sign-ins. Try again in %(wait)d seconds.",
                code="too_many_attempts",
                params={"wait": e.wait},
            ) from e
        except CredentialsRefused as e:
            raise self.get_invalid_login_error() from e
        except AccountInactive as e:
            raise ValidationError(e.description, code=e.code) from e
        except PasswordHashingBusy as e:
            raise ValidationError("Too many sign-ins in progress. Try again shortly.", code="server_busy") from e
        # A right password refused for not being staff does not count as a failure: it did not.
        self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


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
    list_display = (*DjangoUserAdmin.list_display, "is_active", "awaiting_activation")
    list_filter = (*DjangoUserAdmin.list_filter, "awaiting_activation")


class GrantInline(admin.TabularInline):
    model = Grant
    fields = ("client", "scope", "created_at", "ended_at", "end_reason")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: LoginSession | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: LoginSession | None = None) -> bool:
        return False


@admin.register(LoginSession)
class LoginSessionAdmin(admin.ModelAdmin):
    """Sessions are listed, never edited here: a session ends only through the session-ending function."""

    list_display = ("sid", "user", "origin", "created_at", "auth_time", "expires_at", "ended_at", "end_reason")
    list_filter = ("origin", "end_reason")
    list_select_related = ("user",)
    search_fields = ("sid", "user__username", "user__email")
    ordering = ("-created_at",)
    fields = list_display
    readonly_fields = list_display
    inlines = [GrantInline]
    actions = ["end_sessions"]

    @admin.action(description="End selected sessions", permissions=["end"])
    def end_sessions(self, request: HttpRequest, queryset: QuerySet[LoginSession]) -> None:
        ended = sum(sessions.end_session(session, SessionEnd.ADMIN) for session in queryset.filter(ended_at__isnull=True))
        self.message_user(request, f"{ended} session(s) ended.", messages.SUCCESS)

    def has_end_permission(self, request: HttpRequest) -> bool:
        """Ending sessions takes staff with the change permission on sessions (superusers have it)."""
        opts = self.opts
        return request.user.is_active and request.user.is_staff and request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: LoginSession | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: LoginSession | None = None) -> bool:
        return False
