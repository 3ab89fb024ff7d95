"""The back-channel logout endpoint (OpenID Connect Back-Channel Logout 1.0) and what a logout ends.

Each test runs against both revocation stores: the app's database and a Django cache.
"""
from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client, override_settings

from relying_party.state import build_revocation_store, default_revocations
from tests.relying_party.conftest import serve_jwks
from tests.relying_party.issuer import CLIENT_ID, access_claims, logout_claims, sign, sign_logout, signing_key
from tests.relying_party.test_views import DEMO

FORM = "application/x-www-form-urlencoded"


@pytest.fixture(params=["database", "cache"])
def store(request, transactional_db) -> str:
    if request.param == "database":
        request.getfixturevalue("revocation_tables")
    return request.param


def demo(**options: Any) -> dict[str, Any]:
    """settings/rp.py's demo app with these RELYING_PARTY options, and without the issuer's middleware."""
    middleware = [name for name in settings.MIDDLEWARE if not name.startswith("idp.")]
    return {**DEMO, "MIDDLEWARE": middleware, "RELYING_PARTY": {**DEMO["RELYING_PARTY"], **options}}


@pytest.fixture
def app(http, key, store) -> Client:
    serve_jwks(http, key)
    with override_settings(**demo(CLIENT_ID=CLIENT_ID, REVOCATION_STORE=store)):
        yield Client()


def now_logout(**overrides: Any) -> dict[str, Any]:
    return logout_claims(now=time.time(), **overrides)


def post_logout(app: Client, token: str, path: str = "/backchannel-logout", **extra: Any) -> Any:
    return app.post(path, urlencode({"logout_token": token}), content_type=FORM, **extra)


def whoami(app: Client, token: str) -> Any:
    return app.get("/api/whoami", HTTP_AUTHORIZATION=f"Bearer {token}")


def assert_refused(response: Any, status: int = 400, description: str | None = None) -> None:
    assert response.status_code == status, response.content
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == "invalid_request"
    if description is not None:
        assert body["error_description"] == description


@pytest.mark.parametrize("path", ["/backchannel-logout", "/backchannel-logout/"])
def test_a_valid_logout_token_is_answered_200_no_store_with_no_body(app, key, path):
    response = post_logout(app, sign_logout(key, now_logout()), path)

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response.content == b""


def test_after_a_logout_the_sessions_access_token_is_401_session_ended_cached_or_not(app, key):
    token = sign(key, access_claims(now=time.time(), sid="session-1"))
    other = sign(key, access_claims(now=time.time(), sid="session-2"))
    assert whoami(app, token).status_code == 200  # now in the verified-token cache

    assert post_logout(app, sign_logout(key, now_logout(sid="session-1"))).status_code == 200

    response = whoami(app, token)
    assert response.status_code == 401
    assert response.json() == {"detail": "Token's session has ended", "code": "session_ended"}
    assert response["WWW-Authenticate"] == (
        'Bearer realm="app1", error="invalid_token", error_description="Token\'s session has ended"'
    )
    fresh = sign(key, access_claims(now=time.time(), sid="session-1"))
    assert whoami(app, fresh).json()["code"] == "session_ended"
    assert whoami(app, other).status_code == 200


def test_a_logout_by_sub_alone_ends_that_users_earlier_tokens_only(app, key):
    earlier = sign(key, access_claims(now=time.time() - 5, sid="a"))
    someone_else = sign(key, access_claims(now=time.time() - 5, sid="b", sub="43"))

    assert post_logout(app, sign_logout(key, now_logout(sid=None, sub="42"))).status_code == 200

    assert whoami(app, earlier).json()["code"] == "session_ended"
    assert whoami(app, someone_else).status_code == 200
    later = sign(key, access_claims(now=time.time() + 2, sid="c"))
    assert whoami(app, later).status_code == 200


def test_the_revocation_is_in_the_shared_store_for_the_other_workers(app, key):
    assert post_logout(app, sign_logout(key, now_logout(sid="session-7"))).status_code == 200

    # Another worker builds its own store from the same settings; its first read has everything unexpired.
    other_worker = build_revocation_store()
    assert [(r.kind, r.value) for r in other_worker.changes()] == [("sid", "session-7")]


def test_a_replayed_logout_token_is_refused(app, key):
    token = sign_logout(key, now_logout())
    assert post_logout(app, token).status_code == 200

    assert_refused(post_logout(app, token), description="This logout token was already used")


@pytest.mark.parametrize(
    ("claims", "description"),
    [
        ({"nonce": "abc"}, "Logout token must not carry a nonce"),
        ({"events": None}, "Token lacks a required claim"),
        ({"sid": None, "sub": None}, "Logout token names neither a sid nor a sub"),
        ({"aud": "kunci-apps"}, "Token is not for this audience"),
        ({"exp": int(time.time()) - 600}, "Token is expired"),
    ],
)
def test_a_logout_token_that_fails_validation_is_400_and_ends_nothing(app, key, claims, description):
    token = sign(key, access_claims(now=time.time()))

    assert_refused(post_logout(app, sign_logout(key, now_logout(**claims))), description=description)

    assert whoami(app, token).status_code == 200


def test_a_logout_token_from_an_unpublished_key_is_refused(app):
    assert_refused(post_logout(app, sign_logout(signing_key("attacker"), now_logout())))


def test_an_access_token_posted_as_a_logout_token_is_refused(app, key):
    access = sign(key, access_claims(now=time.time(), aud=CLIENT_ID))

    assert_refused(post_logout(app, access), description="Token is not a logout token (typ must be logout+jwt)")


@pytest.mark.parametrize(
    ("body", "content_type", "description"),
    [
        ("logout_token=x", "application/json", "The body must be application/x-www-form-urlencoded"),
        ("logout_token=", FORM, "The body must carry exactly one logout_token"),
        ("token=abc", FORM, "The body must carry exactly one logout_token"),
        ("logout_token=a&logout_token=b", FORM, "The body must carry exactly one logout_token"),
        ("logout_token=" + "a" * 10_000, FORM, "The body must be at most 9216 bytes"),
        ("&".join(f"f{i}=x" for i in range(20)), FORM, "The body is not a form of at most 8 ASCII fields"),
        ("logout_token=\xe9", f"{FORM}; charset=latin-1", "The body is not a form of at most 8 ASCII fields"),
    ],
)
def test_a_request_that_is_not_a_logout_request_is_400(app, body, content_type, description):
    # The test client encodes the body in the charset the content type names.
    response = app.post("/backchannel-logout", body, content_type=content_type)

    assert_refused(response, description=description)


def test_a_body_over_the_cap_is_refused_before_it_is_read(app):
    response = app.post("/backchannel-logout", b"logout_token=x", content_type=FORM, CONTENT_LENGTH="10000000")

    assert_refused(response, description="The body must be at most 9216 bytes")


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_only_post_is_taken(app, method):
    response = getattr(app, method)("/backchannel-logout")

    assert_refused(response, 405)
    assert response["Allow"] == "POST"


def test_an_app_without_a_client_id_takes_no_logout_tokens(http, key):
    serve_jwks(http, key)
    with override_settings(**demo()):
        response = post_logout(Client(), sign_logout(key, now_logout()))

    assert_refused(response, 404, "This app takes no back-channel logout tokens")


def test_the_client_id_defaults_to_the_browser_sign_ins(http, key, store):
    serve_jwks(http, key)
    registration = {"CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": "s"}
    with override_settings(**demo(OIDC=registration, REVOCATION_STORE=store)):
        assert post_logout(Client(), sign_logout(key, now_logout())).status_code == 200


def test_keys_that_cannot_be_had_are_503_with_retry_after(app, http):
    from tests.relying_party.conftest import answer_jwks

    answer_jwks(http, status=500)

    response = post_logout(app, sign_logout(signing_key("current"), now_logout()))

    assert response.status_code == 503
    assert response["Cache-Control"] == "no-store"
    assert response.json()["error"] == "temporarily_unavailable"
    assert int(response["Retry-After"]) >= 1


def test_a_store_that_cannot_be_written_is_503_and_the_token_may_come_again(app, key, monkeypatch):
    from relying_party.revocation_stores import StoreUnavailable

    token = sign_logout(key, now_logout())
    store = default_revocations().store
    real = store.record

    def down(*args: Any, **kwargs: Any) -> None:
        raise StoreUnavailable("down")

    monkeypatch.setattr(store, "record", down)
    response = post_logout(app, token)
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert response["Retry-After"] == "5"

    monkeypatch.setattr(store, "record", real)
    assert post_logout(app, token).status_code == 200


# --- Browser sessions at the demo pages (relying_party/web.py) --------------------------------------

from tests.relying_party.test_web import (  # noqa: E402,F401 (fixtures)
    assert_signed_out,
    browser,
    issuer,
    rp_settings_for_web,
    sign_in,
)


@pytest.mark.django_db
def test_a_logout_signs_out_the_browser_sessions_of_that_sid_at_their_next_request(issuer, browser, key):
    with override_settings(RELYING_PARTY={**settings.RELYING_PARTY, "REVOCATION_STORE": "cache"}):
        sign_in(browser, issuer)
        issuer.id_claims = {"sid": "session-2"}
        elsewhere = Client()
        sign_in(elsewhere, issuer)
        assert "Signed in as" in browser.get("/").content.decode()

        assert post_logout(Client(), sign_logout(key, now_logout(sid="session-1"))).status_code == 200

        assert "Sign in with Kunci" in browser.get("/").content.decode()
        assert_signed_out(browser)
        assert "Signed in as" in elsewhere.get("/").content.decode()


@pytest.mark.django_db
def test_a_logout_by_sub_signs_out_that_users_browser_sessions_begun_before_it(issuer, browser, key):
    with override_settings(RELYING_PARTY={**settings.RELYING_PARTY, "REVOCATION_STORE": "cache"}):
        sign_in(browser, issuer)

        logout = now_logout(sid=None, sub="42", iat=int(time.time()) + 1)
        assert post_logout(Client(), sign_logout(key, logout)).status_code == 200

        # The whoami button of a page left open redirects home, signed out, instead of calling the API.
        assert browser.post("/oidc/whoami")["Location"] == "/"
        assert_signed_out(browser)
