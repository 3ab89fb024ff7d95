"""The issuer's admin pages: users, and the login sessions they started (read-only)."""
from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest

from idp.models import LoginSession, User


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
