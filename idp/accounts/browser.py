"""The OP session of a browser: which sign-in this browser is in, and whether it must sign in again.

A browser that signs in on the sign-in page gets a Django session (cookie `kunci_session`) that
names its OP session's `sid`. The authorization endpoint asks `current_op_session` for it: a
second client in the same browser gets a code under the same session, with no password asked
(single sign-on), unless `needs_login` says the request wants a fresh sign-in (`prompt=login`,
`max_age`, OpenID Connect Core §3.1.2.1).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver
from django.http import HttpRequest
from django.urls import reverse
from django.utils.crypto import constant_time_compare

from idp import sessions
from idp.accounts import passwords
from idp.conf import idp_settings
from idp.models import LoginSession, SessionEnd, SessionOrigin
from idp.process_cache import ProcessCache

# The key under which the Django session keeps the sid of the browser's OP session.
SID_SESSION_KEY = "kunci_sid"


@dataclass(frozen=True)
class _SignIn:
    """What a Django session says of its sign-in: the fields `current_op_session` reads from it."""

    sid: str
    user_id: Any
    backend: str
    session_hash: str


# Each process remembers, for SIGN_IN_CACHE_SECONDS (KUNCI_IDP), the sign-in a Django session it
# read names, by session key, so that a signed-in browser's next requests there need not read the
# session's row. Nothing remembered counts on its own: every use still reads the OP session and its
# user, so a sign-out, a session ended anywhere, a deactivation or a changed password holds at once
# in every process. A Django session that comes to name another sign-in is read again, since
# whatever does not pass is forgotten and read the slow way: another user's sign-in or a password
# change in the browser gives it a new key, and the same user signing in again keeps the key (Django
# cycles it only when the user changes) but keeps its OP session too, or opens a new one when that
# one has ended. A logout in this process forgets the key (`_forget_logged_out`). Only what the
# Django session's row alone can say, that it is gone while its OP session goes on (Django's admin
# logout in another process, the session's expiry), takes up to SIGN_IN_CACHE_SECONDS to count.
_sign_ins: ProcessCache[str, _SignIn] = ProcessCache(max_entries=10_000)


def current_op_session(request: HttpRequest) -> LoginSession | None:
    """Return the open OP session this browser signed in to, with its user, or None.

    None when the browser is not signed in, or its session has ended meanwhile: signed out
    elsewhere, logged out everywhere, ended by an administrator, or its user deactivated.
    One statement when this process read the browser's Django session lately (`_sign_ins`):
    the OP session joined with its user, who then passes the checks Django's `auth.get_user`
    makes (`_signed_in_user`) and becomes `request.user`, which so needs no statement of its own.
    Otherwise the Django session's row first.
    """
    key = request.session.session_key
    remembered = _sign_ins.cached(key) if key else None
    if remembered is not None:
        session = sessions.open_op_session(remembered.sid, remembered.user_id)
        if session is not None and _passes(remembered.backend, remembered.session_hash, session.user) == _MATCH:
            request.user = session.user
            return session
        _sign_ins.forget(key)
    generation = _sign_ins.generation
    sign_in = _SignIn(
        sid=request.session.get(SID_SESSION_KEY), user_id=request.session.get(auth.SESSION_KEY),
        backend=request.session.get(auth.BACKEND_SESSION_KEY), session_hash=request.session.get(auth.HASH_SESSION_KEY),
    )
    if not isinstance(sign_in.sid, str) or sign_in.user_id is None:
        return None
    session = sessions.open_op_session(sign_in.sid, sign_in.user_id)
    if session is None or not _signed_in_user(request, sign_in, session.user):
        return None
    # Only what the session's row says: not a change this request made and has not saved yet.
    if key is not None and request.session.session_key == key and not request.session.modified:
        _sign_ins.remember(key, sign_in, idp_settings.SIGN_IN_CACHE_SECONDS, generation=generation)
    return session


@receiver(user_logged_out)
def _forget_logged_out(sender: type, request: HttpRequest | None, **kwargs: Any) -> None:
    # Sent by auth.logout before it flushes the session, so the key is still the signed-out one.
    if request is not None and request.session.session_key:
        _sign_ins.forget(request.session.session_key)


_MATCH, _FALLBACK, _STALE, _REFUSED = "match", "fallback", "stale", "refused"


def _passes(backend_path: object, session_hash: object, user: Any) -> str:
    """Apply `django.contrib.auth.get_user`'s checks to `user`, loaded by the Django session's user id.

    The backend that signed the browser in must still be configured and let `user` authenticate
    (ModelBackend.get_user, which the issuer's backends inherit, is the lookup the OP session's
    statement made plus user_can_authenticate: an inactive user cannot; else _REFUSED), and the
    session's hash of the password must match (_MATCH), or match under a SECRET_KEY_FALLBACKS key
    (_FALLBACK); else the password changed since the sign-in (_STALE).
    """
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return _REFUSED
    if not auth.load_backend(backend_path).user_can_authenticate(user):
        return _REFUSED
    if not isinstance(session_hash, str) or not session_hash:
        return _STALE
    if constant_time_compare(session_hash, user.get_session_auth_hash()):
        return _MATCH
    if any(constant_time_compare(session_hash, fallback) for fallback in user.get_session_auth_fallback_hash()):
        return _FALLBACK
    return _STALE


def _signed_in_user(request: HttpRequest, sign_in: _SignIn, user: Any) -> bool:
    """Whether `user` passes as the Django session's user, as `auth.get_user` decides; then it is `request.user`.

    A changed password signs the browser out (its Django session is flushed), and a hash made with
    a SECRET_KEY_FALLBACKS key is renewed.
    """
    verdict = _passes(sign_in.backend, sign_in.session_hash, user)
    if verdict == _REFUSED:
        return False
    if verdict == _STALE:
        request.session.flush()
        request.user = AnonymousUser()
        return False
    if verdict == _FALLBACK:
        request.session.cycle_key()
        request.session[auth.HASH_SESSION_KEY] = user.get_session_auth_hash()
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

    `auth.login` gives a browser that was not signed in a new session key (session fixation,
    OWASP ASVS V3.2.1), and one signed in as someone else a new, empty session. The same user
    signing in again keeps the key and the sid, and its `auth_time` moves to `now`: the clients
    already signed in under it stay so. Another user's session in this browser ends.
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
