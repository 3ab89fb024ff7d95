"""The OP session of a browser: which sign-in this browser is in, and whether it must sign in again.

A browser that signs in on the sign-in page gets a Django session (cookie `kunci_session`) that
names its OP session's `sid`. The authorization endpoint asks `current_op_session` for it: a
second client in the same browser gets a code under the same session, with no password asked
(single sign-on), unless `needs_login` says the request wants a fresh sign-in (`prompt=login`,
`max_age`, OpenID Connect Core §3.1.2.1).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import auth
from django.http import HttpRequest
from django.urls import reverse

from idp import sessions
from idp.models import LoginSession, SessionEnd, SessionOrigin

# The key under which the Django session keeps the sid of the browser's OP session.
SID_SESSION_KEY = "kunci_sid"


def current_op_session(request: HttpRequest) -> LoginSession | None:
    """Return the open OP session this browser signed in to, or None.

    None when the browser is not signed in, or its session has ended meanwhile: signed out
    elsewhere, logged out everywhere, ended by an administrator, or its user deactivated.
    """
    sid = request.session.get(SID_SESSION_KEY)
    user = getattr(request, "user", None)
    if not isinstance(sid, str) or user is None or not user.is_authenticated:
        return None
    return LoginSession.objects.filter(sid=sid, user_id=user.pk, ended_at__isnull=True).first()


def needs_login(
    session: LoginSession | None, *, max_age: int | None = None, prompt_login: bool = False, now: datetime
) -> bool:
    """Return whether the browser whose OP session is `session` (`current_op_session`) must sign in again.

    OpenID Connect Core §3.1.2.1: `prompt=login` asks the OP to re-authenticate the user even if
    signed in; `max_age` asks it to when more than `max_age` seconds have passed since `auth_time`
    (0 is always). The authorization endpoint sends the browser to `signin_url(next)` with a
    `next` that no longer asks for it, or the sign-in would be asked for again on return.
    """
    if session is None or prompt_login:
        return True
    if max_age is None:
        return False
    # "max_age=0 is equivalent to prompt=login" (OpenID Connect Core 1.0 errata set 2, §3.1.2.1).
    return max_age <= 0 or now - session.auth_time > timedelta(seconds=max_age)


def signin_url(next_url: str | None = None) -> str:
    """Return the sign-in page's URL that brings the browser back to `next_url` (a path on the issuer)."""
    url = reverse("signin")
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def sign_in(request: HttpRequest, user: Any, *, now: datetime) -> LoginSession:
    """Sign the browser in as `user`, whose password was just checked at `now`; return its OP session.

    `auth.login` gives the browser a new session key (session fixation, OWASP ASVS V3.2.1).
    The same user signing in again keeps the sid, and its `auth_time` moves to `now`: the
    clients already signed in under it stay so. Another user's session in this browser ends.
    """
    current = current_op_session(request)
    if current is not None and current.user_id != user.pk:
        sessions.end_session(current, SessionEnd.REPLACED, at=now)
        current = None
    auth.login(request, user)
    if current is not None:
        sessions.reauthenticate(current, now=now)
        session = current
    else:
        session = sessions.open_session(user, origin=SessionOrigin.BROWSER, now=now)
    request.session[SID_SESSION_KEY] = session.sid
    return session


def sign_out(request: HttpRequest, reason: SessionEnd = SessionEnd.LOGOUT) -> LoginSession | None:
    """End this browser's OP session through the session-ending function, and its Django session; return what ended."""
    session = current_op_session(request)
    if session is not None:
        sessions.end_session(session, reason)
    auth.logout(request)
    return session
