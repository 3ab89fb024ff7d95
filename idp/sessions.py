"""OP sessions and their grants: open, grant, rotate refresh tokens, end. Each is one transaction.

A session (LoginSession, `sid`) is one sign-in, at /api/login or on the sign-in page. Under it are
grants (Grant): the JSON API's own, and one per client that got tokens in the session through the
authorization code flow. Each grant holds its own refresh-token family.

Refreshing blacklists the presented token and issues its successor; the blacklist row is unique per
token, so of N concurrent refreshes exactly one inserts it and wins. Presenting a token that was
already rotated is reuse (OAuth 2.0 Security BCP, RFC 9700 §4.14.2): the whole session ends, so the
newest token of every family in it stops refreshing too. Two kinds of repeat are not reuse: a request
that was already on its way when the rotation it lost to committed (a concurrent duplicate), and,
within REFRESH_REUSE_GRACE, a retry of a rotation whose answer no client was ever sent.

Every way a session ends (logout, logout everywhere, RP-initiated logout, refresh reuse, the admin,
the account page, a password reset or change, deactivating or deleting the user) goes through
`end_session`, and every way a grant ends through `end_grant` (a code replay, or a client revoking a
token at /revoke, ends just its grant): the one place that blacklists refresh tokens and records why.

Tokens are minted here, in sight: claims from idp/tokens.py, signed by `jws.sign`, and each refresh
token recorded as an OutstandingToken of its grant (`record_refresh`) in the transaction that issues it.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.contrib.auth.models import update_last_login
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from idp import backchannel, jws, tokens
from idp.conf import idp_settings
from idp.exceptions import (
    GrantEnded,
    ScopeNotGranted,
    SessionEnded,
    TokenAlreadyRotated,
    TokenBlacklisted,
    TokenRejected,
    TokenReused,
    TokenUnknown,
    TokenWrongClient,
    UserInactive,
)
from idp.models import Client, Grant, GrantRefreshToken, LoginSession, RefreshRotation, SessionEnd, SessionOrigin
from idp.oauth import hashes
from idp.prepared import PreparedQuery
from idp.verification import verify_refresh
from relying_party.verifier import VerifiedToken

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class TokenPair:
    """The JSON API's answer: an access and a refresh token."""

    access: str
    refresh: str


class GrantTokens(NamedTuple):
    """The tokens of a client's grant: access (RFC 9068 `at+jwt`), refresh, the id_token (or None), and the access token's scope."""

    access: str
    refresh: str
    id_token: str | None
    scope: str = ""


@dataclass(frozen=True)
class _Arrival:
    """What a refresh request found before it queued on its session's lock."""

    token_id: int
    # The successor of the presented token's rotation as committed then; None if not rotated yet.
    successor_jti: str | None
    grant_id: int | None


# Opening sessions and grants.


def open_session(user: Any, *, origin: SessionOrigin, now: datetime, sid: str | None = None) -> LoginSession:
    """Create the OP session of a sign-in of `user` whose password was checked at `now`."""
    return LoginSession.objects.create(
        sid=sid or tokens.new_sid(), user=user, created_at=now, auth_time=now, origin=origin,
    )


def start_session(user: Any, *, clock: Clock = timezone.now) -> TokenPair:
    """/api/login: open a session and its JSON API grant for an authenticated `user`; return the first pair."""
    now = clock()
    refresh = tokens.refresh_claims(user, sid=tokens.new_sid(), now=now)
    # Signed before the transaction: on a fresh deployment the first signature creates the keys.
    access = jws.sign(tokens.access_claims(user, sid=refresh["sid"], now=now), typ=tokens.ACCESS_TYP)
    encoded = jws.sign(refresh, typ=tokens.REFRESH_TYP)
    with transaction.atomic():
        session = open_session(user, origin=SessionOrigin.API, now=now, sid=refresh["sid"])
        grant = Grant.objects.create(session=session, client=None, created_at=now)
        record_refresh(refresh, encoded, grant=grant)
        _extend(session, refresh)
        update_last_login(None, user)
    return TokenPair(access=access, refresh=encoded)


def reauthenticate(session: LoginSession, *, now: datetime) -> None:
    """Record that the user of `session` proved their password again at `now` (its new `auth_time`)."""
    LoginSession.objects.filter(sid=session.sid).update(auth_time=now)
    session.auth_time = now


def start_grant(sid: str, client: Client, scope: str, *, clock: Clock = timezone.now) -> Grant:
    """Return the open grant of `client` under the OP session `sid`, opening one if none is; it now holds `scope`.

    The token endpoint calls it when it redeems a code, in the transaction of the redemption.
    Raises SessionEnded if the session ended meanwhile (a sign-out between the authorization and
    the token request): its code must give no tokens.
    """
    with transaction.atomic():
        # The session row is locked, as end_session locks it: no grant opens under a session
        # while it is ending.
        locked = LoginSession.objects.select_for_update().filter(sid=sid).first()
        if locked is None or locked.ended_at is not None:
            raise SessionEnded()
        grant = Grant.objects.filter(session=locked, client=client, ended_at__isnull=True).first()
        if grant is None:
            return Grant.objects.create(session=locked, client=client, scope=scope, created_at=clock())
        if grant.scope != scope:
            grant.scope = scope
            grant.save(update_fields=["scope"])
        return grant


def issue_grant_tokens(
    grant: Grant, *, nonce: str | None, auth_time: datetime, now: datetime
) -> GrantTokens:
    """Mint and record the tokens of a client's `grant`, as the token endpoint answers a code exchange.

    - access: RFC 9068 `at+jwt` with `client_id`, `scope` and `sid`, for the audience Kunci's
      relying parties accept (KUNCI_IDP AUDIENCE);
    - refresh: a new refresh token of the grant's family, rotated like the JSON API's;
    - id_token (only when `openid` was granted, OpenID Connect Core §3.1.2.1): iss, sub,
      aud = azp = client_id, exp, iat, auth_time, nonce when the request sent one, sid, at_hash.

    Call it in the transaction that redeemed the code. Raises GrantEnded if the grant has ended.
    """
    with transaction.atomic():
        session = LoginSession.objects.select_for_update().select_related("user").get(sid=grant.session_id)
        if session.ended_at is not None:
            raise SessionEnded()
        if not Grant.objects.filter(pk=grant.pk, ended_at__isnull=True).exists():
            raise GrantEnded()
        refresh = tokens.refresh_claims(session.user, sid=session.sid, now=now)
        minted = _mint(grant, session.user, refresh, now, auth_time=auth_time, nonce=nonce)
        record_refresh(refresh, minted.refresh, grant=grant)
        _extend(session, refresh)
    return minted


def _mint(
    grant: Grant, user: Any, refresh: dict[str, Any], now: datetime, *, auth_time: datetime,
    nonce: str | None = None, scope: str | None = None,
) -> GrantTokens:
    """Sign `refresh` and the access (and id) token that go with it in `grant`, for `scope` (by default the grant's)."""
    if grant.client_id is None:
        # The JSON API's tokens, exactly as /api/login has always issued them.
        access = jws.sign(tokens.access_claims(user, sid=grant.session_id, now=now), typ=tokens.ACCESS_TYP)
        return GrantTokens(access, jws.sign(refresh, typ=tokens.REFRESH_TYP), None)
    client = grant.client
    scope = grant.scope if scope is None else scope
    # RFC 9068 §2.2: client_id REQUIRED; §2.2.3: scope when the request had one.
    access = jws.sign(
        tokens.access_claims(user, sid=grant.session_id, now=now, client_id=client.client_id, scope=scope),
        typ=tokens.ACCESS_TYP,
    )
    id_token = None
    if "openid" in scope.split():
        claims = tokens.id_token_claims(
            user, sid=grant.session_id, client_id=client.client_id, auth_time=auth_time, now=now,
            # An id_token is read once, when the client receives it; it lives as long as an access token.
            lifetime=idp_settings.ACCESS_TOKEN_LIFETIME, nonce=nonce or None,
            # OpenID Connect Core §3.1.3.6: at_hash of the access token issued with it.
            at_hash=hashes.at_hash(access),
        )
        id_token = jws.sign(claims, typ=tokens.ID_TOKEN_TYP)
    return GrantTokens(access, jws.sign(refresh, typ=tokens.REFRESH_TYP), id_token, scope)


def record_refresh(claims: Mapping[str, Any], encoded: str, *, grant: Grant) -> None:
    """Record the signed refresh token `encoded` as outstanding in `grant`'s family: rotation and logout find it by jti."""
    outstanding = OutstandingToken.objects.create(
        user_id=claims["user_id"],
        jti=claims["jti"],
        # A digest, not the token: whoever reads the database must not get live refresh tokens.
        # Kunci finds outstanding tokens by jti and never reads this column.
        token=hashlib.sha256(encoded.encode()).hexdigest(),
        created_at=tokens.issued_at(claims),
        expires_at=tokens.expires_at(claims),
    )
    GrantRefreshToken.objects.create(token=outstanding, grant=grant)


def _extend(session: LoginSession, refresh: Mapping[str, Any]) -> None:
    """Keep `session.expires_at` at the expiry of its newest refresh token, across its grants."""
    expiry = tokens.expires_at(refresh)
    if session.expires_at is None or expiry > session.expires_at:
        session.expires_at = expiry
        LoginSession.objects.filter(sid=session.sid).update(expires_at=expiry)


# Refresh rotation.


def refresh_session(raw_refresh: str, *, clock: Clock = timezone.now) -> TokenPair:
    """/api/login/refresh: rotate a refresh token of the JSON API's grant; return a new pair, or raise TokenRejected.

    Presenting a token that was already rotated (RFC 9700 §4.14.2) is, while REFRESH_REUSE_GRACE
    is on, in this order:
    - a concurrent duplicate if that rotation committed after this request arrived: 401
      `token_already_rotated`; the session lives on and the winner's token keeps working;
    - a retry if the rotation is at most REFRESH_REUSE_GRACE seconds old and its successor was
      never sent to any client and never used: the unused successor is retired and a new pair
      returned;
    - otherwise reuse: the session ends (401 `token_reused`). With the grace at 0, always.
    """
    minted = _refresh(raw_refresh, None, clock)
    return TokenPair(access=minted.access, refresh=minted.refresh)


def refresh_grant(
    raw_refresh: str, *, client: Client, scope: str | None = None, clock: Clock = timezone.now
) -> GrantTokens:
    """The token endpoint's refresh_token grant: rotate a refresh token of `client`'s grant, by the same rules.

    A refresh token is bound to the client it was issued to (RFC 6749 §6): any other client, or the
    JSON API, gets TokenWrongClient. `scope`, when the request names one, may narrow the new access
    token's scope but not widen it (RFC 6749 §6: ScopeNotGranted, raised before anything rotates,
    so the presented token stays usable). The new id_token carries the session's `auth_time` and no
    nonce (OpenID Connect Core §12.2).
    """
    return _refresh(raw_refresh, client, clock, scope=scope)


def _refresh(raw_refresh: str, client: Client | None, clock: Clock, *, scope: str | None = None) -> GrantTokens:
    refresh = verify_refresh(raw_refresh, now=clock().timestamp())
    # Read before the session lock and outside the transaction, so it sees only rotations that
    # had committed when this request arrived. The database's commit order is the clock that
    # tells a concurrent duplicate from a retry: one clock for every issuer replica, no skew.
    arrival = _arrive(refresh["jti"])
    if arrival is None or arrival.grant_id is None:
        raise TokenUnknown()
    with transaction.atomic():
        # Locking the session row serialises refreshes of one session on PostgreSQL; on SQLite
        # the IMMEDIATE transaction already does.
        session = LoginSession.objects.select_for_update().filter(sid=refresh["sid"]).first()
        grant = Grant.objects.select_related("client").filter(pk=arrival.grant_id, session_id=refresh["sid"]).first()
        if session is None or grant is None:
            raise TokenUnknown()
        if grant.client_id != (client.pk if client is not None else None):
            raise TokenWrongClient()
        if scope is not None and not set(scope.split()) <= set(grant.scope.split()):
            raise ScopeNotGranted()
        now = clock()
        outcome = _rotate(refresh, arrival, session, grant, now)
        if not isinstance(outcome, TokenRejected):
            user, successor = outcome
            minted = _mint(grant, user, successor, now, auth_time=session.auth_time, scope=scope)
            record_refresh(successor, minted.refresh, grant=grant)
            _extend(session, successor)
    # Raised after the commit, so that ending a session on reuse is not rolled back.
    if isinstance(outcome, TokenRejected):
        raise outcome
    # Only now, after the commit, is the successor on its way to a client. A rotation whose commit
    # failed as the issuer saw it (the client got an error or a timeout) never gets here, so it
    # stays open to a retry.
    if not _answer(arrival.token_id, successor["jti"], clock()):
        raise TokenAlreadyRotated()
    return minted


def _rotate(
    refresh: VerifiedToken, arrival: _Arrival, session: LoginSession, grant: Grant, now: datetime
) -> tuple[Any, dict[str, Any]] | TokenRejected:
    """Decide a refresh under the session lock: return the user and the successor's claims, or the rejection."""
    if _blacklist(arrival.token_id):
        if session.ended_at is not None:
            return SessionEnded()
        if grant.ended_at is not None:
            return GrantEnded()
        if (user := _active_user(refresh)) is None:
            return UserInactive("User is inactive or gone")
        successor = tokens.refresh_claims(user, sid=refresh["sid"], now=now)
        RefreshRotation.objects.create(token_id=arrival.token_id, successor_jti=successor["jti"], rotated_at=now)
        return user, successor
    rotation = RefreshRotation.objects.filter(token_id=arrival.token_id).first()
    if session.ended_at is not None or grant.ended_at is not None:
        return _after_end(session, grant, rotated=rotation is not None)
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
    # RFC 9700 §4.14.2: a rotated refresh token came back: the whole session ends, every grant in it.
    end_session(session, SessionEnd.REUSE, at=now)
    return TokenReused()


def _after_end(session: LoginSession, grant: Grant, *, rotated: bool) -> TokenRejected:
    """The refusal of a blacklisted token whose session or grant has ended.

    A token the client retired itself (rotated, or logged out with: /api/logout and
    /api/logout/all) is `token_blacklisted`, as it always was; one that only the ending retired
    says why: `session_ended`, or `grant_ended` when just its grant ended (a code replay, a
    revocation).
    """
    if rotated or session.end_reason in (SessionEnd.LOGOUT, SessionEnd.LOGOUT_EVERYWHERE):
        return TokenBlacklisted()
    return SessionEnded() if session.ended_at is not None else GrantEnded()


# Ending sessions and grants.


def end_session(session: LoginSession, reason: SessionEnd, *, at: datetime | None = None) -> bool:
    """End `session` and every grant under it, for `reason`; return False if it had already ended.

    The one way a session ends. In one transaction: each open grant ends (`_end_grant`, which
    blacklists its live refresh tokens), then the session records when and why.
    """
    now = at or timezone.now()
    with transaction.atomic():
        # The session row is locked first, in the same order as a refresh, so that an ending
        # racing a refresh of the same session waits instead of deadlocking.
        locked = LoginSession.objects.select_for_update().filter(sid=session.sid).first()
        if locked is None or locked.ended_at is not None:
            return False
        ended = [grant for grant in locked.grants.filter(ended_at__isnull=True) if _end_grant(grant, reason, now)]
        locked.ended_at, locked.end_reason = now, reason
        locked.save(update_fields=["ended_at", "end_reason"])
        _notify_logout(locked, ended, whole_session=True)
    session.ended_at, session.end_reason = now, reason
    return True


def end_grant(grant: Grant, reason: SessionEnd, *, at: datetime | None = None) -> bool:
    """End one grant (its session lives on), for `reason`; return False if it had already ended.

    An authorization code replay ends the grant its first redemption created (RFC 6749 §4.1.2), and
    a client's revocation of one of its tokens ends that token's grant (RFC 7009 §2.1), not the
    whole session: the user's other clients keep their tokens.
    """
    now = at or timezone.now()
    with transaction.atomic():
        # The session first, as everywhere: a grant's ending never interleaves with its session's.
        LoginSession.objects.select_for_update().filter(sid=grant.session_id).first()
        if not _end_grant(grant, reason, now):
            return False
        _notify_logout(grant.session, [grant], whole_session=False)
    return True


def end_grant_of(*, sid: str, client_id: int, reason: SessionEnd, at: datetime | None = None) -> bool:
    """End the open grant of the client with primary key `client_id` under session `sid`, if any.

    What the token endpoint calls on `CodeReplayed(sid=..., client_id=...)`, in a transaction of
    its own (the one that found the replay is rolled back).
    """
    grant = Grant.objects.filter(session_id=sid, client_id=client_id, ended_at__isnull=True).first()
    return grant is not None and end_grant(grant, reason, at=at)


def end_all_sessions(
    user: Any, reason: SessionEnd = SessionEnd.LOGOUT_EVERYWHERE, *, keep_sid: str | None = None
) -> int:
    """End every open session of `user` but the one named `keep_sid`, through `end_session`; return how many ended."""
    others = LoginSession.objects.filter(user=user, ended_at__isnull=True).exclude(sid=keep_sid)
    with transaction.atomic():
        return sum(end_session(session, reason) for session in others.order_by("sid"))


def logout(token: VerifiedToken) -> None:
    """/api/logout: end the session of a verified refresh token, or of cookie mode's access token (idempotent).

    A refresh token itself is blacklisted even if its session had already ended or is gone.
    """
    with transaction.atomic():
        session = LoginSession.objects.filter(sid=token["sid"]).first()
        if session is not None:
            end_session(session, SessionEnd.LOGOUT)
        if token["token_type"] != "refresh":
            return
        outstanding = OutstandingToken.objects.filter(jti=token["jti"]).values_list("id", flat=True).first()
        if outstanding is not None:
            _blacklist(outstanding)


def _end_grant(grant: Grant, reason: SessionEnd, now: datetime) -> bool:
    """The grant-ending step: mark `grant` ended and blacklist its live refresh tokens. In the caller's transaction."""
    if not Grant.objects.filter(pk=grant.pk, ended_at__isnull=True).update(ended_at=now, end_reason=reason):
        return False
    grant.ended_at, grant.end_reason = now, reason
    live = OutstandingToken.objects.filter(grant_link__grant=grant, expires_at__gt=now, blacklistedtoken__isnull=True)
    # A concurrent logout may blacklist one of them first; that row stands either way.
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in live], ignore_conflicts=True)
    return True


def _notify_logout(session: LoginSession, grants: list[Grant], *, whole_session: bool) -> None:
    """THE place where ending a session or a grant tells the clients: called in the ending transaction.

    OpenID Connect Back-Channel Logout 1.0 (idp/backchannel.py): one outbox row per client of
    `grants` that has a `backchannel_logout_uri` and, when the whole session ended, per client that
    accepts the shared access-token audience, naming `session.sid` and the user, so that the
    notices commit or roll back with the ending itself. Nothing is sent yet: the outbox worker
    sends them (`manage.py run_outbox`).
    """
    backchannel.enqueue_logouts(
        session.sid, str(session.user_id), [grant.client_id for grant in grants if grant.client_id is not None],
        whole_session=whole_session,
    )


# Access-token liveness.


# The OP session joined with its user, by sid: what single sign-on and every access token's check
# read first. Their SQL is built once (idp/prepared.py); what else makes a session live is checked
# on the row (`_if_open`).
_OP_SESSION_WITH_USER = PreparedQuery(lambda sid: LoginSession.objects.select_related("user").filter(sid=sid)[:1])
# A client's open grant under a session, with the session and its user. At most one row: a session
# has one open grant per client (idp_grant_one_open_per_client).
_OPEN_GRANT_WITH_SESSION = PreparedQuery(
    lambda sid, client_id: Grant.objects.select_related("session__user").filter(
        session_id=sid, client__client_id=client_id, ended_at__isnull=True,
    )[:1]
)


def open_op_session(sid: str, user_id: Any) -> LoginSession | None:
    """Return the OP session `sid` with its user if it is open and `user_id`'s, else None: one statement."""
    return _if_open(_OP_SESSION_WITH_USER.first(sid), user_id)


def _if_open(session: LoginSession | None, user_id: Any) -> LoginSession | None:
    if session is None or session.ended_at is not None or str(session.user_id) != str(user_id):
        return None
    return session


def live_session(claims: Mapping[str, Any]) -> LoginSession | None:
    """Return the open session a verified access token belongs to, with its user, or None if it or its grant has ended.

    The issuer holds the sessions, so unlike a relying party it can refuse an access token of an
    ended session, or of a client's grant that ended (a code replay), before the token expires. A
    client's token is live only under the grant that was open when it was issued: a grant the
    client opened later under the same session does not revive it. One statement either way: a
    client's token reads its grant joined with the session.
    """
    sid, client_id = claims.get("sid"), claims.get("client_id")
    if not isinstance(sid, str):
        return None
    if client_id is None:
        return open_op_session(sid, claims["user_id"])
    if not isinstance(client_id, str):
        return None
    grant = _OPEN_GRANT_WITH_SESSION.first(sid, client_id)
    # `iat` is whole seconds and the grant opens just before its first token is signed: a second of
    # slack, so that a token is never taken for older than its own grant.
    if grant is None or grant.created_at > tokens.issued_at(claims) + timedelta(seconds=1):
        return None
    return _if_open(grant.session, claims["user_id"])


def access_grant(claims: Mapping[str, Any]) -> Grant | None:
    """Return the open grant under which a client's verified access token was issued, or None if it ended."""
    return _grants_of_access(claims).filter(session__user_id=claims["user_id"]).first()


def _grants_of_access(claims: Mapping[str, Any]) -> QuerySet[Grant]:
    """The open grant (at most one) of the access token's client under its session that was open when it was issued."""
    # `iat` is whole seconds and the grant opens just before its first token is signed: a second
    # of slack, so that a token is never taken for older than its own grant.
    opened_by = tokens.issued_at(claims) + timedelta(seconds=1)
    return Grant.objects.filter(
        session_id=claims["sid"], client__client_id=claims["client_id"], ended_at__isnull=True, created_at__lte=opened_by,
    )


# Refresh-token liveness.


def refresh_family(jti: str) -> Grant | None:
    """Return the grant (ended or not) whose refresh-token family holds the token `jti`, or None if it is unknown."""
    return Grant.objects.select_related("client").filter(refresh_tokens__token__jti=jti).first()


def refresh_is_live(jti: str) -> bool:
    """Return whether the refresh token `jti` is live: never rotated nor blacklisted, its grant and session open, its user active.

    A rotated token is not live even within REFRESH_REUSE_GRACE: that grace is for a client's
    retry at the token endpoint, not a second token holder.
    """
    return OutstandingToken.objects.filter(
        jti=jti, blacklistedtoken__isnull=True,
        grant_link__grant__ended_at__isnull=True,
        grant_link__grant__session__ended_at__isnull=True,
        grant_link__grant__session__user__is_active=True,
    ).exists()


# Rotation internals.


def _arrive(jti: str) -> _Arrival | None:
    """Return the presented token's row id, its committed successor and its grant, or None if unknown."""
    row = (
        OutstandingToken.objects.filter(jti=jti)
        .values_list("id", "rotation__successor_jti", "grant_link__grant_id")
        .first()
    )
    return None if row is None else _Arrival(token_id=row[0], successor_jti=row[1], grant_id=row[2])


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
