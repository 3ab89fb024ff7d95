"""The outbox in Django's admin: read-only rows by state and kind, and "Retry selected dead rows"."""
from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from idp import outbox
from idp.outbox.models import OutboxMessage, OutboxState


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "state", "attempts", "refusals", "created_at", "available_at", "last_error")
    list_filter = ("state", "kind")
    ordering = ("-id",)
    readonly_fields = [field.name for field in OutboxMessage._meta.fields]
    actions = ["retry"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Viewing only: rows change through the worker, and through the retry action.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("idp.change_outboxmessage")

    @admin.action(description="Retry selected dead rows", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet) -> None:
        ids = list(queryset.filter(state=OutboxState.DEAD).values_list("id", flat=True))
        count = outbox.retry_dead(ids)
        messages.success(request, f"{count} dead row(s) will be delivered again.")
