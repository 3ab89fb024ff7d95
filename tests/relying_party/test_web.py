"""Browser sign-in at a demo app (relying_party/web.py) against a fake OpenID Provider served by `responses`.

The fake issuer answers discovery, its JWKS, /token and /userinfo the way OpenID Connect Core 1.0
says an OP does; each test changes one thing about it and checks what the app's pages do.
"""
from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from django.apps import apps
from django.conf import settings
from django.test import Client, modify_settings, override_settings

from relying_party.web import SESSION_KEY
from tests.relying_party.conftest import serve_jwks
from tests.relying_party.issuer import AUDIENCE, ISSUER, JWKS_URL, SigningKey, access_claims, b64url, sign, signing_key
from tests.relying_party.test_views import DEMO

pytestmark = pytest.mark.django_db

CLIENT_ID = "app1-client"
CLIENT_SECRET = "app1-secret"
DISCOVERY_URL = f"{ISSUER}/.well-known/openid-configuration"
AUTHORIZE_URL = f"{ISSUER}/authorize"
TOKEN_URL = f"{ISSUER}/token"
USERINFO_URL = f"{ISSUER}/userinfo"
END_SESSION_URL = f"{ISSUER}/logout"
APP = "http://testserver"
REDIRECT_URI = f"{APP}/oidc/callback"

OIDC = {"CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": CLIENT_SECRET, "SERVER_METADATA_URL": DISCOVERY_URL}
PROFILE = {"sub": "42", "name": "Alice Example", "preferred_username": "alice", "email": "alice@example.test"}


def discovery(**overrides: Any) -> dict[str, Any]:
    document = {
        "issuer": ISSUER,
        "authorization_endpoint": AUTHORIZE_URL,
        "token_endpoint": TOKEN_URL,
        "userinfo_endpoint": USERINFO_URL,
        "jwks_uri": JWKS_URL,
        "end_session_endpoint": END_SESSION_URL,
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
    }
    document.update(overrides)
    return {name: value for name, value in document.items() if value is not None}


def at_hash(access_token: str) -> str:
    # OpenID Connect Core 1.0 §3.1.3.6: the left half of the SHA-256 of the access token.
    return b64url(hashlib.sha256(access_token.encode()).digest()[:16])


class FakeIssuer:
    """The OP side of the code flow: remembers what /authorize was asked, answers /token and /userinfo."""

    def __init__(self, http: responses.RequestsMock, key: SigningKey) -> None:
        self.http = http
        self.key = key
        self.id_token_key = key
        self.id_claims: dict[str, Any] = {}
        self.authorization: dict[str, str] = {}
        self.token_requests: list[dict[str, list[str]]] = []
        self.token_answer: tuple[int, dict[str, Any]] | None = None
        self.refresh_answer: tuple[int, dict[str, Any]] | None = None
        self.profile = dict(PROFILE)
        self.serve_discovery(discovery())
        serve_jwks(http, key)
        http.add_callback(responses.POST, TOKEN_URL, callback=self.token)
        http.add_callback(responses.GET, USERINFO_URL, callback=self.userinfo)

    def serve_discovery(self, document: dict[str, Any]) -> None:
        self.http.remove(responses.GET, DISCOVERY_URL)
        self.http.get(DISCOVERY_URL, json=document)

    def authorize(self, location: str) -> None:
        """Take the authorization request the app redirected to, as /authorize would."""
        self.authorization = {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}

    def callback_query(self, **overrides: str) -> dict[str, str]:
        query = {"code": "the-code", "state": self.authorization["state"], "iss": ISSUER}
        query.update(overrides)
        return {name: value for name, value in query.items() if value is not None}

    def token(self, request: Any) -> tuple[int, dict[str, str], str]:
        form = parse_qs(request.body)
        self.token_requests.append(form)
        if form["grant_type"] == ["refresh_token"]:
            status, body = self.refresh_answer or (200, self.tokens(nonce=None))
            return status, {"Content-Type": "application/json"}, json.dumps(body)
        if self.token_answer is not None:
            status, body = self.token_answer
            return status, {"Content-Type": "application/json"}, json.dumps(body)
        # RFC 7636 §4.6: the verifier hashes to the challenge sent to /authorize.
        verifier = form["code_verifier"][0]
        assert b64url(hashlib.sha256(verifier.encode()).digest()) == self.authorization["code_challenge"]
        assert form["redirect_uri"] == [REDIRECT_URI]
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        assert request.headers["Authorization"] == expected
        return 200, {"Content-Type": "application/json"}, json.dumps(self.tokens(nonce=self.authorization["nonce"]))

    def tokens(self, nonce: str | None) -> dict[str, Any]:
        now = int(time.time())
        access_token = sign(self.key, access_claims(now=now, jti=uuid.uuid4().hex))
        claims = {
            "iss": ISSUER,
            "sub": "42",
            "aud": CLIENT_ID,
            "azp": CLIENT_ID,
            "exp": now + 300,
            "iat": now,
            "auth_time": now,
            "nonce": nonce,
            "sid": "session-1",
            "at_hash": at_hash(access_token),
        }
        claims.update(self.id_claims)
        claims = {name: value for name, value in claims.items() if value is not None}
        id_token = sign(self.id_token_key, claims, typ="JWT")
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "refresh_token": uuid.uuid4().hex,
            "id_token": id_token,
            "scope": "openid profile email",
        }

    def userinfo(self, request: Any) -> tuple[int, dict[str, str], str]:
        assert request.headers["Authorization"].startswith("Bearer ")
        return 200, {"Content-Type": "application/json"}, json.dumps(self.profile)

    def calls(self, url: str) -> int:
        return sum(1 for call in self.http.calls if call.request.url.split("?")[0] == url)


@pytest.fixture
def rp_settings_for_web() -> Iterator[None]:
    """settings/rp.py's demo app, under whichever settings module runs the tests."""
    relying_party = {**DEMO["RELYING_PARTY"], "OIDC": OIDC}
    with override_settings(**{**DEMO, "RELYING_PARTY": relying_party}):
        if apps.is_installed("relying_party"):
            yield
        else:
            with modify_settings(INSTALLED_APPS={"append": "relying_party"}):
                yield


@pytest.fixture
def issuer(http, key, rp_settings_for_web) -> FakeIssuer:
    fake = FakeIssuer(http, key)
    # The app calls its own /api/whoami over HTTP; here that call reaches it through the test client.
    def forward(request: Any) -> tuple[int, dict[str, str], bytes]:
        answer = Client().get(urlsplit(request.url).path, HTTP_AUTHORIZATION=request.headers["Authorization"])
        return answer.status_code, {"Content-Type": answer["Content-Type"]}, answer.content

    http.add_callback(responses.GET, f"{APP}/api/whoami", callback=forward)
    return fake


@pytest.fixture
def browser(issuer) -> Client:
    return Client()


def session_cookie(browser: Client) -> str | None:
    cookie = browser.cookies.get(settings.SESSION_COOKIE_NAME)
    return cookie.value if cookie else None


def start_sign_in(browser: Client, issuer: FakeIssuer) -> None:
    response = browser.post("/oidc/login")
    assert response.status_code == 302
    issuer.authorize(response["Location"])


def sign_in(browser: Client, issuer: FakeIssuer) -> None:
    start_sign_in(browser, issuer)
    response = browser.get("/oidc/callback", issuer.callback_query())
    assert response.status_code == 302, response.content


def assert_error_page(response: Any, status: int, code: str) -> None:
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    assert f"<code>{code}</code>" in response.content.decode()


def assert_signed_out(browser: Client) -> None:
    assert SESSION_KEY not in browser.session
    page = browser.get("/").content.decode()
    assert "Sign in with Kunci" in page


# --- The start page and the authorization request ---------------------------------------------------


def test_the_start_page_offers_sign_in_with_a_csrf_protected_form(browser):
    response = browser.get("/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Sign in with Kunci" in page
    assert 'action="/oidc/login"' in page
    assert "csrfmiddlewaretoken" in page


@pytest.mark.parametrize("method", ["get", "post"])
def test_sign_in_redirects_to_the_authorization_endpoint_with_state_nonce_and_s256_pkce(browser, issuer, method):
    response = getattr(browser, method)("/oidc/login")

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == AUTHORIZE_URL
    query = parse_qs(location.query)
    assert query["response_type"] == ["code"]
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [REDIRECT_URI]
    assert query["scope"] == ["openid profile email"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43  # base64url of a SHA-256 digest
    assert len(query["state"][0]) >= 20
    assert len(query["nonce"][0]) >= 20


def test_each_sign_in_gets_its_own_state_nonce_and_challenge(browser, issuer):
    start_sign_in(browser, issuer)
    first = dict(issuer.authorization)
    start_sign_in(browser, issuer)

    for name in ("state", "nonce", "code_challenge"):
        assert issuer.authorization[name] != first[name]


# --- The callback ------------------------------------------------------------------------------------


def test_the_callback_signs_the_user_in_and_cycles_the_session_key(browser, issuer):
    start_sign_in(browser, issuer)
    before = session_cookie(browser)

    response = browser.get("/oidc/callback", issuer.callback_query())

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert session_cookie(browser) not in (None, before)
    identity = browser.session[SESSION_KEY]
    assert identity["claims"]["sub"] == "42"
    assert identity["claims"]["sid"] == "session-1"
    assert identity["claims"]["aud"] == CLIENT_ID
    assert identity["profile"] == PROFILE
    assert set(identity["token"]) >= {"access_token", "refresh_token", "expires_at"}
    assert identity["id_token"].count(".") == 2
    # The code was redeemed once, with the client's credentials and the PKCE verifier.
    assert len(issuer.token_requests) == 1
    assert issuer.token_requests[0]["grant_type"] == ["authorization_code"]
    assert issuer.token_requests[0]["code"] == ["the-code"]


def test_a_state_is_used_once(browser, issuer):
    sign_in(browser, issuer)

    response = browser.get("/oidc/callback", issuer.callback_query())

    assert_error_page(response, 400, "invalid_state")
    assert len(issuer.token_requests) == 1


@pytest.mark.parametrize("state", ["not-the-state", None])
def test_a_wrong_or_missing_state_is_an_html_400_and_the_code_is_not_redeemed(browser, issuer, state):
    start_sign_in(browser, issuer)

    response = browser.get("/oidc/callback", issuer.callback_query(state=state))

    assert_error_page(response, 400, "invalid_state")
    assert issuer.token_requests == []
    assert_signed_out(browser)


def test_a_callback_in_another_browser_is_refused(browser, issuer):
    start_sign_in(browser, issuer)

    response = Client().get("/oidc/callback", issuer.callback_query())

    assert_error_page(response, 400, "invalid_state")
    assert issuer.token_requests == []


def test_a_declined_sign_in_shows_a_page(browser, issuer):
    start_sign_in(browser, issuer)

    response = browser.get(
        "/oidc/callback", {"error": "access_denied", "error_description": "no", "state": issuer.authorization["state"]}
    )

    assert_error_page(response, 403, "access_denied")
    assert "did not allow" in response.content.decode()
    assert_signed_out(browser)


def test_an_error_code_from_the_issuer_is_shown_escaped(browser, issuer):
    start_sign_in(browser, issuer)

    response = browser.get("/oidc/callback", {"error": "<script>x</script>", "state": issuer.authorization["state"]})

    assert response.status_code == 400
    assert "<script>x" not in response.content.decode()
    assert "&lt;script&gt;x" in response.content.decode()


@pytest.mark.parametrize("iss", ["https://evil.test", None])
def test_an_authorization_response_without_our_iss_is_refused_before_redeeming(browser, issuer, iss):
    # RFC 9207 §2.4: the issuer advertises authorization_response_iss_parameter_supported.
    start_sign_in(browser, issuer)

    response = browser.get("/oidc/callback", issuer.callback_query(iss=iss))

    assert_error_page(response, 400, "issuer_mismatch")
    assert issuer.token_requests == []


def test_a_refused_code_is_an_html_page(browser, issuer):
    issuer.token_answer = (400, {"error": "invalid_grant", "error_description": "code expired"})
    start_sign_in(browser, issuer)

    response = browser.get("/oidc/callback", issuer.callback_query())

    assert_error_page(response, 502, "token_refused")
    assert_signed_out(browser)


def test_a_token_endpoint_that_fails_is_an_html_page(browser, issuer, http):
    http.replace(responses.POST, TOKEN_URL, body="<html>bad gateway</html>", status=502)
    start_sign_in(browser, issuer)

    response = browser.get("/oidc/callback", issuer.callback_query())

    assert_error_page(response, 503, "issuer_unavailable")
    assert_signed_out(browser)


@pytest.mark.parametrize(
    "claims",
    [
        {"nonce": "another-nonce"},
        {"nonce": None},
        {"aud": "another-client"},
        {"aud": "another-client", "azp": None},
        {"aud": ["another-client", "a-third"], "azp": None},
        {"aud": None},
        {"iss": "https://evil.test"},
        {"exp": int(time.time()) - 3600},
        {"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"},
    ],
    ids=["wrong-nonce", "no-nonce", "wrong-aud-our-azp", "wrong-aud", "wrong-audiences", "no-aud", "wrong-iss", "expired", "wrong-at-hash"],
)
def test_an_id_token_with_wrong_claims_is_refused(browser, issuer, claims):
    issuer.id_claims = claims
    start_sign_in(browser, issuer)

    response = browser.get("/oidc/callback", issuer.callback_query())

    assert_error_page(response, 502, "invalid_id_token")
    assert_signed_out(browser)


def test_an_id_token_signed_by_another_key_is_refused(browser, issuer, key):
    stranger = signing_key("stranger")
    # Same kid, other key: the signature cannot verify against the published key.
    issuer.id_token_key = SigningKey(stranger.private, key.kid)
    start_sign_in(browser, issuer)

    response = browser.get("/oidc/callback", issuer.callback_query())

    assert_error_page(response, 502, "invalid_id_token")
    assert_signed_out(browser)


def test_userinfo_for_another_subject_is_refused(browser, issuer):
    issuer.profile["sub"] = "43"
    start_sign_in(browser, issuer)

    response = browser.get("/oidc/callback", issuer.callback_query())

    assert_error_page(response, 502, "userinfo_sub_mismatch")
    assert_signed_out(browser)


def test_an_unreachable_issuer_is_an_html_503(browser, issuer, http):
    http.replace(responses.GET, DISCOVERY_URL, body=requests.ConnectionError("refused"))

    response = browser.post("/oidc/login")

    assert_error_page(response, 503, "issuer_unavailable")


def test_discovery_for_another_issuer_is_refused(browser, issuer):
    issuer.serve_discovery(discovery(issuer="https://evil.test"))

    response = browser.post("/oidc/login")

    assert_error_page(response, 502, "issuer_mismatch")


@pytest.mark.parametrize("missing", ["authorization_endpoint", "token_endpoint", "jwks_uri"])
def test_an_issuer_without_the_code_flow_endpoints_is_an_html_page(browser, issuer, missing):
    issuer.serve_discovery(discovery(**{missing: None}))

    response = browser.post("/oidc/login")

    assert_error_page(response, 502, "issuer_not_oidc")
    assert missing in response.content.decode()


# --- Signed in ---------------------------------------------------------------------------------------


def test_the_signed_in_page_shows_the_user_escaped(browser, issuer):
    issuer.profile["name"] = "<script>alert(1)</script>"
    sign_in(browser, issuer)

    response = browser.get("/")

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for shown in ("alice", "alice@example.test", "<code>42</code>", "<code>session-1</code>", "Sign out"):
        assert shown in page
    assert "Sign in with Kunci" not in page


def test_the_whoami_action_calls_the_apps_api_with_the_access_token(browser, issuer):
    sign_in(browser, issuer)

    response = browser.post("/oidc/whoami")

    assert response.status_code == 200
    page = response.content.decode()
    assert "/api/whoami answered 200" in page
    assert "&quot;sub&quot;: &quot;42&quot;" in page
    assert "&quot;sid&quot;: &quot;session-1&quot;" in page
    assert issuer.calls(f"{APP}/api/whoami") == 1


def test_an_expired_access_token_is_refreshed_once_before_calling_whoami(browser, issuer):
    sign_in(browser, issuer)
    session = browser.session
    old = session[SESSION_KEY]["token"]
    session[SESSION_KEY] = {**session[SESSION_KEY], "token": {**old, "expires_at": int(time.time()) - 1}}
    session.save()

    response = browser.post("/oidc/whoami")

    assert "/api/whoami answered 200" in response.content.decode()
    refreshes = [form for form in issuer.token_requests if form["grant_type"] == ["refresh_token"]]
    assert len(refreshes) == 1
    assert refreshes[0]["refresh_token"] == [old["refresh_token"]]
    stored = browser.session[SESSION_KEY]["token"]
    assert stored["access_token"] != old["access_token"]
    assert stored["refresh_token"] != old["refresh_token"]
    assert stored["expires_at"] > time.time()


def test_a_refused_refresh_signs_the_user_out(browser, issuer):
    issuer.refresh_answer = (400, {"error": "invalid_grant"})
    sign_in(browser, issuer)
    session = browser.session
    session[SESSION_KEY]["token"]["expires_at"] = int(time.time()) - 1
    session.save()

    response = browser.post("/oidc/whoami")

    assert_error_page(response, 403, "session_ended")
    assert_signed_out(browser)


def test_whoami_needs_a_signed_in_user(browser, issuer):
    response = browser.post("/oidc/whoami")

    assert response.status_code == 302
    assert issuer.calls(f"{APP}/api/whoami") == 0


def test_the_bearer_api_is_unchanged(browser, issuer, key):
    response = browser.get("/api/whoami", HTTP_AUTHORIZATION=f"Bearer {sign(key, access_claims(now=time.time()))}")

    assert response.status_code == 200
    assert response.json()["sub"] == "42"
    assert browser.get("/api/whoami").status_code == 401


# --- Sign-out ----------------------------------------------------------------------------------------


def test_sign_out_ends_the_local_session_and_redirects_to_end_session(browser, issuer):
    sign_in(browser, issuer)
    id_token = browser.session[SESSION_KEY]["id_token"]
    signed_in_cookie = session_cookie(browser)

    response = browser.post("/oidc/logout")

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == END_SESSION_URL
    query = parse_qs(location.query)
    assert query["id_token_hint"] == [id_token]
    assert query["post_logout_redirect_uri"] == [f"{APP}/"]
    assert query["client_id"] == [CLIENT_ID]
    assert len(query["state"][0]) >= 20
    assert session_cookie(browser) != signed_in_cookie
    assert_signed_out(browser)

    # RP-Initiated Logout 1.0 §3: the issuer sends the browser back with our state.
    back = browser.get("/", {"state": query["state"][0]})
    assert "You are signed out" in back.content.decode()


def test_a_foreign_state_on_return_shows_no_notice(browser, issuer):
    response = browser.get("/", {"state": "<b>not ours</b>"})

    assert response.status_code == 200
    assert "You are signed out" not in response.content.decode()
    assert "<b>not ours" not in response.content.decode()


def test_sign_out_by_get_asks_for_confirmation(browser, issuer):
    sign_in(browser, issuer)

    response = browser.get("/oidc/logout")

    assert response.status_code == 200
    assert 'method="post"' in response.content.decode()
    assert SESSION_KEY in browser.session


def test_without_an_end_session_endpoint_sign_out_is_local_and_says_so(browser, issuer):
    sign_in(browser, issuer)
    issuer.serve_discovery(discovery(end_session_endpoint=None))
    from relying_party.web import oidc_client

    oidc_client().server_metadata.clear()

    response = browser.post("/oidc/logout")

    assert response.status_code == 200
    assert "end_session_endpoint" in response.content.decode()
    assert_signed_out(browser)


# --- Not registered ----------------------------------------------------------------------------------


@pytest.mark.parametrize("oidc", [None, {"CLIENT_ID": "", "CLIENT_SECRET": ""}])
def test_an_unregistered_app_says_so_instead_of_failing(http, rp_settings_for_web, oidc):
    with override_settings(RELYING_PARTY={**DEMO["RELYING_PARTY"], "OIDC": oidc}):
        browser = Client()
        page = browser.get("/")
        login = browser.post("/oidc/login")
        callback = browser.get("/oidc/callback", {"code": "x", "state": "y"})

    assert page.status_code == 200
    assert "Not registered with Kunci" in page.content.decode()
    assert "make run" in page.content.decode()
    assert login.status_code == 404
    assert "Not registered with Kunci" in login.content.decode()
    assert callback.status_code == 404
    assert len(http.calls) == 0


# --- Languages ------------------------------------------------------------------------------------


def test_the_pages_speak_the_browsers_language(browser, issuer):
    page = browser.get("/", HTTP_ACCEPT_LANGUAGE="ru-RU,ru;q=0.9").content.decode()

    assert '<html lang="ru">' in page and "Войти через Kunci" in page and "Sign in with Kunci" not in page


def test_an_error_page_speaks_the_browsers_language(browser, issuer):
    start_sign_in(browser, issuer)

    response = browser.get(
        "/oidc/callback", {"error": "access_denied", "state": issuer.authorization["state"]}, HTTP_ACCEPT_LANGUAGE="ko",
    )

    assert_error_page(response, 403, "access_denied")
    assert "<h1>로그인이 취소되었습니다</h1>" in response.content.decode()


@pytest.mark.parametrize("accept_language, ui_locales", [("ko-KR,ko;q=0.9", "ko"), ("id", "id"), ("de-DE", "en")])
def test_sign_in_asks_the_issuer_for_the_pages_language(browser, issuer, accept_language, ui_locales):
    response = browser.post("/oidc/login", HTTP_ACCEPT_LANGUAGE=accept_language)

    # OpenID Connect Core 1.0 §3.1.2.1: ui_locales.
    assert parse_qs(urlsplit(response["Location"]).query)["ui_locales"] == [ui_locales]


def test_sign_out_asks_the_issuer_for_the_pages_language(browser, issuer):
    sign_in(browser, issuer)

    response = browser.post("/oidc/logout", HTTP_ACCEPT_LANGUAGE="ru")

    # RP-Initiated Logout 1.0 §2: ui_locales.
    assert parse_qs(urlsplit(response["Location"]).query)["ui_locales"] == ["ru"]


# --- CSRF --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/oidc/login", "/oidc/whoami", "/oidc/logout"])
def test_the_forms_are_csrf_protected(issuer, path):
    browser = Client(enforce_csrf_checks=True)
    browser.get("/")
    token = browser.cookies[settings.CSRF_COOKIE_NAME].value

    refused = browser.post(path)
    accepted = browser.post(path, {"csrfmiddlewaretoken": token})

    assert refused.status_code == 403
    assert accepted.status_code == 302
