"""Passwords their owners set: a reset through an emailed link, and a change that knows the old one.

A reset proves only that someone reads the account's mail, so every session of the user ends
(`end_all_sessions`, reason password_reset): whoever had the old password is signed out of every
app, back-channel logout included. A change is made from a signed-in session that just proved the
old password, so that session stays and every other ends (password_changed). Both validate the new
password with Django's validators, hash it before the transaction (a hash holds no lock), and save
it and end the sessions in one transaction.

Requesting a reset answers alike for every address (the mail goes only to an active account with a
usable password); the throttle of emailing requests (idp/accounts/limits.py) is the caller's.
"""
from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.http import HttpRequest

from idp import sessions
from idp.accounts import links
from idp.accounts.mail import enqueue_mail
from idp.accounts.registration import check_new_password
from idp.exceptions import LinkInvalid, LoginThrottled, PasswordRefused
from idp.login import login_throttle
from idp.models import SessionEnd


def request_password_reset(email: str) -> None:
    """Queue a password-reset mail if `email` names an active account with a usable password; do nothing otherwise."""
    user = get_user_model()._default_manager.get_by_email(email)
    if user is not None and user.is_active and user.has_usable_password():
        enqueue_mail("password_reset", user=user)


def user_of_reset_link(uid: object, token: object) -> Any:
    """Return the active user a reset link names; raise LinkInvalid if it is not (or no longer) good."""
    user = links.user_of_link(links.PASSWORD_RESET, uid, token)
    if user is None or not user.is_active:
        raise LinkInvalid()
    return user


def reset_password(uid: object, token: object, new_password: str) -> Any:
    """Set `new_password` for the user of a reset link, end every session of theirs, and return the user.

    Raises LinkInvalid, or django.core.exceptions.ValidationError naming what the validators refuse.
    """
    user = user_of_reset_link(uid, token)
    check_new_password(new_password, email=user.email, user=user)
    hashed = make_password(new_password)
    with transaction.atomic():
        # Locked and checked again: of two requests with one link, the second finds it used.
        locked = get_user_model()._default_manager.select_for_update().get(pk=user.pk)
        if not locked.is_active or not links.PASSWORD_RESET.tokens.check_token(locked, token):
            raise LinkInvalid()
        _set_password(locked, hashed, SessionEnd.PASSWORD_RESET)
    return locked


def change_password(
    request: HttpRequest | None, user: Any, old_password: str, new_password: str, *, keep_sid: str | None
) -> int:
    """Change `user`'s password from `old_password`; end every session but `keep_sid`; return how many ended.

    The old password is checked like a sign-in: a wrong one counts against the login throttle
    (idp/throttling.py), which raises LoginThrottled when over its limits; a wrong one raises
    PasswordRefused; a new one the validators refuse, django.core.exceptions.ValidationError.
    A browser caller keeps its Django session with `update_session_auth_hash` afterwards
    (idp/accounts/browser.py `change_password` does).
    """
    ip = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    with login_throttle().attempt(user.get_username(), ip) as attempt:
        if attempt.wait is not None:
            raise LoginThrottled(attempt.wait)
        if not user.check_password(old_password):
            attempt.refused()
            raise PasswordRefused()
        attempt.succeeded()
    check_new_password(new_password, email=user.email, user=user)
    hashed = make_password(new_password)
    with transaction.atomic():
        return _set_password(user, hashed, SessionEnd.PASSWORD_CHANGED, keep_sid=keep_sid)


def _set_password(user: Any, hashed: str, reason: SessionEnd, *, keep_sid: str | None = None) -> int:
    user.password = hashed
    user.save()
    return sessions.end_all_sessions(user, reason, keep_sid=keep_sid)
