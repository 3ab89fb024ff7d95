"""Login sessions: start one, rotate its refresh token, end it. Each is one transaction.

A session is the family of refresh tokens one login started. Refreshing blacklists the
presented token and issues its successor; the blacklist row is unique per token, so of N
concurrent refreshes exactly one inserts it and wins. Presenting a token that was already
rotated is reuse (OAuth 2.0 Security BCP, RFC 9700 §4.14.2): the whole session ends, so the
newest token of the family stops refreshing too — unless REFRESH_REUSE_GRACE allows a client a
few seconds to retry a refresh whose answer it lost.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import update_last_login
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from idp.conf import idp_settings
from idp.models import LoginSession, SessionEnd
from idp.tokens import RefreshToken, TokenRejected, new_sid


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


def start_session(user: Any) -> TokenPair:
    """Open a login session for an authenticated `user` and return its first token pair."""
    with transaction.atomic():
        refresh = RefreshToken.for_session(user, new_sid())
        LoginSession.objects.create(
            sid=refresh["sid"], user=user, created_at=timezone.now(), expires_at=refresh.expires_at
        )
        pair = TokenPair(access=str(refresh.access_token), refresh=refresh.sign_and_record())
        update_last_login(None, user)
    return pair


def refresh_session(raw_refresh: str) -> TokenPair:
    """Rotate a refresh token: blacklist it and return a new pair, or raise TokenRejected."""
    refresh = RefreshToken(raw_refresh)
    rejection: TokenRejected | None = None
    with transaction.atomic():
        # Locking the session row serialises refreshes of one session on PostgreSQL; on SQLite
        # the IMMEDIATE transaction already does.
        session = LoginSession.objects.select_for_update().filter(sid=refresh["sid"]).first()
        outstanding = OutstandingToken.objects.filter(jti=refresh["jti"]).first()
        if session is None or outstanding is None:
            raise TokenRejected("token_invalid", "Token is not known to this issuer")
        if not _blacklist(outstanding):
            if session.ended_at is not None:
                rejection = TokenRejected("token_blacklisted", "Token is blacklisted")
            elif _rotated_within_grace(outstanding):
                rejection = TokenRejected(
                    "token_already_rotated", "Token was just rotated; use the refresh token that replaced it"
                )
            else:
                _end(session, SessionEnd.REUSE)
                rejection = TokenRejected(
                    "token_reused", "Token was already used; its session has been ended"
                )
        elif session.ended_at is not None:
            rejection = TokenRejected("session_ended", "The session of this token has ended")
        else:
            user = get_user_model()._default_manager.filter(pk=refresh["user_id"]).first()
            if user is None or not user.is_active:
                rejection = TokenRejected("user_inactive", "User is inactive or gone")
            else:
                successor = refresh.successor(user)
                pair = TokenPair(access=str(successor.access_token), refresh=successor.sign_and_record())
                session.expires_at = successor.expires_at
                session.save(update_fields=["expires_at"])
    # Raised after the commit, so that ending a session on reuse is not rolled back.
    if rejection is not None:
        raise rejection
    return pair


def end_session(refresh: RefreshToken) -> None:
    """Log out: blacklist a verified refresh token and end its session (idempotent)."""
    with transaction.atomic():
        # The session row is locked first, in the same order as refresh_session, so that a
        # logout racing a refresh of the same session waits instead of deadlocking.
        session = LoginSession.objects.select_for_update().filter(sid=refresh["sid"]).first()
        outstanding = OutstandingToken.objects.filter(jti=refresh["jti"]).first()
        if outstanding is not None:
            _blacklist(outstanding)
        if session is not None and session.ended_at is None:
            _end(session, SessionEnd.LOGOUT)


def end_all_sessions(user: Any) -> int:
    """Log out everywhere: end every open session of `user` and blacklist its live refresh tokens."""
    now = timezone.now()
    with transaction.atomic():
        ended = LoginSession.objects.filter(user=user, ended_at__isnull=True).update(
            ended_at=now, end_reason=SessionEnd.LOGOUT_EVERYWHERE
        )
        live = OutstandingToken.objects.filter(user=user, expires_at__gt=now, blacklistedtoken__isnull=True)
        # A concurrent logout may blacklist one of them first; that row stands either way.
        BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in live], ignore_conflicts=True)
    return ended


def _blacklist(outstanding: OutstandingToken) -> bool:
    """Blacklist `outstanding`; return False if it already was (the unique row decides races)."""
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(token=outstanding)
    except IntegrityError:
        return False
    return True


def _rotated_within_grace(outstanding: OutstandingToken) -> bool:
    grace = idp_settings.REFRESH_REUSE_GRACE
    if not grace:
        return False
    since = timezone.now() - timedelta(seconds=grace)
    return BlacklistedToken.objects.filter(token=outstanding, blacklisted_at__gt=since).exists()


def _end(session: LoginSession, reason: SessionEnd) -> None:
    session.ended_at = timezone.now()
    session.end_reason = reason
    session.save(update_fields=["ended_at", "end_reason"])
