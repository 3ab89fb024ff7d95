"""idp/sessions.py without HTTP: refresh rotation, retries of lost answers, reuse and concurrent duplicates.

The clock is injected. A lost answer is made the way a database link cut during COMMIT makes it:
the rotation commits, and the request fails; so these tests commit for real.
"""
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from django.db import IntegrityError, OperationalError
from django.test import override_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from idp import jws, sessions, tokens
from idp.conf import idp_settings
from idp.exceptions import SessionEnded, TokenRejected, TokenWrongClient
from idp.models import Client, Grant, LoginSession, RefreshRotation, SessionEnd, SessionOrigin
from idp.oauth import hashes
from idp.verification import verify_access
from tests.idp.conftest import answers_lost

pytestmark = pytest.mark.django_db(transaction=True)


class Clock:
    """A settable clock for `refresh_session(clock=...)`, which also verifies and mints at its time."""

    def __init__(self) -> None:
        # Starts at the time of the test: the refresh token of `first` is minted at wall-clock time.
        self.now = datetime.now(tz=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def first(keyring, user) -> str:
    """Return the refresh token of a fresh login session."""
    return sessions.start_session(user).refresh


def _jti(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["jti"]


def _blacklisted(token: str) -> bool:
    return BlacklistedToken.objects.filter(token__jti=_jti(token)).exists()


def _rejection(token: str, clock: Clock) -> TokenRejected:
    with pytest.raises(TokenRejected) as rejected:
        sessions.refresh_session(token, clock=clock)
    return rejected.value


def _refresh_losing_the_answer(token: str, clock: Clock) -> str:
    """Refresh `token` as if the database link dropped during COMMIT; return the successor nobody received."""
    with answers_lost() as issued, pytest.raises(OperationalError):
        sessions.refresh_session(token, clock=clock)
    [successor] = issued
    return successor


def test_a_refresh_records_which_token_replaced_which_and_when_it_was_answered(first, clock):
    pair = sessions.refresh_session(first, clock=clock)

    rotation = RefreshRotation.objects.get()
    assert rotation.token.jti == _jti(first)
    assert rotation.successor_jti == _jti(pair.refresh)
    assert rotation.rotated_at == rotation.answered_at == clock.now
    assert _blacklisted(first) and not _blacklisted(pair.refresh)


def test_a_commit_whose_answer_was_lost_leaves_its_rotation_unanswered(first, clock):
    successor = _refresh_losing_the_answer(first, clock)

    rotation = RefreshRotation.objects.get()
    assert (rotation.successor_jti, rotation.answered_at) == (_jti(successor), None)
    assert _blacklisted(first) and not _blacklisted(successor)


def test_a_retry_within_the_grace_gets_a_working_pair_and_retires_the_unused_successor(first, clock, user):
    lost = _refresh_losing_the_answer(first, clock)
    clock.advance(5)  # the default grace, inclusive

    retried = sessions.refresh_session(first, clock=clock)

    assert _jti(retried.refresh) not in (_jti(first), _jti(lost))
    assert _blacklisted(lost) and not _blacklisted(retried.refresh)
    rotation = RefreshRotation.objects.get(token__jti=_jti(first))
    assert (rotation.successor_jti, rotation.answered_at) == (_jti(retried.refresh), clock.now)
    assert _rejection(lost, clock).code == "token_reused"
    # Whoever held the retired successor was not the client: the session has ended.
    assert LoginSession.objects.get(user=user).end_reason == SessionEnd.REUSE


def test_the_pair_a_retry_returns_refreshes_like_any_other(first, clock):
    _refresh_losing_the_answer(first, clock)
    retried = sessions.refresh_session(first, clock=clock)

    clock.advance(60)
    next_pair = sessions.refresh_session(retried.refresh, clock=clock)

    assert not _blacklisted(next_pair.refresh)
    assert jwt.decode(retried.access, options={"verify_signature": False})["token_type"] == "access"
    assert LoginSession.objects.get().ended_at is None


def test_two_lost_answers_in_a_row_each_get_a_retry_while_each_successor_is_unused(first, clock):
    lost = [_refresh_losing_the_answer(first, clock)]
    clock.advance(4)
    lost.append(_refresh_losing_the_answer(first, clock))
    # Each retry's rotation opens its own window: 8 s after the first rotation, 4 s after the second.
    clock.advance(4)

    retried = sessions.refresh_session(first, clock=clock)

    assert all(_blacklisted(token) for token in lost)
    assert BlacklistedToken.objects.count() == 3
    assert RefreshRotation.objects.get().successor_jti == _jti(retried.refresh)
    assert sessions.refresh_session(retried.refresh, clock=clock).refresh
    assert LoginSession.objects.get().ended_at is None


def test_a_retry_after_the_successor_was_used_is_reuse_and_ends_the_session(first, clock, user):
    lost = _refresh_losing_the_answer(first, clock)
    newest = sessions.refresh_session(lost, clock=clock)

    assert _rejection(first, clock).code == "token_reused"

    session = LoginSession.objects.get(user=user)
    assert (session.end_reason, session.ended_at) == (SessionEnd.REUSE, clock.now)
    assert _rejection(newest.refresh, clock).code == "session_ended"


def test_a_retry_past_the_grace_is_reuse_and_ends_the_session(first, clock, user):
    lost = _refresh_losing_the_answer(first, clock)
    clock.advance(5.001)

    assert _rejection(first, clock).code == "token_reused"

    assert LoginSession.objects.get(user=user).end_reason == SessionEnd.REUSE
    # Ending the session blacklisted every live token of it; the refusal still says why.
    assert _blacklisted(lost)
    assert _rejection(lost, clock).code == "session_ended"


def test_a_repeat_after_the_answer_was_sent_is_reuse_even_within_the_grace(first, clock, user):
    answered = sessions.refresh_session(first, clock=clock)
    clock.advance(1)

    assert _rejection(first, clock).code == "token_reused"

    assert LoginSession.objects.get(user=user).end_reason == SessionEnd.REUSE
    assert _rejection(answered.refresh, clock).code == "session_ended"


def test_a_retry_after_the_session_ended_is_refused(first, clock, user):
    _refresh_losing_the_answer(first, clock)
    sessions.end_all_sessions(user)

    assert _rejection(first, clock).code == "token_blacklisted"
    assert LoginSession.objects.get(user=user).end_reason == SessionEnd.LOGOUT_EVERYWHERE


def _arriving_before(competitor: str, clock: Clock, monkeypatch, won: list) -> None:
    """Make the next refresh look at its token, then lose the lock to a refresh of `competitor`."""
    arrive = sessions._arrive

    def arrive_then_lose(jti: str):
        arrival = arrive(jti)
        monkeypatch.setattr(sessions, "_arrive", arrive)
        won.append(sessions.refresh_session(competitor, clock=clock))
        return arrival

    monkeypatch.setattr(sessions, "_arrive", arrive_then_lose)


def test_a_concurrent_duplicate_is_refused_without_ending_the_session(first, clock, user, monkeypatch):
    won: list[sessions.TokenPair] = []
    _arriving_before(first, clock, monkeypatch, won)

    assert _rejection(first, clock).code == "token_already_rotated"

    assert LoginSession.objects.get(user=user).ended_at is None
    assert BlacklistedToken.objects.count() == 1
    assert RefreshRotation.objects.get().successor_jti == _jti(won[0].refresh)
    assert sessions.refresh_session(won[0].refresh, clock=clock).refresh


def test_a_duplicate_of_a_retry_is_refused_without_ending_the_session(first, clock, user, monkeypatch):
    _refresh_losing_the_answer(first, clock)
    won: list[sessions.TokenPair] = []
    _arriving_before(first, clock, monkeypatch, won)

    assert _rejection(first, clock).code == "token_already_rotated"

    assert LoginSession.objects.get(user=user).ended_at is None
    assert sessions.refresh_session(won[0].refresh, clock=clock).refresh


def test_a_refresh_whose_successor_a_retry_replaced_before_it_answered_hands_out_nothing(first, clock, monkeypatch):
    # The only window in which a repeat after the commit still finds the rotation unanswered.
    answer = sessions._answer
    retried: list[sessions.TokenPair] = []

    def retry_first_then_answer(*args):
        monkeypatch.setattr(sessions, "_answer", answer)
        retried.append(sessions.refresh_session(first, clock=clock))
        return answer(*args)

    monkeypatch.setattr(sessions, "_answer", retry_first_then_answer)

    assert _rejection(first, clock).code == "token_already_rotated"

    [pair] = retried
    assert RefreshRotation.objects.get().successor_jti == _jti(pair.refresh)
    assert BlacklistedToken.objects.count() == 2  # the first token and the successor nobody got
    assert sessions.refresh_session(pair.refresh, clock=clock).refresh


@override_settings(KUNCI_IDP={"REFRESH_REUSE_GRACE": 0})
def test_with_no_grace_a_retry_ends_the_session(first, clock, user):
    _refresh_losing_the_answer(first, clock)

    assert _rejection(first, clock).code == "token_reused"

    assert LoginSession.objects.get(user=user).end_reason == SessionEnd.REUSE


@override_settings(KUNCI_IDP={"REFRESH_REUSE_GRACE": 0})
def test_with_no_grace_a_concurrent_duplicate_ends_the_session(first, clock, user, monkeypatch):
    won: list[sessions.TokenPair] = []
    _arriving_before(first, clock, monkeypatch, won)

    assert _rejection(first, clock).code == "token_reused"

    assert LoginSession.objects.get(user=user).end_reason == SessionEnd.REUSE
    assert _rejection(won[0].refresh, clock).code == "session_ended"


@override_settings(KUNCI_IDP={"REFRESH_REUSE_GRACE": 30})
def test_the_grace_is_read_at_call_time(first, clock):
    _refresh_losing_the_answer(first, clock)
    clock.advance(29)

    assert sessions.refresh_session(first, clock=clock).refresh


def test_a_token_this_issuer_never_recorded_is_invalid(keyring, user, clock):
    encoded = jws.sign(tokens.refresh_claims(user, sid="no-such-session", now=clock()), typ=tokens.REFRESH_TYP)

    assert _rejection(encoded, clock).code == "token_invalid"
    assert not OutstandingToken.objects.exists()


# OP sessions and grants.


def _client(name: str = "app1", **fields) -> Client:
    return Client.objects.create(name=name, redirect_uris=[f"https://{name}.example/cb"], **fields)


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _header(token: str) -> dict:
    return jwt.get_unverified_header(token)


def _grant_rejection(token: str, client: Client, clock: Clock) -> TokenRejected:
    with pytest.raises(TokenRejected) as rejected:
        sessions.refresh_grant(token, client=client, clock=clock)
    return rejected.value


@pytest.fixture
def browser_session(keyring, user, clock) -> LoginSession:
    return sessions.open_session(user, origin=SessionOrigin.BROWSER, now=clock())


def test_api_login_opens_a_session_with_its_own_grant_holding_the_refresh_token(first, user):
    session = LoginSession.objects.get(user=user)
    grant = Grant.objects.get(session=session)

    assert session.origin == SessionOrigin.API and session.auth_time == session.created_at
    assert grant.client is None and grant.ended_at is None
    assert list(OutstandingToken.objects.filter(grant_link__grant=grant).values_list("jti", flat=True)) == [_jti(first)]


def test_a_rotation_keeps_the_successor_in_the_same_grant(first, clock):
    pair = sessions.refresh_session(first, clock=clock)

    grant = Grant.objects.get()
    assert set(OutstandingToken.objects.filter(grant_link__grant=grant).values_list("jti", flat=True)) == {
        _jti(first), _jti(pair.refresh),
    }


def test_one_open_api_grant_per_session_even_though_its_client_is_null(first, user):
    session = LoginSession.objects.get(user=user)

    with pytest.raises(IntegrityError):
        Grant.objects.create(session=session, client=None, created_at=session.created_at)


def test_one_open_grant_per_client_and_session(browser_session, clock):
    client = _client()
    Grant.objects.create(session=browser_session, client=client, created_at=clock())

    with pytest.raises(IntegrityError):
        Grant.objects.create(session=browser_session, client=client, created_at=clock())


def test_start_grant_reuses_the_open_grant_of_a_client_and_opens_one_per_client(browser_session, clock):
    app1, app2 = _client("app1"), _client("app2")

    first_grant = sessions.start_grant(browser_session.sid, app1, "openid", clock=clock)
    again = sessions.start_grant(browser_session.sid, app1, "openid email", clock=clock)
    other = sessions.start_grant(browser_session.sid, app2, "openid", clock=clock)

    assert again.pk == first_grant.pk and Grant.objects.get(pk=first_grant.pk).scope == "openid email"
    assert other.pk != first_grant.pk and other.session_id == first_grant.session_id == browser_session.sid


def test_start_grant_refuses_an_ended_session(browser_session, clock):
    sessions.end_session(browser_session, SessionEnd.LOGOUT)

    with pytest.raises(SessionEnded):
        sessions.start_grant(browser_session.sid, _client(), "openid", clock=clock)
    assert not Grant.objects.exists()


@pytest.mark.parametrize("nonce", ["n-0S6_WzA2Mj", None])
def test_issue_grant_tokens_mints_an_at_jwt_a_refresh_token_and_an_id_token(browser_session, user, clock, nonce):
    client = _client(accepts_shared_audience=True)
    grant = sessions.start_grant(browser_session.sid, client, "openid profile", clock=clock)
    auth_time = browser_session.auth_time

    access, refresh, id_token, scope = sessions.issue_grant_tokens(grant, nonce=nonce, auth_time=auth_time, now=clock())
    assert scope == "openid profile"

    at, idt = _claims(access), _claims(id_token)
    assert _header(access)["typ"] == "at+jwt" and _header(id_token)["typ"] == "JWT"
    assert _header(access)["kid"] == _header(id_token)["kid"] == _header(refresh)["kid"]
    assert (at["client_id"], at["scope"], at["sid"], at["aud"]) == (
        client.client_id, "openid profile", browser_session.sid, idp_settings.AUDIENCE,
    )
    assert verify_access(access)["sub"] == str(user.pk)  # the issuer's own verifier takes it
    assert idt["iss"] == idp_settings.ISSUER and idt["sub"] == str(user.pk)
    assert idt["aud"] == idt["azp"] == client.client_id
    assert idt["sid"] == browser_session.sid and idt["auth_time"] == int(auth_time.timestamp())
    assert idt["iat"] == int(clock().timestamp()) and idt["exp"] > idt["iat"]
    assert idt["at_hash"] == hashes.at_hash(access)
    assert idt.get("nonce") == nonce
    assert OutstandingToken.objects.get(jti=_jti(refresh)).grant_link.grant == grant
    assert LoginSession.objects.get(sid=browser_session.sid).expires_at == tokens.expires_at(_claims(refresh))


def test_without_the_openid_scope_there_is_no_id_token(browser_session, clock):
    grant = sessions.start_grant(browser_session.sid, _client(), "email", clock=clock)

    assert sessions.issue_grant_tokens(grant, nonce=None, auth_time=clock(), now=clock()).id_token is None


def test_a_grants_refresh_token_rotates_for_its_client_only(browser_session, clock):
    app1, app2 = _client("app1"), _client("app2")
    grant = sessions.start_grant(browser_session.sid, app1, "openid", clock=clock)
    tokens_ = sessions.issue_grant_tokens(grant, nonce="n", auth_time=browser_session.auth_time, now=clock())

    for wrong in (lambda: sessions.refresh_grant(tokens_.refresh, client=app2, clock=clock),
                  lambda: sessions.refresh_session(tokens_.refresh, clock=clock)):
        with pytest.raises(TokenWrongClient):
            wrong()
    clock.advance(1)
    rotated = sessions.refresh_grant(tokens_.refresh, client=app1, clock=clock)

    idt = _claims(rotated.id_token)
    # OpenID Connect Core §12.2: the original auth_time, a new iat, no nonce.
    assert idt["auth_time"] == int(browser_session.auth_time.timestamp()) and "nonce" not in idt
    assert _claims(rotated.access)["client_id"] == app1.client_id
    assert _blacklisted(tokens_.refresh) and not _blacklisted(rotated.refresh)
    # Reuse in a client's grant ends the whole session, as at /api/login/refresh.
    assert _grant_rejection(tokens_.refresh, app1, clock).code == "token_reused"
    assert LoginSession.objects.get(sid=browser_session.sid).end_reason == SessionEnd.REUSE
    assert Grant.objects.get(pk=grant.pk).end_reason == SessionEnd.REUSE


def test_end_session_ends_every_grant_and_blacklists_every_live_refresh_token(user, keyring, clock):
    api_refresh = sessions.start_session(user, clock=clock).refresh
    session = LoginSession.objects.get()
    app_tokens = [
        sessions.issue_grant_tokens(sessions.start_grant(session.sid, _client(name), "openid", clock=clock),
                                    nonce=None, auth_time=session.auth_time, now=clock())
        for name in ("app1", "app2")
    ]

    assert sessions.end_session(session, SessionEnd.ADMIN, at=clock()) is True
    assert sessions.end_session(session, SessionEnd.LOGOUT) is False  # once only; the first reason stands

    session.refresh_from_db()
    assert (session.ended_at, session.end_reason) == (clock(), SessionEnd.ADMIN)
    assert set(Grant.objects.values_list("end_reason", flat=True)) == {SessionEnd.ADMIN}
    assert Grant.objects.filter(ended_at=clock()).count() == 3
    for refresh in [api_refresh, *(t.refresh for t in app_tokens)]:
        assert _blacklisted(refresh)
    assert _grant_rejection(app_tokens[0].refresh, Client.objects.get(name="app1"), clock).code == "session_ended"


def test_end_session_is_one_transaction(user, keyring, clock, monkeypatch):
    sessions.start_session(user, clock=clock)
    session = LoginSession.objects.get()

    def fail(*args, **kwargs):
        raise RuntimeError("the logout notices could not be written")

    monkeypatch.setattr(sessions, "_notify_logout", fail)
    with pytest.raises(RuntimeError):
        sessions.end_session(session, SessionEnd.ADMIN)

    assert LoginSession.objects.get().ended_at is None and Grant.objects.get().ended_at is None
    assert not BlacklistedToken.objects.exists()


def test_a_code_replay_ends_only_its_grant(browser_session, clock):
    app1, app2 = _client("app1"), _client("app2")
    issued = {}
    for client in (app1, app2):
        grant = sessions.start_grant(browser_session.sid, client, "openid", clock=clock)
        issued[client.name] = sessions.issue_grant_tokens(grant, nonce=None, auth_time=clock(), now=clock())

    assert sessions.end_grant_of(sid=browser_session.sid, client_id=app1.pk, reason=SessionEnd.CODE_REPLAY)

    replayed = Grant.objects.get(client=app1)
    assert replayed.end_reason == SessionEnd.CODE_REPLAY
    assert _blacklisted(issued["app1"].refresh) and not _blacklisted(issued["app2"].refresh)
    assert LoginSession.objects.get(sid=browser_session.sid).ended_at is None
    assert sessions.live_session(verify_access(issued["app1"].access)) is None
    assert sessions.live_session(verify_access(issued["app2"].access)) is not None
    assert _grant_rejection(issued["app1"].refresh, app1, clock).code == "grant_ended"
    # A new sign-in of the client under the same session opens a new grant; the old tokens stay dead.
    clock.advance(5)
    reopened = sessions.start_grant(browser_session.sid, app1, "openid", clock=clock)
    assert reopened.pk != replayed.pk
    assert sessions.live_session(verify_access(issued["app1"].access)) is None


def test_a_clients_access_token_is_found_live_in_one_statement_that_loads_its_user(
    browser_session, clock, django_assert_num_queries
):
    grant = sessions.start_grant(browser_session.sid, _client(), "openid", clock=clock)
    claims = verify_access(sessions.issue_grant_tokens(grant, nonce=None, auth_time=clock(), now=clock()).access)

    with django_assert_num_queries(1):
        session = sessions.live_session(claims)
        assert (session.sid, session.user.username) == (browser_session.sid, "alice")


def test_logout_everywhere_ends_each_session_through_end_session(user, keyring, clock, monkeypatch):
    for _ in range(2):
        sessions.start_session(user, clock=clock)
    ended = []
    end = sessions.end_session
    monkeypatch.setattr(sessions, "end_session", lambda session, reason, **kw: ended.append(reason) or end(session, reason, **kw))

    assert sessions.end_all_sessions(user) == 2
    assert ended == [SessionEnd.LOGOUT_EVERYWHERE] * 2
    assert not OutstandingToken.objects.filter(blacklistedtoken__isnull=True).exists()


def test_ending_all_sessions_but_one_keeps_that_one_and_its_tokens(user, keyring, clock):
    kept, _ = (sessions.start_session(user, clock=clock) for _ in range(2))
    kept_sid = jwt.decode(kept.refresh, options={"verify_signature": False})["sid"]

    assert sessions.end_all_sessions(user, SessionEnd.PASSWORD_CHANGED, keep_sid=kept_sid) == 1

    assert LoginSession.objects.get(sid=kept_sid).ended_at is None
    other = LoginSession.objects.exclude(sid=kept_sid).get()
    assert other.end_reason == SessionEnd.PASSWORD_CHANGED and other.grants.get().end_reason == SessionEnd.PASSWORD_CHANGED
    assert OutstandingToken.objects.filter(blacklistedtoken__isnull=True).count() == 1


def test_deactivating_a_user_ends_their_sessions(user, keyring, clock):
    sessions.start_session(user, clock=clock)

    user.is_active = False
    user.save()

    session = LoginSession.objects.get()
    assert session.end_reason == SessionEnd.USER_DEACTIVATED and session.grants.get().end_reason == SessionEnd.USER_DEACTIVATED
    assert not OutstandingToken.objects.filter(blacklistedtoken__isnull=True).exists()


def test_deleting_a_user_ends_their_sessions_before_the_cascade(user, keyring, clock, monkeypatch):
    refresh = sessions.start_session(user, clock=clock).refresh
    seen = []
    notify = sessions._notify_logout
    monkeypatch.setattr(sessions, "_notify_logout", lambda session, grants, **kw: seen.append(
        (session.sid, [g.pk for g in grants])) or notify(session, grants, **kw))

    user.delete()

    assert len(seen) == 1 and len(seen[0][1]) == 1  # the hook saw the session and its grant before they went
    assert not LoginSession.objects.exists() and not Grant.objects.exists()
    # The refresh token's row outlives the user (simplejwt sets its user to NULL), blacklisted.
    assert _blacklisted(refresh)


def test_a_browser_session_gets_tokens_for_two_clients_under_one_sid(browser_session, clock):
    """Single sign-on at function level: two clients, one session, one sid in every token."""
    sids = set()
    for name in ("app1", "app2"):
        grant = sessions.start_grant(browser_session.sid, _client(name), "openid", clock=clock)
        minted = sessions.issue_grant_tokens(grant, nonce=None, auth_time=browser_session.auth_time, now=clock())
        sids |= {_claims(minted.access)["sid"], _claims(minted.id_token)["sid"], _claims(minted.refresh)["sid"]}

    assert sids == {browser_session.sid}
    assert LoginSession.objects.count() == 1 and Grant.objects.filter(session=browser_session).count() == 2
