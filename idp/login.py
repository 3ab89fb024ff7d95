"""Password sign-in: one code path for /api/login, the sign-in page and the admin's sign-in form.

Each checks a password the same way: the failed-login throttle counts the attempt before the
hasher runs (idp/throttling.py), the backend hashes even for an unknown user (idp/backends.py),
and every hash runs in a bounded slot (idp/hashers.py). Only a refused credential counts against
the throttle; each caller renders the outcome its own way.
"""
from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.core.cache import caches
from django.http import HttpRequest

from idp.conf import idp_settings
from idp.exceptions import CredentialsRefused, LoginThrottled
from idp.throttling import LoginThrottle


def login_throttle() -> LoginThrottle:
    """Return the login throttle, configured from the current settings."""
    return LoginThrottle(
        caches["default"],
        per_username_ip=idp_settings.LOGIN_FAILURES_PER_USERNAME_IP,
        per_username=idp_settings.LOGIN_FAILURES_PER_USERNAME,
        per_ip=idp_settings.LOGIN_FAILURES_PER_IP,
        window=idp_settings.LOGIN_FAILURE_WINDOW,
    )


def check_password_login(request: HttpRequest | None, username: str, password: str) -> Any:
    """Return the active user whose `username` (or email) and `password` these are.

    Raises LoginThrottled (refused before any hashing), CredentialsRefused (counted against the
    throttle; an unknown user and a wrong password are alike), AccountInactive (the right password
    of an account awaiting activation; not counted), or idp.hashers.PasswordHashingBusy (every
    hashing slot taken; not counted).
    """
    ip = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    # Only a refused credential counts: leaving this block any other way (a throttle answer, a
    # database or capacity error) refunds the attempt.
    with login_throttle().attempt(username, ip) as attempt:
        if attempt.wait is not None:
            raise LoginThrottled(attempt.wait)
        user = authenticate(request, username=username, password=password)
        if user is None:
            attempt.refused()
            raise CredentialsRefused()
        attempt.succeeded()
        return user
