"""The keyring in the admin: public facts only, read-only.

The sealed private half is never loaded, so no page, form, log line or traceback of the admin can
show it, not even encrypted. Keys are created, rotated and revoked with `manage.py rotate_keys`.
"""
from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from keys.models import SigningKey

# An allow-list: a column added to SigningKey later stays out of the admin until it is named here.
PUBLIC_FIELDS = ("kid", "state", "key_size", "created_at", "activated_at", "retired_at", "revoked_at")


@admin.register(SigningKey)
class SigningKeyAdmin(admin.ModelAdmin):
    list_display = PUBLIC_FIELDS
    list_filter = ("state",)
    search_fields = ("kid",)
    fields = PUBLIC_FIELDS
    readonly_fields = PUBLIC_FIELDS
    actions = None

    def get_queryset(self, request: HttpRequest) -> QuerySet[SigningKey]:
        return super().get_queryset(request).only(*PUBLIC_FIELDS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SigningKey | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: SigningKey | None = None) -> bool:
        return False
