"""The sign-in form: a username (or email) and a password, and where to go afterwards."""
from __future__ import annotations

from django import forms

from idp.accounts.redirects import NEXT_MAX_LENGTH


class SignInForm(forms.Form):
    # The same bounds as /api/login's body (idp/serializers.py); Django's CharField refuses NUL.
    username = forms.CharField(
        label="Username or email", max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True, "autocapitalize": "none"}),
    )
    password = forms.CharField(
        label="Password", max_length=1024, strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    next = forms.CharField(required=False, max_length=NEXT_MAX_LENGTH, widget=forms.HiddenInput)
