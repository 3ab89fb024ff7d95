"""idp/backchannel.py: whom an ending session notifies (rows written with the ending), and the delivery of each row.

Deliveries run through the real outbox worker (`Worker().drain()`), with the receiver served by
`responses`: what the receiver gets (a form with a logout token that verifies against the
keyring), and what the row records for each kind of answer.
"""
from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs

import jwt
import pytest
import requests
import responses
from django.db import transaction
from django.utils import timezone
from jwt import PyJWKSet

from idp import backchannel, outbound, sessions
from idp.models import Grant, LoginSession, SessionEnd, SessionOrigin
from idp.oauth.models import Client
from idp.outbox.models import OutboxMessage, OutboxState
from idp.outbox.worker import Worker
from keys import keyring as keys_api

URI = "https://app.example.com/backchannel-logout"
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def _client(name: str, *, uri: str = "", shared: bool = False) -> Client:
    client = Client(name=name, redirect_uris=[f"https://{name}.example/cb"], backchannel_logout_uri=uri,
                    accepts_shared_audience=shared)
    client.set_new_secret()
    client.save()
    return client


def _session(user, *clients: Client) -> LoginSession:
    """A browser session of `user` with an open grant for each of `clients`."""
    session = sessions.open_session(user, origin=SessionOrigin.BROWSER, now=timezone.now())
    for client in clients:
        sessions.start_grant(session.sid, client, "openid")
    return session


def _rows() -> list[dict]:
    return list(OutboxMessage.objects.order_by("id").values_list("payload", flat=True))


def _delivered_token(http: responses.RequestsMock, index: int = -1) -> str:
    request = http.calls[index].request
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = parse_qs(request.body)
    # Back-Channel Logout 1.0 §2.5: the one parameter `logout_token` (the suite warns about any other).
    assert set(form) == {"logout_token"} and len(form["logout_token"]) == 1
    return form["logout_token"][0]


def _verify(token: str, client_id: str, settings) -> dict:
    """Verify a logout token as a receiver does (Back-Channel Logout 1.0 §2.6), against the published keys."""
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "logout+jwt" and header["alg"] == "RS256"
    key = PyJWKSet.from_dict(keys_api.served_jwks())[header["kid"]].key
    return jwt.decode(token, key, algorithms=["RS256"], audience=client_id, issuer=settings.KUNCI_IDP["ISSUER"],
                      options={"require": ["iss", "aud", "iat", "exp", "jti", "events"]})


# Whom a session's ending notifies.


@pytest.mark.django_db
def test_ending_a_session_notifies_its_clients_and_the_shared_audience_clients_each_once(user, keyring):
    granted_shared = _client("granted-shared", uri=URI, shared=True)
    granted = _client("granted", uri="https://granted.example/bcl")
    _client("granted-without-uri", shared=True)
    _client("shared", uri="https://shared.example/bcl", shared=True)
    _client("neither", uri="https://neither.example/bcl")
    session = _session(user, granted_shared, granted, Client.objects.get(name="granted-without-uri"))

    assert sessions.end_session(session, SessionEnd.LOGOUT)

    assert sorted(row["client_id"] for row in _rows()) == sorted(
        Client.objects.filter(name__in=["granted-shared", "granted", "shared"]).values_list("client_id", flat=True)
    )
    assert all(row == {"client_id": row["client_id"], "sid": session.sid, "sub": str(user.pk)} for row in _rows())
    assert set(OutboxMessage.objects.values_list("kind", flat=True)) == {"backchannel_logout"}


@pytest.mark.django_db
def test_a_session_of_the_json_api_notifies_the_shared_audience_clients(login, user):
    _client("app1", uri="https://app1.example/bcl", shared=True)
    _client("app2", uri="https://app2.example/bcl", shared=True)
    login(user)

    assert sessions.end_session(LoginSession.objects.get(), SessionEnd.LOGOUT)

    assert len(_rows()) == 2


@pytest.mark.django_db
def test_ending_one_grant_notifies_only_its_client(user, keyring):
    replayed = _client("replayed", uri=URI, shared=True)
    other = _client("other", uri="https://other.example/bcl", shared=True)
    session = _session(user, replayed, other)

    assert sessions.end_grant(Grant.objects.get(client=replayed), SessionEnd.CODE_REPLAY)

    assert _rows() == [{"client_id": replayed.client_id, "sid": session.sid, "sub": str(user.pk)}]


@pytest.mark.django_db
def test_an_ending_that_rolls_back_leaves_no_notice(user, keyring):
    session = _session(user, _client("app", uri=URI, shared=True))

    with pytest.raises(RuntimeError), transaction.atomic():
        sessions.end_session(session, SessionEnd.ADMIN)
        raise RuntimeError("the request failed after the session ended")

    assert LoginSession.objects.get().ended_at is None
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_an_ended_session_is_not_notified_twice(user, keyring):
    session = _session(user, _client("app", uri=URI, shared=True))

    assert sessions.end_session(session, SessionEnd.LOGOUT)
    assert not sessions.end_session(session, SessionEnd.ADMIN)

    assert len(_rows()) == 1


@pytest.mark.django_db
def test_no_client_with_a_backchannel_logout_uri_means_no_rows(user, keyring):
    session = _session(user, _client("app", shared=True))

    assert sessions.end_session(session, SessionEnd.LOGOUT)

    assert not OutboxMessage.objects.exists()


# Delivering a row.


@pytest.fixture
def app(keyring) -> Client:
    return _client("app", uri=URI, shared=True)


@pytest.fixture
def ended(user, app) -> LoginSession:
    session = _session(user, app)
    sessions.end_session(session, SessionEnd.LOGOUT)
    return session


@pytest.fixture
def http():
    with responses.RequestsMock() as mock:
        yield mock


def _row() -> OutboxMessage:
    return OutboxMessage.objects.get()


@pytest.mark.django_db
def test_the_receiver_gets_a_logout_token_that_verifies_against_the_published_keys(http, app, ended, user, settings):
    http.add(responses.POST, URI, status=200)

    assert Worker().drain() == 1

    token = _delivered_token(http)
    claims = _verify(token, app.client_id, settings)
    assert claims["sid"] == ended.sid and claims["sub"] == str(user.pk)
    assert claims["events"] == {LOGOUT_EVENT: {}}
    assert "nonce" not in claims
    assert 0 < claims["exp"] - claims["iat"] <= 120
    assert abs(claims["iat"] - timezone.now().timestamp()) < 60
    row = _row()
    assert (row.state, row.attempts, row.last_error) == (OutboxState.DELIVERED, 1, "")
    assert token not in json.dumps(row.payload)


@pytest.mark.django_db
def test_each_attempt_mints_a_new_token_with_the_key_active_then(http, app, ended, settings):
    http.add(responses.POST, URI, status=503)
    http.add(responses.POST, URI, status=204)
    Worker(rng=lambda: 0.0).drain()
    first = _delivered_token(http, 0)
    keys_api.rotate_keys(force=True)
    OutboxMessage.objects.update(available_at=timezone.now())

    assert Worker().drain() == 1

    second = _delivered_token(http, 1)
    assert _verify(first, app.client_id, settings)["jti"] != _verify(second, app.client_id, settings)["jti"]
    assert jwt.get_unverified_header(first)["kid"] != jwt.get_unverified_header(second)["kid"]
    assert jwt.get_unverified_header(second)["kid"] == keys_api.signing_key().kid
    assert _row().state == OutboxState.DELIVERED


@pytest.mark.django_db
def test_the_token_goes_to_the_uri_registered_at_delivery_time(http, app, ended):
    moved = "https://app.example.com/oidc/backchannel"
    Client.objects.filter(pk=app.pk).update(backchannel_logout_uri=moved)
    http.add(responses.POST, moved, status=200)

    assert Worker().drain() == 1

    assert [call.request.url for call in http.calls] == [moved]
    assert _row().state == OutboxState.DELIVERED


@pytest.mark.django_db
@pytest.mark.parametrize("change", ["remove the client", "remove its uri"])
def test_a_client_removed_or_without_a_uri_since_has_nothing_to_deliver(http, app, ended, change):
    if change == "remove the client":
        app.delete()
    else:
        Client.objects.filter(pk=app.pk).update(backchannel_logout_uri="")

    assert Worker().drain() == 1

    assert not http.calls
    assert _row().state == OutboxState.DELIVERED


@pytest.mark.django_db
def test_a_4xx_is_a_refusal_retried_a_few_times_then_dead(http, app, ended, settings):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "OUTBOX_MAX_REFUSALS": 2}
    # §2.8: a receiver that refuses the token answers 400, perhaps with an OAuth error body.
    http.add(responses.POST, URI, status=400, json={"error": "invalid_request", "error_description": "bad token"})
    worker = Worker()

    worker.drain()
    row = _row()
    assert (row.state, row.refusals) == (OutboxState.PENDING, 1)
    assert row.last_error == "Refused: the receiver refused the logout token: HTTP 400 (invalid_request)"
    OutboxMessage.objects.update(available_at=timezone.now())
    worker.drain()

    row = _row()
    assert (row.state, row.refusals, row.attempts) == (OutboxState.DEAD, 2, 2)


@pytest.mark.django_db
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_is_retried_after_a_backoff(http, app, ended, status):
    http.add(responses.POST, URI, status=status)

    Worker().drain()

    row = _row()
    assert (row.state, row.refusals, row.attempts) == (OutboxState.PENDING, 0, 1)
    assert row.last_error == f"DeliveryFailed: the receiver failed: HTTP {status}"
    assert row.available_at > timezone.now()


@pytest.mark.django_db
def test_a_redirect_is_not_followed_and_counts_as_a_refusal(http, app, ended):
    http.add(responses.POST, URI, status=307, headers={"Location": "http://169.254.169.254/latest/meta-data/"})

    Worker().drain()

    assert [call.request.url for call in http.calls] == [URI]
    row = _row()
    assert (row.state, row.refusals) == (OutboxState.PENDING, 1)
    assert row.last_error == "Refused: the receiver refused the logout token: HTTP 307"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("failure", "recorded"),
    [
        (requests.ConnectionError("connection refused"), "DeliveryFailed: app.example.com:443: ConnectionError"),
        (requests.ReadTimeout("read timed out"), "DeliveryFailed: app.example.com:443 did not answer within 5 s"),
    ],
)
def test_a_connection_failure_or_a_timeout_is_retried(http, app, ended, failure, recorded):
    http.add(responses.POST, URI, body=failure)

    Worker().drain()

    row = _row()
    assert (row.state, row.refusals) == (OutboxState.PENDING, 0)
    assert row.last_error == recorded


@pytest.mark.django_db
@pytest.mark.parametrize("answer", ["echoed in error_description", "echoed as the error code", "echoed as text"])
def test_no_failure_records_or_logs_the_token(http, app, ended, answer, caplog):
    tokens: list[str] = []

    def receiver(request):
        token = parse_qs(request.body)["logout_token"][0]
        tokens.append(token)
        if answer == "echoed as text":
            return 400, {"Content-Type": "text/plain"}, f"bad token {token}"
        field = "error_description" if answer == "echoed in error_description" else "error"
        return 400, {"Content-Type": "application/json"}, json.dumps({"error": "invalid_request", field: token})

    http.add_callback(responses.POST, URI, callback=receiver)

    with caplog.at_level(logging.DEBUG):
        Worker().drain()

    [token] = tokens
    row = _row()
    assert row.last_error.startswith("Refused: the receiver refused the logout token: HTTP 400")
    assert token not in row.last_error and token not in caplog.text
    assert token.split(".")[2] not in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize("uri", ["https://10.0.0.5/bcl", "http://127.0.0.1:9/bcl", "https://[::1]/bcl",
                                 "http://169.254.169.254/latest/meta-data/"])
def test_a_private_target_is_refused_outside_demo_mode_without_a_connection(app, ended, uri, monkeypatch):
    monkeypatch.delenv("KUNCI_DEMO", raising=False)
    Client.objects.filter(pk=app.pk).update(backchannel_logout_uri=uri)
    monkeypatch.setattr(outbound.socket, "socket", _no_socket)

    Worker().drain()

    row = _row()
    assert (row.state, row.refusals) == (OutboxState.PENDING, 1)
    assert row.last_error.startswith("Refused: ") and "back-channel targets must be public" in row.last_error


def _no_socket(*args, **kwargs):
    raise AssertionError("the guard opened a connection to a forbidden address")


@pytest.mark.django_db
def test_the_address_policy_reads_demo_mode_and_the_allowed_networks_at_call_time(settings, monkeypatch):
    monkeypatch.delenv("KUNCI_DEMO", raising=False)
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "BACKCHANNEL_ALLOWED_NETWORKS": ["10.20.0.0/16", "127.0.0.1"]}

    policy = backchannel.address_policy()

    assert policy.refusal(outbound.ipaddress.ip_address("10.20.3.4")) is None
    assert policy.refusal(outbound.ipaddress.ip_address("127.0.0.1")) is None
    assert policy.refusal(outbound.ipaddress.ip_address("127.0.0.2")) == "a loopback address"
    monkeypatch.setenv("KUNCI_DEMO", "1")
    assert backchannel.address_policy().refusal(outbound.ipaddress.ip_address("127.0.0.2")) is None


def test_a_bad_allowed_network_fails_the_system_check(settings):
    from idp.checks import check_backchannel_allowed_networks

    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "BACKCHANNEL_ALLOWED_NETWORKS": ["10.0.0.0/8", "intranet"]}
    assert [(e.id, "'intranet'" in e.msg) for e in check_backchannel_allowed_networks(None)] == [("idp.E014", True)]
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "BACKCHANNEL_ALLOWED_NETWORKS": "10.0.0.0/8"}
    assert [e.id for e in check_backchannel_allowed_networks(None)] == ["idp.E014"]


def test_outbox_handlers_without_the_back_channel_kind_fail_the_system_check(settings):
    from idp.checks import check_backchannel_logout_has_a_handler

    assert check_backchannel_logout_has_a_handler(None) == []
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "OUTBOX_HANDLERS": {"email": "mail.deliver"}}
    assert [e.id for e in check_backchannel_logout_has_a_handler(None)] == ["idp.E013"]
