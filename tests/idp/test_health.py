"""The issuer's probes: /healthz (alive, reads nothing) and /readyz (database and keyring)."""
from __future__ import annotations

import pytest
from django import db

from keys import keyring
from keys.exceptions import KeyEncryptionKeyError


@pytest.mark.parametrize("path", ["/healthz", "/healthz/"])
def test_healthz_answers_200_json_without_touching_the_database(api, path):
    # No django_db mark: any database access would fail the request.
    response = api.get(path, HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/readyz", "/readyz/"])
def test_readyz_answers_200_with_each_check_when_the_database_and_keyring_are_up(api, keyring, path):
    response = api.get(path, HTTP_AUTHORIZATION="Bearer garbage")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "keyring": "ok"}}


@pytest.mark.django_db
def test_readyz_answers_503_naming_the_database_when_it_is_unreachable(api, keyring, monkeypatch):
    def unreachable(*args, **kwargs):
        raise db.OperationalError("connection to server failed: Connection refused")

    monkeypatch.setattr(db.connection, "cursor", unreachable)
    monkeypatch.setattr("keys.keyring.signing_key", unreachable)

    response = api.get("/readyz")

    assert response.status_code == 503
    assert response["Cache-Control"] == "no-store"
    assert int(response["Retry-After"]) >= 1
    assert response.json() == {
        "detail": "Not ready: database, keyring unavailable.",
        "code": "not_ready",
        "checks": {"database": "unavailable", "keyring": "unavailable"},
    }


@pytest.mark.django_db
def test_readyz_answers_503_naming_the_keyring_when_the_active_key_cannot_be_opened(api, keyring, monkeypatch):
    def sealed(*args, **kwargs):
        raise KeyEncryptionKeyError("the key-encryption key does not open the active key")

    monkeypatch.setattr("keys.keyring._open_private_key", sealed)

    response = api.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "keyring": "unavailable"}
    assert "does not open" not in response.content.decode()
