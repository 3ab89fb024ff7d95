"""idp/sessions.py without HTTP: refresh rotation, retries of lost answers, reuse and concurrent duplicates.

The clock is injected. A lost answer is made the way a database link cut during COMMIT makes it:
the rotation commits, and the request fails; so these tests commit for real.
"""
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from django.db import OperationalError
from django.test import override_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from idp import jws, sessions, tokens
from idp.exceptions import TokenRejected
from idp.models import LoginSession, RefreshRotation, SessionEnd
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
    assert not _blacklisted(lost)
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
