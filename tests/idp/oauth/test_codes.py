"""idp.oauth.codes: authorization codes sealed with what they bind, stored only once redeemed, redeemed once.

The clock is injected (`now=`). Concurrent redemptions run in threads with their own database
connections, on SQLite and on PostgreSQL (DATABASE_URL).
"""
from __future__ import annotations

import base64
import threading
from datetime import datetime, timedelta, timezone

import pytest
from django.db import transaction
from django.test import override_settings

from idp.checks import check_authorization_code_lifetime
from idp.models import LoginSession
from idp.oauth import codes
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
    open_code,
    redeem_code,
)
from idp.oauth.models import AuthMethod, Client, RedeemedCode
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
            at: datetime = NOW) -> codes.Authorization:
    return redeem_code(code, client=client, redirect_uri=redirect_uri, code_verifier=verifier, now=at)


def _redeemed(code: str) -> bool:
    return RedeemedCode.objects.filter(pk=open_code(code).code_id).exists()


def _tampered(code: str, position: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(code + "=" * (-len(code) % 4)))
    raw[position] ^= 1
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


# Issuing.


def test_a_code_is_url_safe_and_no_two_are_alike(app, session):
    first, second = _issue(app, session), _issue(app, session)

    assert first != second and open_code(first).code_id != open_code(second).code_id
    assert len(open_code(first).code_id) == 22  # base64url of 128 random bits
    assert set(first) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_issuing_a_code_writes_nothing(app, session, django_assert_num_queries):
    with django_assert_num_queries(0):
        _issue(app, session)

    assert not RedeemedCode.objects.exists()


def test_a_code_shows_nothing_it_carries(app, session):
    code = _issue(app, session)
    raw = base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))

    for carried in (session.sid, "n-0S6_WzA2Mj", "openid email", CHALLENGE, REDIRECT_URI, app.client_id):
        assert carried not in code and carried.encode() not in raw


def test_a_code_is_bound_to_the_request_it_answers(app, session, user):
    opened = open_code(_issue(app, session))

    assert (opened.client_id, opened.user_id, opened.sid) == (app.pk, user.pk, session.sid)
    assert (opened.code_challenge, opened.nonce, opened.scope) == (CHALLENGE, "n-0S6_WzA2Mj", "openid email")
    assert opened.auth_time == SIGNED_IN


def test_a_code_lives_60_seconds_by_default(app, session):
    assert open_code(_issue(app, session)).expires_at == NOW + timedelta(seconds=60)


@override_settings(KUNCI_IDP={"AUTHORIZATION_CODE_SECONDS": 5})
def test_the_lifetime_of_a_code_is_a_setting_read_at_call_time(app, session):
    code = _issue(app, session)

    assert open_code(code).expires_at == NOW + timedelta(seconds=5)
    with pytest.raises(CodeExpired):
        _redeem(code, app, at=NOW + timedelta(seconds=5))


@pytest.mark.parametrize("position", [0, 15, 16, 40, -17, -1])  # the id (the key's salt), the sealed fields, the tag
def test_a_code_changed_in_any_byte_is_unknown(app, session, position):
    code = _issue(app, session)

    with pytest.raises(CodeUnknown):
        _redeem(_tampered(code, position), app)

    assert _redeem(code, app).sid == session.sid


@pytest.mark.parametrize("respell", [
    lambda code: code + "=" * (-len(code) % 4) + "==",  # padding
    lambda code: code[:10] + "\n" + code[10:],
    lambda code: code.replace("-", "+").replace("_", "/") if ("-" in code or "_" in code) else code + "+",
    lambda code: code[:-1] + chr(ord(code[-1]) ^ 1),  # the last character's spare bits, or its value
    lambda code: code + "A",
], ids=["padded", "newline", "standard-alphabet", "last-character", "one-more-character"])
def test_a_code_has_one_spelling(app, session, respell):
    code = _issue(app, session)

    with pytest.raises(CodeUnknown):
        open_code(respell(code))


def test_the_longest_nonce_of_four_byte_characters_fits_in_a_code(app, session):
    nonce = "\U0001F511" * 255
    code = issue_code(client=app, session=session, redirect_uri=REDIRECT_URI, scope="openid profile email",
                      nonce=nonce, code_challenge=CHALLENGE, auth_time=SIGNED_IN, now=NOW)

    assert len(code) <= codes.MAX_CODE_LENGTH
    assert _redeem(code, app).nonce == nonce


def test_a_codes_random_id_leads_it_and_is_what_its_redemption_records(app, session):
    code = _issue(app, session)
    raw = base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))

    assert base64.urlsafe_b64encode(raw[:16]).rstrip(b"=").decode() == open_code(code).code_id
    assert RedeemedCode.objects.filter(pk=_redeem(code, app).code_id).exists()


def test_a_code_sealed_under_a_secret_key_fallback_still_opens_and_one_under_another_key_does_not(app, session, settings):
    code = _issue(app, session)

    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-rotated-secret-key-" + "k" * 40
    assert open_code(code).sid == session.sid

    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(CodeUnknown):
        open_code(code)


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


def test_a_public_clients_code_is_never_issued_without_a_challenge(spa, session):
    # RFC 9700 §2.1.1: PKCE is what binds a public client's code to the client that asked for it.
    with pytest.raises(ValueError, match="public client"):
        _issue(spa, session, challenge="")


# Redeeming.


def test_a_code_is_redeemed_once_with_its_verifier_and_its_redemption_is_recorded(app, session, user):
    code = _issue(app, session)

    redeemed = _redeem(code, app, at=NOW + timedelta(seconds=59))

    assert (redeemed.user_id, redeemed.sid, redeemed.scope, redeemed.nonce) == (user.pk, session.sid, "openid email", "n-0S6_WzA2Mj")
    # Kept by the code's expiry: flush_expired_tokens deletes it one refresh lifetime later.
    assert RedeemedCode.objects.get().pk == redeemed.code_id
    assert RedeemedCode.objects.get().expires_at == NOW + timedelta(seconds=60)


def test_a_public_clients_code_is_redeemed_with_its_verifier(spa, session):
    assert _redeem(_issue(spa, session), spa).client_id == spa.pk


@pytest.mark.parametrize("verifier", [None, ""])
def test_a_confidential_client_that_sent_no_challenge_redeems_without_a_verifier(app, session, verifier):
    code = _issue(app, session, challenge="")

    assert _redeem(code, app, verifier=verifier).code_challenge == ""


# Refusals: each has its RFC 6749 §5.2 error and its own code, and leaves the code unredeemed.

REFUSALS = [
    # (name, how the token request differs, expected error, expected code)
    ("unknown code", {"code": "x" * 43}, CodeUnknown, "invalid_grant", "code_unknown"),
    ("not base64url", {"code": "a.b"}, CodeUnknown, "invalid_grant", "code_unknown"),
    ("too long", {"code": "x" * 5000}, CodeUnknown, "invalid_grant", "code_unknown"),
    ("not a string", {"code": ["x"]}, CodeUnknown, "invalid_grant", "code_unknown"),
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
    assert not RedeemedCode.objects.exists()
    assert _redeem(issued, app).sid == session.sid  # the rightful request still succeeds


def test_a_verifier_for_a_code_stored_without_a_challenge_is_refused(app, session):
    # RFC 9700 §4.8.2, the PKCE downgrade: an attacker who strips the challenge from the
    # authorization request must not be able to redeem the code with a verifier.
    code = _issue(app, session, challenge="")

    with pytest.raises(VerifierUnexpected) as refused:
        _redeem(code, app, verifier=VERIFIER)

    assert (refused.value.error, refused.value.code) == ("invalid_request", "code_verifier_unexpected")
    assert not _redeemed(code)


def test_a_replayed_code_is_refused_and_names_the_grant_its_first_redemption_made(app, session, user):
    code = _issue(app, session)
    _redeem(code, app)

    with pytest.raises(CodeReplayed) as replay:
        _redeem(code, app, at=NOW + timedelta(seconds=30))

    assert (replay.value.error, replay.value.code) == ("invalid_grant", "code_replayed")
    assert isinstance(replay.value, CodeRejected)
    assert (replay.value.sid, replay.value.client_id, replay.value.user_id) == (session.sid, app.pk, user.pk)
    assert replay.value.code_id == open_code(code).code_id
    assert RedeemedCode.objects.count() == 1  # the first redemption's record stands


def test_a_code_replayed_after_it_expired_is_still_a_replay(app, session):
    code = _issue(app, session)
    _redeem(code, app)

    with pytest.raises(CodeReplayed):
        _redeem(code, app, at=NOW + timedelta(hours=1))


@pytest.mark.parametrize("change", [{"verifier": "w" * 43}, {"redirect_uri": REDIRECT_URI + "/"}, {"verifier": None}])
def test_a_replay_is_recognised_whatever_else_is_wrong_with_it(app, session, change):
    code = _issue(app, session)
    _redeem(code, app)

    with pytest.raises(CodeReplayed):
        _redeem(code, app, **change)


def test_a_redeemed_code_presented_by_another_client_tells_it_nothing(app, other, session):
    code = _issue(app, session)
    _redeem(code, app)

    with pytest.raises(CodeWrongClient):
        _redeem(code, other)


def test_redeeming_one_code_leaves_another_of_the_same_session_redeemable(app, session):
    first, second = _issue(app, session), _issue(app, session)
    _redeem(first, app)

    assert _redeem(second, app).code_id == open_code(second).code_id


# Settings.


@pytest.mark.parametrize("seconds", [0, -1, 601, "60", 60.0, True, None])
def test_an_unusable_code_lifetime_fails_the_system_check(seconds):
    with override_settings(KUNCI_IDP={"AUTHORIZATION_CODE_SECONDS": seconds}):
        assert [error.id for error in check_authorization_code_lifetime(None)] == ["idp.E005"]


@pytest.mark.parametrize("seconds", [1, 60, 600])
def test_a_code_lifetime_up_to_ten_minutes_passes_the_system_check(seconds):
    with override_settings(KUNCI_IDP={"AUTHORIZATION_CODE_SECONDS": seconds}):
        assert check_authorization_code_lifetime(None) == []


# Concurrency: single use is settled by the redemption's unique row, not by any read before it.


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
    # Every redemption has passed every check before any of them writes: only the row's primary
    # key can tell them apart.
    checked, arrived = codes._check_verifier, threading.Barrier(8, timeout=30)
    monkeypatch.setattr(codes, "_check_verifier", lambda *args: (checked(*args), arrived.wait()))

    results = run_concurrently([lambda: _attempt(code, app, atomic=False)] * 8)

    assert sorted(results) == ["code_replayed"] * 7 + ["redeemed"]
    assert RedeemedCode.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_of_concurrent_redemptions_in_transactions_exactly_one_succeeds(app, session):
    code = _issue(app, session)

    results = run_concurrently([lambda: _attempt(code, app, atomic=True)] * 10)

    assert sorted(results) == ["code_replayed"] * 9 + ["redeemed"]
    assert RedeemedCode.objects.count() == 1
