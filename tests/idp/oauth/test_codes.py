"""idp.oauth.codes: authorization codes stored as digests, bound to their request, redeemed once.

The clock is injected (`now=`). Concurrent redemptions run in threads with their own database
connections, on SQLite and on PostgreSQL (DATABASE_URL).
"""
from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection, transaction
from django.test import override_settings

from idp.checks import check_authorization_code_lifetime
from idp.models import LoginSession
from idp.oauth import codes, pkce
from idp.oauth.codes import (
    CodeExpired,
    CodeRejected,
    CodeReplayed,
    CodeUnknown,
    CodeWrongClient,
    RedirectURIMismatch,
    VerifierMalformed,
    VerifierMissing,
    VerifierUnexpected,
    VerifierWrong,
    issue_code,
    redeem_code,
)
from idp.oauth.models import AuthMethod, AuthorizationCode, Client
from tests.conftest import run_concurrently

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
SIGNED_IN = NOW - timedelta(minutes=3)
REDIRECT_URI = "https://app.example.com/callback"
# RFC 7636 Appendix B.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def _client(name: str, method: str = AuthMethod.CLIENT_SECRET_BASIC) -> Client:
    return Client.objects.create(name=name, redirect_uris=[REDIRECT_URI], token_endpoint_auth_method=method)


@pytest.fixture
def app(db) -> Client:
    return _client("App")


@pytest.fixture
def spa(db) -> Client:
    return _client("SPA", AuthMethod.NONE)


@pytest.fixture
def other(db) -> Client:
    return _client("Other")


@pytest.fixture
def session(user) -> LoginSession:
    return LoginSession.objects.create(sid="s" * 32, user=user, created_at=SIGNED_IN, auth_time=SIGNED_IN)


def _issue(client: Client, session: LoginSession, *, challenge: str = CHALLENGE, at: datetime = NOW) -> str:
    return issue_code(
        client=client, session=session, redirect_uri=REDIRECT_URI, scope="openid email", nonce="n-0S6_WzA2Mj",
        code_challenge=challenge, auth_time=SIGNED_IN, now=at,
    )


def _redeem(code: object, client: Client, *, verifier: object = VERIFIER, redirect_uri: object = REDIRECT_URI,
            at: datetime = NOW) -> AuthorizationCode:
    return redeem_code(code, client=client, redirect_uri=redirect_uri, code_verifier=verifier, now=at)


def _row(code: str) -> AuthorizationCode:
    return AuthorizationCode.objects.get(digest=hashlib.sha256(code.encode()).hexdigest())


# Issuing.


def test_a_code_is_256_random_bits_in_url_safe_characters(app, session):
    first, second = _issue(app, session), _issue(app, session)

    assert first != second
    assert len(first) == 43 and pkce.is_valid_verifier(first)  # base64url of 32 bytes, no padding


def test_the_database_keeps_the_digest_of_a_code_never_the_code(app, session):
    code = _issue(app, session)

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {AuthorizationCode._meta.db_table}")
        [row] = cursor.fetchall()

    assert all(code not in str(value) for value in row)
    assert hashlib.sha256(code.encode()).hexdigest() in row


def test_a_code_is_bound_to_the_request_it_answers(app, session, user):
    code = _issue(app, session)

    stored = _row(code)

    assert (stored.client, stored.user, stored.session, stored.sid) == (app, user, session, session.sid)
    assert (stored.redirect_uri, stored.code_challenge, stored.nonce, stored.scope) == (
        REDIRECT_URI, CHALLENGE, "n-0S6_WzA2Mj", "openid email",
    )
    assert (stored.auth_time, stored.created_at, stored.redeemed_at) == (SIGNED_IN, NOW, None)


def test_a_code_lives_60_seconds_by_default(app, session):
    assert _row(_issue(app, session)).expires_at == NOW + timedelta(seconds=60)


@override_settings(KUNCI_IDP={"AUTHORIZATION_CODE_SECONDS": 5})
def test_the_lifetime_of_a_code_is_a_setting_read_at_call_time(app, session):
    code = _issue(app, session)

    assert _row(code).expires_at == NOW + timedelta(seconds=5)
    with pytest.raises(CodeExpired):
        _redeem(code, app, at=NOW + timedelta(seconds=5))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"code_challenge": "a" * 42 + "~"}, "not an S256 challenge"),  # a plain verifier
        ({"code_challenge": CHALLENGE + "="}, "not an S256 challenge"),
        ({"nonce": "n" * 256}, "nonce is longer than 255"),
    ],
)
def test_a_code_is_never_issued_with_a_malformed_binding(app, session, fields, message):
    request = {"redirect_uri": REDIRECT_URI, "scope": "openid", "auth_time": SIGNED_IN, "now": NOW, **fields}

    with pytest.raises(ValueError, match=message):
        issue_code(client=app, session=session, **request)

    assert not AuthorizationCode.objects.exists()


def test_a_public_clients_code_is_never_issued_without_a_challenge(spa, session):
    # RFC 9700 §2.1.1: PKCE is what binds a public client's code to the client that asked for it.
    with pytest.raises(ValueError, match="public client"):
        _issue(spa, session, challenge="")

    assert not AuthorizationCode.objects.exists()


# Redeeming.


def test_a_code_is_redeemed_once_with_its_verifier_and_records_when(app, session, user):
    code = _issue(app, session)

    redeemed = _redeem(code, app, at=NOW + timedelta(seconds=59))

    assert (redeemed.user, redeemed.sid, redeemed.scope) == (user, session.sid, "openid email")
    assert _row(code).redeemed_at == NOW + timedelta(seconds=59)


def test_a_public_clients_code_is_redeemed_with_its_verifier(spa, session):
    assert _redeem(_issue(spa, session), spa).client == spa


@pytest.mark.parametrize("verifier", [None, ""])
def test_a_confidential_client_that_sent_no_challenge_redeems_without_a_verifier(app, session, verifier):
    code = _issue(app, session, challenge="")

    assert _redeem(code, app, verifier=verifier).code_challenge == ""


def test_what_authlibs_grants_read_from_a_code(app, session):
    stored = _redeem(_issue(app, session), app)

    assert stored.get_redirect_uri() == REDIRECT_URI
    assert stored.get_scope() == "openid email"
    assert stored.get_nonce() == "n-0S6_WzA2Mj"
    assert stored.get_auth_time() == int(SIGNED_IN.timestamp())
    assert (stored.get_code_challenge(), stored.get_code_challenge_method()) == (CHALLENGE, "S256")


def test_a_code_without_a_nonce_or_challenge_has_neither_for_authlib(app, session):
    code = issue_code(client=app, session=session, redirect_uri=REDIRECT_URI, scope="openid", auth_time=SIGNED_IN, now=NOW)

    stored = _row(code)

    assert (stored.get_nonce(), stored.get_code_challenge_method()) == (None, None)


# Refusals: each has its RFC 6749 §5.2 error and its own code, and leaves the code unredeemed.

REFUSALS = [
    # (name, how the token request differs, expected error, expected code)
    ("unknown code", {"code": "x" * 43}, CodeUnknown, "invalid_grant", "code_unknown"),
    ("empty code", {"code": ""}, CodeUnknown, "invalid_grant", "code_unknown"),
    ("no code", {"code": None}, CodeUnknown, "invalid_grant", "code_unknown"),
    ("expired", {"at": NOW + timedelta(seconds=60)}, CodeExpired, "invalid_grant", "code_expired"),
    ("another client", {"client": "other"}, CodeWrongClient, "invalid_grant", "code_wrong_client"),
    ("trailing slash", {"redirect_uri": REDIRECT_URI + "/"}, RedirectURIMismatch, "invalid_grant", "redirect_uri_mismatch"),
    ("case change", {"redirect_uri": REDIRECT_URI.upper()}, RedirectURIMismatch, "invalid_grant", "redirect_uri_mismatch"),
    ("no redirect_uri", {"redirect_uri": None}, RedirectURIMismatch, "invalid_grant", "redirect_uri_mismatch"),
    ("verifier missing", {"verifier": None}, VerifierMissing, "invalid_request", "code_verifier_missing"),
    ("verifier empty", {"verifier": ""}, VerifierMissing, "invalid_request", "code_verifier_missing"),
    ("verifier malformed", {"verifier": "short"}, VerifierMalformed, "invalid_request", "code_verifier_malformed"),
    ("verifier with newline", {"verifier": VERIFIER + "\n"}, VerifierMalformed, "invalid_request", "code_verifier_malformed"),
    ("verifier wrong", {"verifier": VERIFIER[:-1] + "l"}, VerifierWrong, "invalid_grant", "code_verifier_wrong"),
    # The method downgraded to plain: the challenge sent as the verifier.
    ("plain verifier", {"verifier": CHALLENGE}, VerifierWrong, "invalid_grant", "code_verifier_wrong"),
]


@pytest.mark.parametrize(("name", "change", "error", "oauth_error", "code"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_refused_redemption_names_its_error_and_leaves_the_code_unredeemed(app, other, session, name, change, error, oauth_error, code):
    issued = _issue(app, session)
    request = {"code": issued, "client": app, "verifier": VERIFIER, "redirect_uri": REDIRECT_URI, "at": NOW, **change}
    if request["client"] == "other":
        request["client"] = other

    with pytest.raises(error) as refused:
        _redeem(request.pop("code"), request.pop("client"), **request)

    assert (refused.value.error, refused.value.code) == (oauth_error, code)
    assert str(refused.value) == refused.value.description
    assert _row(issued).redeemed_at is None
    assert _redeem(issued, app).redeemed_at == NOW  # the rightful request still succeeds


def test_a_verifier_for_a_code_stored_without_a_challenge_is_refused(app, session):
    # RFC 9700 §4.8.2, the PKCE downgrade: an attacker who strips the challenge from the
    # authorization request must not be able to redeem the code with a verifier.
    code = _issue(app, session, challenge="")

    with pytest.raises(VerifierUnexpected) as refused:
        _redeem(code, app, verifier=VERIFIER)

    assert (refused.value.error, refused.value.code) == ("invalid_request", "code_verifier_unexpected")
    assert _row(code).redeemed_at is None


def test_a_replayed_code_is_refused_and_names_the_grant_its_first_redemption_made(app, session, user):
    code = _issue(app, session)
    _redeem(code, app)

    with pytest.raises(CodeReplayed) as replay:
        _redeem(code, app, at=NOW + timedelta(seconds=30))

    assert (replay.value.error, replay.value.code) == ("invalid_grant", "code_replayed")
    assert isinstance(replay.value, CodeRejected)
    assert (replay.value.sid, replay.value.client_id, replay.value.user_id) == (session.sid, app.pk, user.pk)
    assert replay.value.digest == hashlib.sha256(code.encode()).hexdigest()
    assert _row(code).redeemed_at == NOW  # the first redemption's record stands


def test_a_code_replayed_after_it_expired_is_still_a_replay(app, session):
    code = _issue(app, session)
    _redeem(code, app)

    with pytest.raises(CodeReplayed):
        _redeem(code, app, at=NOW + timedelta(hours=1))


def test_a_redeemed_code_presented_by_another_client_tells_it_nothing(app, other, session):
    code = _issue(app, session)
    _redeem(code, app)

    with pytest.raises(CodeWrongClient):
        _redeem(code, other)


def test_redeeming_one_code_leaves_another_of_the_same_session_redeemable(app, session):
    first, second = _issue(app, session), _issue(app, session)
    _redeem(first, app)

    assert _redeem(second, app).digest == _row(second).digest


# Settings.


@pytest.mark.parametrize("seconds", [0, -1, 601, "60", 60.0, True, None])
def test_an_unusable_code_lifetime_fails_the_system_check(seconds):
    with override_settings(KUNCI_IDP={"AUTHORIZATION_CODE_SECONDS": seconds}):
        assert [error.id for error in check_authorization_code_lifetime(None)] == ["idp.E005"]


@pytest.mark.parametrize("seconds", [1, 60, 600])
def test_a_code_lifetime_up_to_ten_minutes_passes_the_system_check(seconds):
    with override_settings(KUNCI_IDP={"AUTHORIZATION_CODE_SECONDS": seconds}):
        assert check_authorization_code_lifetime(None) == []


# Concurrency: single use is settled by the compare-and-set, not by the read before it.


def _attempt(code: str, client: Client, *, atomic: bool) -> str:
    try:
        if atomic:
            # As the token endpoint calls it: inside the transaction that writes the grant.
            with transaction.atomic():
                _redeem(code, client)
        else:
            _redeem(code, client)
    except CodeRejected as refused:
        return refused.code
    return "redeemed"


@pytest.mark.django_db(transaction=True)
def test_of_concurrent_redemptions_in_lockstep_exactly_one_succeeds(app, session, monkeypatch):
    code = _issue(app, session)
    # Every redemption has read the row, unredeemed, and passed every check before any of them
    # writes: only the compare-and-set can tell them apart.
    checked, arrived = codes._check_verifier, threading.Barrier(8, timeout=30)
    monkeypatch.setattr(codes, "_check_verifier", lambda *args: (checked(*args), arrived.wait()))

    results = run_concurrently([lambda: _attempt(code, app, atomic=False)] * 8)

    assert sorted(results) == ["code_replayed"] * 7 + ["redeemed"]
    assert _row(code).redeemed_at == NOW


@pytest.mark.django_db(transaction=True)
def test_of_concurrent_redemptions_in_transactions_exactly_one_succeeds(app, session):
    code = _issue(app, session)

    results = run_concurrently([lambda: _attempt(code, app, atomic=True)] * 10)

    assert sorted(results) == ["code_replayed"] * 9 + ["redeemed"]
    assert _row(code).redeemed_at == NOW
