"""Log in with a username or an email address."""
from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from idp.exceptions import AccountInactive


class UsernameOrEmailBackend(ModelBackend):
    """Authenticate by username, else by email; every path runs the password hasher.

    The right password of an account awaiting activation raises AccountInactive, so that its
    owner learns what to do; only the password's owner can tell it apart from a refusal.
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Any:
        if username is None or password is None:
            return None
        User = get_user_model()
        user = User._default_manager.filter(**{User.USERNAME_FIELD: username}).first()
        if user is None and "@" in username:
            # Emails are unique regardless of case (idp.models.User), so this names one account.
            user = User._default_manager.get_by_email(username)
        if user is None:
            # Run the default hasher once to reduce the timing difference between an existing
            # and a nonexistent user (as django.contrib.auth.backends.ModelBackend does).
            User().set_password(password)
            return None
        if not user.check_password(password):
            return None
        if self.user_can_authenticate(user):
            return user
        if user.awaiting_activation:
            raise AccountInactive()
        return None
