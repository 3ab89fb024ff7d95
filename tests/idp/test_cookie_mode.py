"""Cookie mode of the JSON token API (idp/cookies.py), through Django's test client with CSRF enforced."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import jwt
import pytest
from django.test import override_settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from idp.checks import check_token_cookie_names
from idp.models import LoginSession, SessionEnd
from idp.verification import verify_access, verify_refresh
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

ACCESS, REFRESH, CSRF = "kunci_access", "kunci_refresh", "kunci_csrftoken"


@pytest.fixture
def browser() -> APIClient:
    """A client that keeps cookies and gets Django's CSRF checks, as a browser does."""
    return APIClient(enforce_csrf_checks=True)


def cookie_login(client: APIClient, username: str = "alice", **extra):
    return client.post("/api/login", {"username": username, "password": PASSWORD, "cookie": True}, format="json", **extra)


def with_csrf(client: APIClient) -> dict[str, str]:
    """The header a page's script sends: the CSRF cookie's value in X-CSRFToken."""
    return {"HTTP_X_CSRFTOKEN": client.cookies[CSRF].value}


def jti(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["jti"]


def test_a_cookie_mode_login_sets_the_tokens_as_cookies_and_answers_none_in_the_body(browser, keyring, user):
    response = cookie_login(browser)

    assert response.status_code == 200
    assert response.json() == {"detail": "Logged in; the tokens are in cookies.", "code": "logged_in", "expires_in": 300}
    assert response["Cache-Control"] == "no-store"
    access, refresh = response.cookies[ACCESS], response.cookies[REFRESH]
    assert verify_access(access.value)["username"] == "alice"
    assert verify_refresh(refresh.value)["sid"] == verify_access(access.value)["sid"]
    assert LoginSession.objects.filter(user=user, ended_at__isnull=True).count() == 1
    assert (access["path"], access["max-age"], access["domain"]) == ("/", 300, "")
    assert (refresh["path"], refresh["max-age"], refresh["domain"]) == ("/api/login/refresh", 86400, "")
    for cookie in (access, refresh):
        assert (cookie["httponly"], cookie["secure"], cookie["samesite"]) == (True, True, "Lax")


def test_the_cookie_mode_login_gives_the_client_a_csrf_cookie_its_scripts_can_read(browser, keyring, user):
    response = cookie_login(browser)

    csrf = response.cookies[CSRF]
    assert csrf.value and not csrf["httponly"]
    assert csrf["samesite"] == "Lax"


def test_each_cookie_mode_login_rotates_the_csrf_cookie(browser, keyring, user):
    first = cookie_login(browser).cookies[CSRF].value

    second = cookie_login(browser).cookies[CSRF].value

    assert first != second


def test_cookie_mode_takes_a_form_body_too(browser, keyring, user):
    response = browser.post(
        "/api/login",
        data=urlencode({"username": "alice", "password": PASSWORD, "cookie": "true"}),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert response.json()["code"] == "logged_in"
    assert ACCESS in response.cookies and REFRESH in response.cookies


def test_the_cookie_field_chooses_between_the_body_and_cookies(browser, keyring, user):
    in_body = browser.post("/api/login", {"username": "alice", "password": PASSWORD, "cookie": False}, format="json")
    in_cookies = browser.post("/api/login", {"username": "alice", "password": PASSWORD, "cookie": "1"}, format="json")

    assert set(in_body.json()) == {"access", "refresh"} and not in_body.cookies
    assert "access" not in in_cookies.json() and ACCESS in in_cookies.cookies


def test_a_cookie_field_that_is_not_a_boolean_gets_400(browser, keyring, user):
    response = browser.post("/api/login", {"username": "alice", "password": PASSWORD, "cookie": "maybe"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"
    assert not LoginSession.objects.exists()


@pytest.mark.parametrize(
    ("secure_on_loopback", "host", "secure"),
    [
        (True, "127.0.0.1:8000", True),
        (False, "127.0.0.1:8000", False),
        (False, "[::1]:8000", False),
        (False, "localhost", False),
        (False, "testserver", True),
    ],
)
def test_token_cookies_go_without_secure_only_to_a_loopback_host_in_demo_mode(
    browser, keyring, user, settings, secure_on_loopback, host, secure
):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "COOKIE_SECURE_ON_LOOPBACK": secure_on_loopback}

    response = cookie_login(browser, HTTP_HOST=host)

    assert response.status_code == 200
    assert bool(response.cookies[ACCESS]["secure"]) is secure
    assert bool(response.cookies[REFRESH]["secure"]) is secure


def test_the_cookie_names_and_the_access_cookies_domain_come_from_the_settings(browser, keyring, user, settings):
    names = {"ACCESS_COOKIE_NAME": "id_at", "REFRESH_COOKIE_NAME": "id_rt", "ACCESS_COOKIE_DOMAIN": "example.com"}
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, **names}

    response = cookie_login(browser)

    assert ACCESS not in response.cookies and REFRESH not in response.cookies
    assert response.cookies["id_at"]["domain"] == "example.com"
    # Only the issuer reads the refresh token: it stays host-only.
    assert response.cookies["id_rt"]["domain"] == ""
    assert browser.get("/api/me").status_code == 200


def test_the_max_age_of_each_cookie_is_its_tokens_lifetime(browser, keyring, user, settings):
    settings.KUNCI_IDP = {
        **settings.KUNCI_IDP, "ACCESS_TOKEN_LIFETIME": timedelta(minutes=2), "REFRESH_TOKEN_LIFETIME": timedelta(hours=3),
    }

    response = cookie_login(browser)

    assert response.cookies[ACCESS]["max-age"] == 120
    assert response.cookies[REFRESH]["max-age"] == 3 * 3600
    assert response.json()["expires_in"] == 120


# The access cookie at the API.


def test_me_accepts_the_access_cookie_and_a_safe_request_needs_no_csrf_token(browser, keyring, user):
    cookie_login(browser)

    response = browser.get("/api/me")

    assert response.status_code == 200
    assert response.json()["username"] == "alice"


def test_an_unsafe_request_authenticated_by_the_cookie_needs_the_csrf_header(browser, keyring, user):
    cookie_login(browser)

    refused = browser.post("/api/logout/all")

    assert refused.status_code == 403
    assert refused.json() == {"detail": "CSRF check failed: CSRF token missing.", "code": "csrf_failed"}
    assert LoginSession.objects.get(user=user).ended_at is None
    accepted = browser.post("/api/logout/all", **with_csrf(browser))
    assert accepted.status_code == 200
    assert accepted.json()["sessions_ended"] == 1


def test_a_bearer_header_wins_over_the_access_cookie(browser, keyring, user, staff):
    assert cookie_login(browser, "root").cookies[ACCESS].value
    bearer = APIClient().post("/api/login", {"username": "alice", "password": PASSWORD}, format="json").json()
    browser.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer['access']}")

    response = browser.post("/api/logout/all")

    # No CSRF token needed, and the session ended is the bearer's, not the cookie's.
    assert response.status_code == 200
    assert not LoginSession.objects.filter(user=user, ended_at__isnull=True).exists()
    assert LoginSession.objects.filter(user=staff, ended_at__isnull=True).exists()
    assert REFRESH not in response.cookies


# Refresh from the cookie.


def test_refresh_without_a_refresh_field_rotates_the_refresh_cookie(browser, keyring, user):
    first = cookie_login(browser).cookies[REFRESH].value

    response = browser.post("/api/login/refresh", **with_csrf(browser))

    assert response.status_code == 200
    assert response.json() == {"detail": "Refreshed; the new tokens are in cookies.", "code": "refreshed", "expires_in": 300}
    assert response["Cache-Control"] == "no-store"
    second = response.cookies[REFRESH]
    assert second.value != first and second["path"] == "/api/login/refresh" and second["httponly"]
    assert verify_refresh(second.value)["sid"] == verify_refresh(first)["sid"]
    assert BlacklistedToken.objects.filter(token__jti=jti(first)).exists()
    assert browser.get("/api/me").status_code == 200


def test_a_cookie_refresh_without_the_csrf_header_is_refused_and_rotates_nothing(browser, keyring, user):
    cookie_login(browser)

    response = browser.post("/api/login/refresh")

    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert not response.cookies.get(REFRESH)
    assert not BlacklistedToken.objects.exists()


def test_a_refresh_field_in_the_body_wins_over_the_cookie_and_needs_no_csrf_token(browser, keyring, user):
    assert cookie_login(browser).cookies[REFRESH].value
    pair = APIClient().post("/api/login", {"username": "alice", "password": PASSWORD}, format="json").json()

    response = browser.post("/api/login/refresh", {"refresh": pair["refresh"]}, format="json")

    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}
    assert REFRESH not in response.cookies
    assert BlacklistedToken.objects.get().token.jti == jti(pair["refresh"])


def test_reusing_a_rotated_refresh_cookie_ends_the_whole_session(browser, keyring, user):
    first = cookie_login(browser).cookies[REFRESH].value
    browser.post("/api/login/refresh", **with_csrf(browser))
    second = browser.cookies[REFRESH].value
    browser.cookies[REFRESH] = first

    reuse = browser.post("/api/login/refresh", **with_csrf(browser))

    assert reuse.status_code == 401
    assert reuse.json()["code"] == "token_reused"
    assert reuse["WWW-Authenticate"].startswith('Bearer realm="kunci", error="invalid_token"')
    assert LoginSession.objects.get(user=user).end_reason == SessionEnd.REUSE
    browser.cookies[REFRESH] = second
    assert browser.post("/api/login/refresh", **with_csrf(browser)).json()["code"] == "session_ended"
    assert browser.get("/api/me").json()["code"] == "session_ended"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("garbage", "token_malformed"),
        ("a.b.c", "token_malformed"),
        ("x" * 9000, "token_too_large"),
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "token_wrong_type"),
    ],
)
def test_a_bad_cookie_value_gets_401_with_the_usual_code(browser, keyring, value, code):
    browser.cookies[ACCESS] = value
    browser.cookies[REFRESH] = value
    # A safe request carrying a cookie gets the CSRF cookie, before its token is even verified.
    browser.get("/api/me")

    me = browser.get("/api/me")
    refreshed = browser.post("/api/login/refresh", **with_csrf(browser))

    for response in (me, refreshed):
        assert response.status_code == 401, response.content
        assert response.json()["code"] == code
        assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_a_refresh_token_in_the_access_cookie_and_an_access_token_in_the_refresh_cookie_are_refused(browser, keyring, user):
    cookie_login(browser)
    access, refresh = browser.cookies[ACCESS].value, browser.cookies[REFRESH].value
    browser.cookies[ACCESS], browser.cookies[REFRESH] = refresh, access

    me = browser.get("/api/me")
    refreshed = browser.post("/api/login/refresh", **with_csrf(browser))

    assert (me.status_code, me.json()["code"]) == (401, "token_wrong_type")
    assert (refreshed.status_code, refreshed.json()["code"]) == (401, "token_wrong_type")


# Logout.


def test_cookie_mode_logout_ends_the_session_and_clears_both_cookies(browser, keyring, user):
    cookie_login(browser)
    access, refresh = browser.cookies[ACCESS].value, browser.cookies[REFRESH].value

    response = browser.post("/api/logout", **with_csrf(browser))

    assert response.status_code == 200
    assert response.json() == {"detail": "Logged out.", "code": "logged_out"}
    session = LoginSession.objects.get(user=user)
    assert session.end_reason == SessionEnd.LOGOUT
    assert BlacklistedToken.objects.filter(token__jti=jti(refresh)).exists()
    for name, path in ((ACCESS, "/"), (REFRESH, "/api/login/refresh")):
        cleared = response.cookies[name]
        assert (cleared.value, cleared["max-age"], cleared["path"]) == ("", 0, path)
        assert (cleared["httponly"], cleared["samesite"]) == (True, "Lax")
    # With the cookies gone, a refresh has nothing to present: 400, as a body without `refresh`.
    missing = browser.post("/api/login/refresh", **with_csrf(browser))
    assert (missing.status_code, missing.json()["code"]) == (400, "missing_field")
    # The old cookies, presented again, are refused.
    browser.cookies[ACCESS], browser.cookies[REFRESH] = access, refresh
    assert browser.get("/api/me").json()["code"] == "session_ended"
    assert browser.post("/api/login/refresh", **with_csrf(browser)).json()["code"] == "token_blacklisted"


def test_cookie_mode_logout_ends_only_the_session_of_the_cookie(browser, keyring, user):
    other = APIClient().post("/api/login", {"username": "alice", "password": PASSWORD}, format="json").json()
    cookie_login(browser)

    browser.post("/api/logout", **with_csrf(browser))

    assert LoginSession.objects.filter(user=user, ended_at__isnull=True).count() == 1
    assert APIClient().post("/api/login/refresh", {"refresh": other["refresh"]}, format="json").status_code == 200


def test_a_cookie_mode_logout_without_the_csrf_header_ends_nothing(browser, keyring, user):
    cookie_login(browser)

    response = browser.post("/api/logout")

    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert LoginSession.objects.get(user=user).ended_at is None
    assert ACCESS not in response.cookies


def test_logout_everywhere_by_cookie_clears_the_cookies_too(browser, keyring, user):
    cookie_login(browser)

    response = browser.post("/api/logout/all", **with_csrf(browser))

    assert response.status_code == 200
    assert response.cookies[ACCESS]["max-age"] == 0 and response.cookies[REFRESH]["max-age"] == 0
    assert OutstandingToken.objects.filter(blacklistedtoken__isnull=True).count() == 0


def test_the_schema_names_the_access_cookie_as_a_security_scheme(api, keyring):
    schema = api.get("/api/schema", HTTP_ACCEPT="application/json").json()

    assert schema["components"]["securitySchemes"]["accessCookie"] == {"type": "apiKey", "in": "cookie", "name": ACCESS}


# The system check of the cookie names.


@pytest.mark.parametrize(
    "names",
    [
        {"ACCESS_COOKIE_NAME": "kunci access"},
        {"REFRESH_COOKIE_NAME": "kunci;refresh"},
        {"ACCESS_COOKIE_NAME": ""},
        {"REFRESH_COOKIE_NAME": None},
        {"ACCESS_COOKIE_NAME": "same", "REFRESH_COOKIE_NAME": "same"},
        {"ACCESS_COOKIE_NAME": "kunci_session"},
        {"REFRESH_COOKIE_NAME": "kunci_csrftoken"},
    ],
    ids=["a space", "a separator", "empty", "none", "one name for both", "the session cookie's", "the CSRF cookie's"],
)
def test_a_token_cookie_name_that_is_no_cookie_name_or_is_taken_fails_the_system_check(names):
    with override_settings(KUNCI_IDP=names):
        assert [error.id for error in check_token_cookie_names(None)] == ["idp.E012"]


def test_the_default_cookie_names_pass_the_system_check():
    assert check_token_cookie_names(None) == []
