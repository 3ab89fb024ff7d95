"""The client registry in Django's admin: list, search, create and edit clients.

A secret is shown once, in a message on the page after the one that created it (adding a
confidential client, switching a public one to confidential, or ticking "issue a new secret").
Neither the secret nor its digest is ever a field, a column or a read-only value.
"""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from idp.oauth.models import Client


class LinesField(forms.Field):
    """A list of strings edited as one per line."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 80})

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:
        return [line.strip() for line in (value or "").splitlines() if line.strip()]


class WordsField(forms.Field):
    """A list of strings edited as one space-separated line (RFC 6749 §3.3's scope syntax)."""

    widget = forms.TextInput(attrs={"size": 60})

    def prepare_value(self, value: Any) -> Any:
        return " ".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:
        return (value or "").split()


class ClientAdminForm(forms.ModelForm):
    redirect_uris = LinesField(required=False, help_text="One per line. Matched exactly, character for character.")
    post_logout_redirect_uris = LinesField(required=False, help_text="One per line. Matched exactly.")
    allowed_scopes = WordsField(required=False, help_text="Separated by spaces, e.g. openid profile email.")
    issue_new_secret = forms.BooleanField(
        required=False, label="Issue a new secret",
        help_text="The current secret stops working at once; the new one is shown once, on the next page.",
    )

    class Meta:
        model = Client
        fields = [
            "name", "redirect_uris", "post_logout_redirect_uris", "backchannel_logout_uri",
            "token_endpoint_auth_method", "allowed_scopes", "trusted", "accepts_shared_audience",
        ]


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    form = ClientAdminForm
    list_display = ["name", "client_id", "token_endpoint_auth_method", "trusted", "accepts_shared_audience", "created_at"]
    list_filter = ["trusted", "token_endpoint_auth_method", "accepts_shared_audience"]
    search_fields = ["name", "client_id"]
    readonly_fields = ["client_id", "created_at"]
    ordering = ["name"]

    def get_fields(self, request: HttpRequest, obj: Client | None = None) -> list[str]:
        fields = list(ClientAdminForm.Meta.fields)
        if obj is None:
            return fields  # a new client gets its first secret without asking
        return ["client_id", *fields, "issue_new_secret", "created_at"]

    def get_form(self, request: HttpRequest, obj: Client | None = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            form.base_fields.pop("issue_new_secret", None)  # each get_form call builds a new class
        return form

    def save_model(self, request: HttpRequest, obj: Client, form: ClientAdminForm, change: bool) -> None:
        secret = None
        if obj.is_public:
            obj.secret_digest = ""  # RFC 6749 §2.1: a public client has no credentials
        elif not obj.secret_digest or form.cleaned_data.get("issue_new_secret"):
            secret = obj.set_new_secret()
        super().save_model(request, obj, form, change)
        if secret is not None:
            # The message travels in the admin's message storage (a signed cookie or the session)
            # only until the next page shows it; Kunci itself keeps only the digest.
            self.message_user(
                request,
                f"New client secret for {obj.name}: {secret} (shown only this once, copy it now: "
                "Kunci keeps only a digest of it)",
                messages.WARNING,
            )
