"""Login sessions: start one, rotate its refresh token, end it. Each is one transaction.

A session is the family of refresh tokens one login started. Refreshing blacklists the
presented token and issues its successor; the blacklist row is unique per token, so of N
concurrent refreshes exactly one inserts it and wins. Presenting a token that was already
rotated is reuse (OAuth 2.0 Security BCP, RFC 9700 §4.14.2): the whole session ends, so the
newest token of the family stops refreshing too. Two kinds of repeat are not reuse: a request
that was already on its way when the rotation it lost to committed (a concurrent duplicate), and,
within REFRESH_REUSE_GRACE, a retry of a rotation whose answer no client was ever sent.

Tokens are minted here, in sight: claims from idp/tokens.py, signed by `jws.sign`, and each refresh
token recorded as an OutstandingToken (`record_refresh`) in the transaction that issues it.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import update_last_login
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from idp import jws, tokens
from idp.conf import idp_settings
from idp.exceptions import (
    SessionEnded,
    TokenAlreadyRotated,
    TokenBlacklisted,
    TokenRejected,
    TokenReused,
    TokenUnknown,
    UserInactive,
)
from idp.models import LoginSession, RefreshRotation, SessionEnd
from idp.verification import verify_refresh
from relying_party.verifier import VerifiedToken

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


@dataclass(frozen=True)
class _Arrival:
    """What a refresh request found before it queued on its session's lock."""

    token_id: int
    # The successor of the presented token's rotation as committed then; None if not rotated yet.
    successor_jti: str | None


def start_session(user: Any, *, clock: Clock = timezone.now) -> TokenPair:
    """Open a login session for an authenticated `user` and return its first token pair."""
    now = clock()
    refresh = tokens.refresh_claims(user, sid=tokens.new_sid(), now=now)
    # Signed before the transaction: on a fresh deployment the first signature creates the keys.
    pair = _sign(user, refresh, now)
    with transaction.atomic():
        LoginSession.objects.create(sid=refresh["sid"], user=user, created_at=now, expires_at=tokens.expires_at(refresh))
        record_refresh(refresh, pair.refresh)
        update_last_login(None, user)
    return pair


def _sign(user: Any, refresh: dict[str, Any], now: datetime) -> TokenPair:
    """Sign `refresh` and an access token of the same session for `user`."""
    access = jws.sign(tokens.access_claims(user, sid=refresh["sid"], now=now), typ=tokens.ACCESS_TYP)
    return TokenPair(access=access, refresh=jws.sign(refresh, typ=tokens.REFRESH_TYP))


def record_refresh(claims: Mapping[str, Any], encoded: str) -> None:
    """Record the signed refresh token `encoded` as outstanding: rotation and logout find it by jti."""
    OutstandingToken.objects.create(
        user_id=claims["user_id"],
        jti=claims["jti"],
        # A digest, not the token: whoever reads the database must not get live refresh tokens.
        # Kunci finds outstanding tokens by jti and never reads this column.
        token=hashlib.sha256(encoded.encode()).hexdigest(),
        created_at=tokens.issued_at(claims),
        expires_at=tokens.expires_at(claims),
    )


def refresh_session(raw_refresh: str, *, clock: Clock = timezone.now) -> TokenPair:
    """Rotate a refresh token: blacklist it and return a new pair, or raise TokenRejected.

    Presenting a token that was already rotated (RFC 9700 §4.14.2) is, while REFRESH_REUSE_GRACE
    is on, in this order:
    - a concurrent duplicate if that rotation committed after this request arrived: 401
      `token_already_rotated`; the session lives on and the winner's token keeps working;
    - a retry if the rotation is at most REFRESH_REUSE_GRACE seconds old and its successor was
      never sent to any client and never used: the unused successor is retired and a new pair
      returned;
    - otherwise reuse: the session ends (401 `token_reused`). With the grace at 0, always.
    """
    refresh = verify_refresh(raw_refresh, now=clock().timestamp())
    # Read before the session lock and outside the transaction, so it sees only rotations that
    # had committed when this request arrived. The database's commit order is the clock that
    # tells a concurrent duplicate from a retry: one clock for every issuer replica, no skew.
    arrival = _arrive(refresh["jti"])
    if arrival is None:
        raise TokenUnknown()
    with transaction.atomic():
        # Locking the session row serialises refreshes of one session on PostgreSQL; on SQLite
        # the IMMEDIATE transaction already does.
        session = LoginSession.objects.select_for_update().filter(sid=refresh["sid"]).first()
        if session is None:
            raise TokenUnknown()
        now = clock()
        outcome = _rotate(refresh, arrival, session, now)
        if not isinstance(outcome, TokenRejected):
            user, successor = outcome
            pair = _sign(user, successor, now)
            record_refresh(successor, pair.refresh)
            session.expires_at = tokens.expires_at(successor)
            session.save(update_fields=["expires_at"])
    # Raised after the commit, so that ending a session on reuse is not rolled back.
    if isinstance(outcome, TokenRejected):
        raise outcome
    # Only now, after the commit, is the successor on its way to a client. A rotation whose commit
    # failed as the issuer saw it (the client got an error or a timeout) never gets here, so it
    # stays open to a retry.
    if not _answer(arrival.token_id, successor["jti"], clock()):
        raise TokenAlreadyRotated()
    return pair


def _rotate(
    refresh: VerifiedToken, arrival: _Arrival, session: LoginSession, now: datetime
) -> tuple[Any, dict[str, Any]] | TokenRejected:
    """Decide a refresh under the session lock: return the user and the successor's claims, or the rejection."""
    if _blacklist(arrival.token_id):
        if session.ended_at is not None:
            return SessionEnded()
        if (user := _active_user(refresh)) is None:
            return UserInactive("User is inactive or gone")
        successor = tokens.refresh_claims(user, sid=refresh["sid"], now=now)
        RefreshRotation.objects.create(token_id=arrival.token_id, successor_jti=successor["jti"], rotated_at=now)
        return user, successor
    if session.ended_at is not None:
        return TokenBlacklisted()
    rotation = RefreshRotation.objects.filter(token_id=arrival.token_id).first()
    # A rotation that committed after this request arrived is one it raced, not one it repeats.
    # With no grace, every repeat is reuse, as RFC 9700 §4.14.2 has it.
    lost_a_race = rotation is not None and rotation.successor_jti != arrival.successor_jti
    if lost_a_race and idp_settings.REFRESH_REUSE_GRACE > 0:
        return TokenAlreadyRotated()
    if rotation is not None and (unused := _unused_successor(rotation, now)) is not None:
        if (user := _active_user(refresh)) is None:
            return UserInactive("User is inactive or gone")
        # The successor never reached a client: retire it, so that the family keeps exactly one
        # live refresh token.
        _blacklist(unused)
        successor = tokens.refresh_claims(user, sid=refresh["sid"], now=now)
        rotation.successor_jti, rotation.rotated_at = successor["jti"], now
        rotation.save(update_fields=["successor_jti", "rotated_at"])
        return user, successor
    _end(session, SessionEnd.REUSE, now)
    return TokenReused()


def end_session(refresh: VerifiedToken) -> None:
    """Log out: blacklist a verified refresh token and end its session (idempotent)."""
    with transaction.atomic():
        # The session row is locked first, in the same order as refresh_session, so that a
        # logout racing a refresh of the same session waits instead of deadlocking.
        session = LoginSession.objects.select_for_update().filter(sid=refresh["sid"]).first()
        outstanding = OutstandingToken.objects.filter(jti=refresh["jti"]).first()
        if outstanding is not None:
            _blacklist(outstanding.id)
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


def _arrive(jti: str) -> _Arrival | None:
    """Return the presented token's row id and its committed successor, or None if unknown."""
    row = OutstandingToken.objects.filter(jti=jti).values_list("id", "rotation__successor_jti").first()
    return None if row is None else _Arrival(token_id=row[0], successor_jti=row[1])


def _answer(token_id: int, successor_jti: str, at: datetime) -> bool:
    """Record that the successor of `token_id` is being sent to a client; False if a retry replaced it.

    A compare-and-set: of the requests that issued successors for one token, only the one whose
    successor is still current answers with it, so a retired successor is never handed out.
    """
    return bool(
        RefreshRotation.objects.filter(token_id=token_id, successor_jti=successor_jti, answered_at__isnull=True).update(
            answered_at=at
        )
    )


def _active_user(refresh: VerifiedToken) -> Any | None:
    """Return the user `refresh` was issued to, or None if that user is gone or inactive."""
    user = get_user_model()._default_manager.filter(pk=refresh["user_id"]).first()
    return user if user is not None and user.is_active else None


def _unused_successor(rotation: RefreshRotation, now: datetime) -> int | None:
    """Return the id of `rotation`'s successor if a retry may still replace it, else None.

    RFC 9700 §4.14.2 ends the family when a rotated token comes back. The one repeat that is not
    a second party is a client retrying a refresh whose answer it never got: allowed for
    REFRESH_REUSE_GRACE seconds, only while no client was ever sent the successor, and only while
    the successor was never presented (a used or logged-out successor is blacklisted).
    """
    grace = idp_settings.REFRESH_REUSE_GRACE
    if grace <= 0 or rotation.answered_at is not None or now - rotation.rotated_at > timedelta(seconds=grace):
        return None
    return (
        OutstandingToken.objects.filter(jti=rotation.successor_jti, blacklistedtoken__isnull=True)
        .values_list("id", flat=True)
        .first()
    )


def _blacklist(token_id: int) -> bool:
    """Blacklist the outstanding token `token_id`; return False if it already was (the unique row decides races)."""
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(token_id=token_id)
    except IntegrityError:
        return False
    return True


def _end(session: LoginSession, reason: SessionEnd, at: datetime | None = None) -> None:
    session.ended_at = at or timezone.now()
    session.end_reason = reason
    session.save(update_fields=["ended_at", "end_reason"])
