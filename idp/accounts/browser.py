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

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.urls import reverse
from django.utils.crypto import constant_time_compare

from idp import sessions
from idp.accounts import passwords
from idp.models import LoginSession, SessionEnd, SessionOrigin

# The key under which the Django session keeps the sid of the browser's OP session.
SID_SESSION_KEY = "kunci_sid"


def current_op_session(request: HttpRequest) -> LoginSession | None:
    """Return the open OP session this browser signed in to, with its user, or None.

    None when the browser is not signed in, or its session has ended meanwhile: signed out
    elsewhere, logged out everywhere, ended by an administrator, or its user deactivated.
    One statement: the OP session joined with its user, who then passes the checks Django's
    `auth.get_user` makes (`_signed_in_user`) and becomes `request.user`, which so needs no
    statement of its own.
    """
    sid = request.session.get(SID_SESSION_KEY)
    user_id = request.session.get(auth.SESSION_KEY)
    if not isinstance(sid, str) or user_id is None:
        return None
    found = LoginSession.objects.select_related("user").filter(sid=sid, user_id=user_id, ended_at__isnull=True)
    # `sid` is the primary key, so no ORDER BY (which `first()` would add) is needed.
    session = next(iter(found[:1]), None)
    if session is None or not _signed_in_user(request, session.user):
        return None
    return session


def _signed_in_user(request: HttpRequest, user: Any) -> bool:
    """Apply `django.contrib.auth.get_user`'s checks to `user`, loaded by the Django session's user id.

    The backend that signed the browser in must still be configured and let `user` authenticate,
    and the session's hash of the password must match: a changed password signs the browser out
    (its Django session is flushed), and a hash made with a SECRET_KEY_FALLBACKS key is renewed.
    On success `user` becomes `request.user`.
    """
    backend_path = request.session.get(auth.BACKEND_SESSION_KEY)
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return False
    # ModelBackend.get_user, which the issuer's backends inherit, is the lookup the OP session's
    # statement made plus user_can_authenticate (an inactive user cannot).
    if not auth.load_backend(backend_path).user_can_authenticate(user):
        return False
    session_hash = request.session.get(auth.HASH_SESSION_KEY)
    current_hash = user.get_session_auth_hash()
    if not session_hash or not constant_time_compare(session_hash, current_hash):
        if session_hash and any(
            constant_time_compare(session_hash, fallback) for fallback in user.get_session_auth_fallback_hash()
        ):
            request.session.cycle_key()
            request.session[auth.HASH_SESSION_KEY] = current_hash
        else:
            request.session.flush()
            request.user = AnonymousUser()
            return False
    request.user = user
    return True


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


def page_url(name: str, next_url: str | None = None) -> str:
    """Return the path of the issuer's page `name` that brings the browser back to `next_url` (a path on the issuer)."""
    url = reverse(name)
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def signin_url(next_url: str | None = None) -> str:
    """Return the sign-in page's URL that brings the browser back to `next_url` (a path on the issuer)."""
    return page_url("signin", next_url)


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


def change_password(request: HttpRequest, old_password: str, new_password: str) -> int:
    """Change the signed-in user's password from a page; every other session ends, this browser stays signed in.

    idp/accounts/passwords.py `change_password` with this browser's OP session kept, and its
    Django session carried over to the new password hash (`update_session_auth_hash`), which would
    otherwise sign it out. Raises what that function raises; returns how many sessions ended.
    """
    session = current_op_session(request)
    ended = passwords.change_password(
        request, request.user, old_password, new_password, keep_sid=session.sid if session is not None else None,
    )
    auth.update_session_auth_hash(request, request.user)
    return ended
