"""Requests that send email (register, resend activation, password reset) are throttled.

Per address, so that nobody can flood someone's mailbox through Kunci, and per client IP, so that
one client cannot spread over many addresses. Every request counts, before anything looks the
address up: a registered address and an unknown one reach the limit alike, and the 429 says
nothing about either (idp/throttling.py holds the counters, in the shared cache).
"""
from __future__ import annotations

from django.core.cache import caches
from django.http import HttpRequest

from idp.conf import idp_settings
from idp.exceptions import AccountRequestsThrottled
from idp.throttling import LoginThrottle


def account_request_throttle() -> LoginThrottle:
    """Return the throttle of emailing requests, configured from the current settings."""
    per_address = idp_settings.ACCOUNT_EMAILS_PER_ADDRESS
    return LoginThrottle(
        caches["default"],
        per_username_ip=per_address,
        per_username=per_address,
        per_ip=idp_settings.ACCOUNT_REQUESTS_PER_IP,
        window=idp_settings.ACCOUNT_REQUEST_WINDOW,
        scope="account-requests",
    )


def count_account_request(request: HttpRequest, email: str) -> None:
    """Count a request that may send email to `email`; raise AccountRequestsThrottled when over a limit."""
    wait = account_request_throttle().hit(email, request.META.get("REMOTE_ADDR", ""))
    if wait is not None:
        raise AccountRequestsThrottled(wait)
