"""A database or cache outage answers 503 JSON with Retry-After; a bug stays a 500."""
from __future__ import annotations

import sqlite3

import psycopg
import pytest
import redis
from django import db
from django.middleware.common import CommonMiddleware
from django.test import Client

from idp import login
from idp.outages import CacheUnavailable, DatabaseUnavailable, dependency_outage
from keys import keyring
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _wrapped(driver_error: Exception, django_class: type[db.Error]) -> db.Error:
    """Return `driver_error` as Django re-raises it: its own class, chained to the driver's."""
    try:
        try:
            raise driver_error
        except Exception as e:
            raise django_class(*e.args) from e
    except db.Error as wrapped:
        return wrapped


def _sqlite_locked() -> sqlite3.Error:
    holder = sqlite3.connect("file:locked?mode=memory&cache=shared", uri=True)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO t VALUES (1)")
    waiter = sqlite3.connect("file:locked?mode=memory&cache=shared", uri=True, timeout=0)
    try:
        waiter.execute("SELECT * FROM t")
    except sqlite3.Error as e:
        return e
    finally:
        holder.close()
        waiter.close()
    raise AssertionError("the table was not locked")


def _sqlite_error(sql: str) -> sqlite3.Error:
    try:
        sqlite3.connect(":memory:").execute(sql)
    except sqlite3.Error as e:
        return e
    raise AssertionError(f"{sql!r} did not fail")


@pytest.mark.parametrize(
    "make",
    [
        lambda: _wrapped(psycopg.OperationalError("connection to server failed: Connection refused"), db.OperationalError),
        lambda: _wrapped(psycopg.OperationalError("consuming input failed: server closed the connection"), db.OperationalError),
        lambda: _wrapped(psycopg.errors.AdminShutdown(), db.OperationalError),
        lambda: _wrapped(psycopg.errors.QueryCanceled(), db.OperationalError),
        lambda: _wrapped(psycopg.errors.TooManyConnections(), db.OperationalError),
        lambda: _wrapped(psycopg.InterfaceError("the connection is closed"), db.InterfaceError),
        lambda: db.InterfaceError("connection already closed"),
        lambda: _wrapped(_sqlite_locked(), db.OperationalError),
        lambda: _wrapped(_sqlite_error("ATTACH '/nonexistent/dir/x.db' AS x"), db.OperationalError),
    ],
    ids=["refused", "closed", "shutdown", "statement-timeout", "too-many", "pg-interface", "django-interface", "sqlite-locked", "sqlite-cantopen"],
)
def test_failures_to_reach_or_use_the_database_are_database_outages(make):
    assert isinstance(dependency_outage(make()), DatabaseUnavailable)


@pytest.mark.parametrize(
    "make",
    [
        lambda: _wrapped(psycopg.errors.UniqueViolation(), db.IntegrityError),
        lambda: _wrapped(psycopg.errors.UndefinedTable(), db.ProgrammingError),
        lambda: _wrapped(psycopg.errors.DeadlockDetected(), db.OperationalError),
        lambda: _wrapped(psycopg.errors.SerializationFailure(), db.OperationalError),
        lambda: _wrapped(_sqlite_error("SELECT * FROM no_such_table"), db.OperationalError),
        lambda: _wrapped(_sqlite_error("SELEC 1"), db.OperationalError),
        lambda: ZeroDivisionError(),
        lambda: KeyError("user_id"),
    ],
    ids=["unique", "undefined-table", "deadlock", "serialization", "sqlite-no-table", "sqlite-syntax", "bug", "key-error"],
)
def test_bugs_and_data_errors_are_not_outages(make):
    assert dependency_outage(make()) is None


@pytest.mark.parametrize(
    "error",
    [redis.exceptions.ConnectionError("Error 111 connecting"), redis.exceptions.TimeoutError("Timeout reading from socket"), ConnectionResetError()],
)
def test_an_unreachable_or_stalled_cache_is_a_cache_outage(error):
    assert isinstance(dependency_outage(error), CacheUnavailable)


def test_a_cache_answering_an_error_is_not_an_outage():
    assert dependency_outage(redis.exceptions.ResponseError("WRONGTYPE")) is None


# --- what clients see ---------------------------------------------------------------------------


def _assert_503(response, code: str) -> None:
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": response.json()["detail"], "code": code}
    assert int(response["Retry-After"]) >= 1


class _BrokenCache:
    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise redis.exceptions.TimeoutError("Timeout reading from socket")

        return fail


def test_login_answers_503_cache_unavailable_when_the_throttle_cache_is_down(api, keyring, user, monkeypatch):
    monkeypatch.setattr(login, "caches", {"default": _BrokenCache()})

    response = api.post("/api/login", {"username": "alice", "password": PASSWORD}, format="json")

    _assert_503(response, "cache_unavailable")


def test_login_answers_503_database_unavailable_when_the_database_is_down(api, keyring, user, monkeypatch):
    def unreachable(*args, **kwargs):
        raise _wrapped(psycopg.OperationalError("connection timeout expired"), db.OperationalError)

    monkeypatch.setattr(login, "authenticate", unreachable)

    response = api.post("/api/login", {"username": "alice", "password": PASSWORD}, format="json")

    _assert_503(response, "database_unavailable")


def test_me_answers_503_when_the_session_lookup_fails(api, login, user, monkeypatch):
    access = login(user)["access"]

    def unreachable(*args, **kwargs):
        raise db.InterfaceError("connection already closed")

    monkeypatch.setattr("idp.sessions.open_op_session", unreachable)

    response = api.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {access}")

    _assert_503(response, "database_unavailable")


def test_a_bug_in_a_view_is_still_a_500(api, keyring, user, monkeypatch):
    def bug(*args, **kwargs):
        raise _wrapped(psycopg.errors.UniqueViolation(), db.IntegrityError)

    monkeypatch.setattr(login, "authenticate", bug)

    response = api.post("/api/login", {"username": "alice", "password": PASSWORD}, format="json")

    assert response.status_code == 500
    assert response.json()["code"] == "server_error"
    assert "Retry-After" not in response


def test_an_outage_outside_drf_is_a_json_503_too(monkeypatch):
    def unreachable(self, request):
        raise db.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(CommonMiddleware, "process_request", unreachable)

    response = Client(raise_request_exception=False).get("/.well-known/openid-configuration")

    _assert_503(response, "database_unavailable")


def test_a_bug_outside_drf_is_still_a_json_500(monkeypatch):
    monkeypatch.setattr(CommonMiddleware, "process_request", lambda self, request: 1 / 0)

    response = Client(raise_request_exception=False).get("/.well-known/openid-configuration")

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error.", "code": "server_error"}


def test_the_jwks_of_a_process_that_never_read_the_keyring_answers_503_during_an_outage(api, keyring, monkeypatch):
    def unreachable(now=None):
        raise db.OperationalError("connection timeout expired")

    monkeypatch.setattr("keys.keyring.published_keys", unreachable)

    _assert_503(api.get("/.well-known/jwks.json"), "database_unavailable")


def test_the_jwks_is_served_from_memory_during_an_outage(api, keyring, settings, monkeypatch):
    settings.KUNCI_KEYS = {**settings.KUNCI_KEYS, "JWKS_CACHE_SECONDS": 0}
    before = api.get("/.well-known/jwks.json")

    def unreachable(now=None):
        raise db.OperationalError("connection timeout expired")

    monkeypatch.setattr("keys.keyring.published_keys", unreachable)
    during = api.get("/.well-known/jwks.json")

    assert during.status_code == 200
    assert during.json() == before.json()
    assert during["ETag"] == before["ETag"]


def test_discovery_reads_no_database(api, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert api.get("/.well-known/openid-configuration").status_code == 200
