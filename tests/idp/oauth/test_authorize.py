"""The authorization endpoint, named after the OpenID Foundation's Basic OP test modules it implements."""
from __future__ import annotations

import jwt
import pytest
from django.contrib.sessions.models import Session
from django.test import Client as BrowserClient
from django.utils import timezone

from idp.accounts import browser as browser_sessions
from idp.checks import check_cache_seconds
from idp.models import LoginSession
from idp.oauth import codes
from idp.oauth.models import Consent
from idp.process_cache import ProcessCache
from tests.idp.oauth.conftest import (
    CHALLENGE,
    REDIRECT_URI,
    auth_params,
    carried,
    exchange,
    get_code,
    redirect_query,
    register,
    sign_in,
)
from tests.relying_party.conftest import FakeClock

ISSUER = "http://127.0.0.1:8000"


def test_oidcc_server_success_redirects_with_code_state_and_iss(browser, rp):
    query = redirect_query(browser.get("/authorize", auth_params(rp)))

    assert set(query) == {"code", "state", "iss"}
    assert query["state"] == "af0ifjsldkj"
    # RFC 9207 §2: the issuer identifier in every authorization response (mix-up defence).
    assert query["iss"] == ISSUER
    bound = carried(query["code"])
    assert bound.client_id == rp.client.pk and bound.redirect_uri_digest == codes._digest(REDIRECT_URI)
    assert bound.code_challenge == CHALLENGE and bound.nonce == "n-0S6_WzA2Mj"
    assert bound.sid == browser.session["kunci_sid"]


def test_oidcc_ensure_post_request_succeeds(browser, rp):
    response = browser.post("/authorize", auth_params(rp))

    assert "code" in redirect_query(response)


def test_oidcc_response_type_missing_redirects_invalid_request(browser, rp):
    query = redirect_query(browser.get("/authorize", auth_params(rp, response_type=None)))

    assert query["error"] == "invalid_request"
    assert query["state"] == "af0ifjsldkj" and query["iss"] == ISSUER


@pytest.mark.parametrize("response_type", ["token", "id_token", "code id_token", "code token"])
def test_only_the_code_flow_is_served(browser, rp, response_type):
    query = redirect_query(browser.get("/authorize", auth_params(rp, response_type=response_type)))

    assert query["error"] == "unsupported_response_type"


def test_scope_without_openid_is_invalid_scope(browser, rp):
    query = redirect_query(browser.get("/authorize", auth_params(rp, scope="profile")))

    assert query["error"] == "invalid_scope"


@pytest.mark.parametrize("scope", ["email openid profile", "openid address phone", "openid unknown-scope"])
def test_oidc_ensure_other_scope_order_succeeds_and_unsupported_scopes_are_ignored(browser, rp, scope):
    granted = carried(get_code(browser, rp, scope=scope)).scope.split()

    assert "openid" in granted
    assert not {"address", "phone", "unknown-scope"} & set(granted)


@pytest.mark.parametrize("params", [
    {"display": "page"}, {"display": "popup"}, {"ui_locales": "se"}, {"claims_locales": "se"},
    {"acr_values": "1 2"}, {"extra": "foobar"}, {"login_hint": "alice@example.com"},
], ids=["oidcc-display-page", "oidcc-display-popup", "oidcc-ui-locales", "oidcc-claims-locales",
        "oidcc-ensure-request-with-acr-values-succeeds", "oidcc-ensure-request-with-unknown-parameter-succeeds",
        "oidcc-login-hint"])
def test_oidcc_optional_parameters_are_accepted(browser, rp, params):
    get_code(browser, rp, **params)


def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(browser, rp):
    assert carried(get_code(browser, rp, nonce=None)).nonce == ""


@pytest.mark.parametrize("param, error", [
    ("request", "request_not_supported"), ("request_uri", "request_uri_not_supported"),
], ids=["oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported",
        "oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported"])
def test_oidcc_request_objects_are_rejected_as_unsupported(browser, rp, param, error):
    value = "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9." if param == "request" else "https://rp.example/req"
    query = redirect_query(browser.get("/authorize", auth_params(rp, **{param: value})))

    assert query["error"] == error
    assert query["state"] == "af0ifjsldkj"


# oidcc-ensure-registered-redirect-uri and the attack catalogue's redirect URI variants.
@pytest.mark.parametrize("redirect_uri", [
    REDIRECT_URI + "/", REDIRECT_URI + "?x=1", "https://rp.example:8443/callback", "http://rp.example/callback",
    "https://user@rp.example/callback", "https://RP.example/callback", "https://rp.example/Callback",
    REDIRECT_URI + "#frag", "https://evil.example/callback", "",
])
def test_oidcc_ensure_registered_redirect_uri_shows_an_error_page_and_never_redirects(browser, rp, redirect_uri):
    response = browser.get("/authorize", auth_params(rp, redirect_uri=redirect_uri), HTTP_ACCEPT="text/html")

    assert response.status_code == 400
    assert "Location" not in response
    assert b"invalid_redirect_uri" in response.content


@pytest.mark.parametrize("client_id", ["unknown", "", None])
def test_an_unknown_client_gets_an_error_page_not_a_redirect(browser, rp, client_id):
    response = browser.get("/authorize", auth_params(rp, client_id=client_id))

    assert response.status_code == 400
    assert "Location" not in response
    assert b"invalid_client" in response.content


def test_reflected_markup_is_escaped_on_the_error_pages(browser, rp):
    markup = '<script>alert(1)</script>'
    for params in (auth_params(rp, client_id=markup, state=markup),
                   auth_params(rp, redirect_uri=f"https://rp.example/{markup}", state=markup)):
        response = browser.get("/authorize", params)

        assert response.status_code == 400
        assert b"<script>" not in response.content


# PKCE (RFC 7636, RFC 9700 §2.1.1): S256 only; required of public clients.
@pytest.mark.parametrize("overrides", [
    {"code_challenge_method": "plain"}, {"code_challenge_method": None}, {"code_challenge_method": "S512"},
    {"code_challenge": "too-short"}, {"code_challenge": None},
], ids=["plain", "method-missing-means-plain", "unknown-method", "malformed-challenge", "method-without-challenge"])
def test_pkce_downgrades_are_refused(browser, rp, overrides):
    query = redirect_query(browser.get("/authorize", auth_params(rp, **overrides)))

    assert query["error"] == "invalid_request" and "code" not in query


def test_a_public_client_must_send_a_code_challenge(browser, public_rp):
    query = redirect_query(browser.get("/authorize", auth_params(public_rp, code_challenge=None, code_challenge_method=None)))

    assert query["error"] == "invalid_request"


def test_a_confidential_client_may_omit_pkce(browser, rp):
    assert carried(get_code(browser, rp, code_challenge=None, code_challenge_method=None)).code_challenge == ""


def test_oidcc_prompt_none_not_logged_in_redirects_login_required_without_ui(rp):
    response = BrowserClient().get("/authorize", auth_params(rp, prompt="none"))

    query = redirect_query(response)
    assert query["error"] == "login_required"
    assert query["state"] == "af0ifjsldkj" and query["iss"] == ISSUER


def test_oidcc_prompt_none_logged_in_gets_a_code(browser, rp):
    get_code(browser, rp, prompt="none")


def test_without_a_session_the_browser_goes_to_the_sign_in_page_and_back(user, rp):
    browser = BrowserClient()
    response = browser.get("/authorize", auth_params(rp, login_hint="alice@example.com"))

    assert response.status_code == 302
    assert response["Location"].startswith("/signin?next=%2Fauthorize%3F")
    page = browser.get(response["Location"])
    # login_hint prefills the sign-in page (OIDC Core §3.1.2.1).
    assert b'value="alice@example.com"' in page.content
    next_url = page.context["form"].initial["next"]
    signed_in = browser.post("/signin", {"username": "alice", "password": "correct horse battery staple", "next": next_url})
    assert signed_in["Location"] == next_url
    assert "code" in redirect_query(browser.get(next_url))


def test_oidcc_prompt_login_asks_for_the_password_again(browser, rp):
    response = browser.get("/authorize", auth_params(rp, prompt="login"))

    assert response.status_code == 302 and response["Location"].startswith("/signin?")
    # The request it comes back to no longer asks for a sign-in, or it would loop.
    assert "prompt" not in response["Location"]


def test_oidcc_max_age_1_after_a_second_asks_for_the_password_again(browser, rp):
    LoginSession.objects.update(auth_time=timezone.now() - timezone.timedelta(seconds=2))

    response = browser.get("/authorize", auth_params(rp, max_age="1"))

    assert response.status_code == 302 and response["Location"].startswith("/signin?")
    assert "max_age" not in response["Location"]
    query = redirect_query(browser.get("/authorize", auth_params(rp, max_age="1", prompt="none")))
    assert query["error"] == "login_required"


def test_oidcc_max_age_10000_reuses_the_session(browser, rp):
    get_code(browser, rp, max_age="10000")


@pytest.mark.parametrize("max_age", ["-1", "x", "1.5"])
def test_a_malformed_max_age_is_invalid_request(browser, rp, max_age):
    assert redirect_query(browser.get("/authorize", auth_params(rp, max_age=max_age)))["error"] == "invalid_request"


def test_prompt_none_with_another_value_is_invalid_request(browser, rp):
    assert redirect_query(browser.get("/authorize", auth_params(rp, prompt="none login")))["error"] == "invalid_request"


def test_oidcc_id_token_hint_with_prompt_none_gets_a_code(browser, rp, api):
    id_token = exchange(api, rp, get_code(browser, rp)).json()["id_token"]

    get_code(browser, rp, prompt="none", id_token_hint=id_token)


def test_an_expired_id_token_hint_of_ours_is_accepted(browser, rp, api, settings):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "ACCESS_TOKEN_LIFETIME": timezone.timedelta(seconds=-60)}
    id_token = exchange(api, rp, get_code(browser, rp)).json()["id_token"]

    get_code(browser, rp, prompt="none", id_token_hint=id_token)


def test_an_id_token_hint_from_another_issuer_is_refused(browser, rp):
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    foreign = jwt.encode({"iss": "https://evil.example", "sub": "1", "aud": rp.client_id}, key, algorithm="RS256",
                         headers={"kid": "evil", "typ": "JWT"})

    query = redirect_query(browser.get("/authorize", auth_params(rp, prompt="none", id_token_hint=foreign)))

    assert query["error"] == "invalid_request"


def test_sso_a_second_client_gets_a_code_under_the_same_sid_without_a_password(browser, rp, api):
    other = register("Second app")

    sids = {carried(get_code(browser, rp)).sid, carried(get_code(browser, other)).sid}

    assert sids == {browser.session["kunci_sid"]}


def _tables(captured) -> list[str]:
    return [query["sql"].split('"')[1] for query in captured.captured_queries]


def test_sso_reads_the_django_session_and_the_op_session_with_its_user_and_writes_nothing(
    browser, rp, settings, django_assert_num_queries
):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "CLIENT_CACHE_SECONDS": 5, "SIGN_IN_CACHE_SECONDS": 0}
    get_code(browser, rp)  # reads the client into this process's cache

    with django_assert_num_queries(2) as captured:
        get_code(browser, rp)

    assert _tables(captured) == ["django_session", "idp_loginsession"]
    assert '"idp_user"' in captured.captured_queries[1]["sql"]


# The sign-in cache (idp/accounts/browser.py): a process remembers which OP session a Django
# session names, never whether it is still open.


@pytest.fixture
def sign_ins(settings, monkeypatch) -> FakeClock:
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "CLIENT_CACHE_SECONDS": 5, "SIGN_IN_CACHE_SECONDS": 30}
    clock = FakeClock()
    monkeypatch.setattr(browser_sessions, "_sign_ins", ProcessCache(max_entries=10, clock=clock))
    return clock


def test_sso_in_a_process_that_read_the_browsers_session_is_one_statement(browser, rp, sign_ins, django_assert_num_queries):
    get_code(browser, rp)

    with django_assert_num_queries(1) as captured:
        code = get_code(browser, rp)

    assert _tables(captured) == ["idp_loginsession"]
    assert carried(code).sid == browser.session["kunci_sid"]


def test_after_sign_in_cache_seconds_the_django_session_is_read_again(browser, rp, sign_ins, django_assert_num_queries):
    get_code(browser, rp)
    sign_ins.advance(30)

    with django_assert_num_queries(2) as captured:
        get_code(browser, rp)

    assert _tables(captured) == ["django_session", "idp_loginsession"]


def test_a_session_ended_elsewhere_needs_a_sign_in_at_once(browser, rp, sign_ins):
    get_code(browser, rp)
    # As another process ends it (logout everywhere, an administrator): nothing reaches this one's cache.
    LoginSession.objects.filter(sid=browser.session["kunci_sid"]).update(ended_at=timezone.now())

    response = browser.get("/authorize", auth_params(rp))

    assert response.status_code == 302 and response["Location"].startswith("/signin?")


def test_a_password_changed_elsewhere_signs_the_browser_out_at_once(browser, rp, sign_ins, user):
    get_code(browser, rp)
    user.set_password("a-new-password-9f3k")
    user.save()  # without ending the session, as a shell or a data migration could

    response = browser.get("/authorize", auth_params(rp))

    assert response.status_code == 302 and response["Location"].startswith("/signin?")
    assert "_auth_user_id" not in browser.session  # flushed, as django.contrib.auth.get_user does


def test_a_user_deactivated_elsewhere_needs_a_sign_in_at_once(browser, rp, sign_ins, user):
    get_code(browser, rp)
    type(user).objects.filter(pk=user.pk).update(is_active=False)

    response = browser.get("/authorize", auth_params(rp))

    assert response.status_code == 302 and response["Location"].startswith("/signin?")


def test_a_new_sign_in_under_the_same_django_session_is_read_again(browser, rp, sign_ins):
    first = carried(get_code(browser, rp)).sid
    LoginSession.objects.filter(sid=first).update(ended_at=timezone.now())
    sign_in(browser)  # the same user: Django keeps the session key, which now names a new OP session

    second = carried(get_code(browser, rp)).sid

    assert second != first and second == browser.session["kunci_sid"]


def test_a_sign_out_at_the_admin_in_this_process_is_forgotten_at_once(browser, rp, sign_ins, user, settings):
    type(user).objects.filter(pk=user.pk).update(is_staff=True)
    get_code(browser, rp)
    signed_out_key = browser.cookies[settings.SESSION_COOKIE_NAME].value

    assert browser.post("/admin/logout/").status_code == 200  # Django's logout: the OP session goes on
    assert LoginSession.objects.get().ended_at is None
    replayed = BrowserClient()
    replayed.cookies[settings.SESSION_COOKIE_NAME] = signed_out_key

    response = replayed.get("/authorize", auth_params(rp))
    assert response.status_code == 302 and response["Location"].startswith("/signin?")


def test_a_django_session_deleted_elsewhere_is_read_again_within_sign_in_cache_seconds(browser, rp, sign_ins):
    # What the cache may not know at once: a Django session deleted while its OP session goes on
    # (Django's admin logout). Its OP session still holds, and within the cache's seconds so does SSO.
    get_code(browser, rp)
    Session.objects.filter(session_key=browser.session.session_key).delete()
    assert "code" in redirect_query(browser.get("/authorize", auth_params(rp)))

    sign_ins.advance(30)
    response = browser.get("/authorize", auth_params(rp))

    assert response.status_code == 302 and response["Location"].startswith("/signin?")


# Consent for untrusted clients (OIDC Core §3.1.2.4).
def test_an_untrusted_client_gets_the_consent_page_and_approval_gives_a_code(browser, untrusted_rp):
    page = browser.get("/authorize", auth_params(untrusted_rp))

    assert page.status_code == 200 and b"Third-party app" in page.content
    request = page.context["authorization_request"]
    query = redirect_query(browser.post("/authorize/consent", {"authorization_request": request, "decision": "approve"}))
    assert "code" in query and query["state"] == "af0ifjsldkj"
    assert Consent.objects.get().scope == "openid profile email"
    # Asked once: the next request goes straight through.
    get_code(browser, untrusted_rp)


def test_denying_consent_redirects_access_denied(browser, untrusted_rp):
    request = browser.get("/authorize", auth_params(untrusted_rp)).context["authorization_request"]

    query = redirect_query(browser.post("/authorize/consent", {"authorization_request": request, "decision": "deny"}))

    assert query["error"] == "access_denied" and "code" not in query
    assert not Consent.objects.exists()


def test_the_consent_form_is_csrf_protected(user, untrusted_rp):
    browser = BrowserClient(enforce_csrf_checks=True)
    sign_in_response = browser.get("/signin")
    browser.post("/signin", {
        "username": "alice", "password": "correct horse battery staple",
        "csrfmiddlewaretoken": sign_in_response.context["csrf_token"],
    })
    request = browser.get("/authorize", auth_params(untrusted_rp)).context["authorization_request"]

    response = browser.post("/authorize/consent", {"authorization_request": request, "decision": "approve"})

    assert response.status_code == 403 and "Location" not in response
    assert not Consent.objects.exists()


def test_prompt_none_with_consent_needed_is_consent_required(browser, untrusted_rp):
    query = redirect_query(browser.get("/authorize", auth_params(untrusted_rp, prompt="none")))

    assert query["error"] == "consent_required"


def test_prompt_consent_asks_again(browser, untrusted_rp):
    Consent.objects.create(user_id=browser.session["_auth_user_id"], client=untrusted_rp.client, scope="openid profile email")

    page = browser.get("/authorize", auth_params(untrusted_rp, prompt="consent"))

    assert page.status_code == 200 and "authorization_request" in page.context


def test_prompt_none_never_shows_ui(untrusted_rp, rp, user):
    # Not signed in, or signed in but without consent: a redirect to the client each time, no page.
    for browser, client in ((BrowserClient(), rp), (None, untrusted_rp)):
        if browser is None:
            browser = BrowserClient()
            sign_in(browser)
        response = browser.get("/authorize", auth_params(client, prompt="none"))
        assert redirect_query(response)["error"] in {"login_required", "consent_required"}


@pytest.mark.parametrize("scope", ["openid address", "openid phone", "openid profile email address phone"],
                         ids=["oidcc-scope-address", "oidcc-scope-phone", "oidcc-scope-all"])
def test_oidcc_scope_address_phone_all_succeed_without_unsupported_claims(browser, rp, api, scope):
    # Kunci holds no address or phone: the scopes are ignored, not refused (RFC 6749 §3.3), and
    # the token response's `scope` says what was granted.
    body = exchange(api, rp, get_code(browser, rp, scope=scope)).json()

    assert not {"address", "phone"} & set(body["scope"].split())
    assert "openid" in body["scope"].split()


def test_oidcc_claims_essential_is_ignored_and_succeeds(browser, rp):
    # claims_parameter_supported is false (discovery): the parameter is ignored (OIDC Core §5.5).
    get_code(browser, rp, claims='{"userinfo":{"name":{"essential":true}}}')


def test_oidcc_ensure_request_object_with_redirect_uri_is_rejected_as_unsupported(browser, rp):
    request_object = jwt.encode({"redirect_uri": "https://evil.example/cb", "client_id": rp.client_id}, key="", algorithm="none")

    query = redirect_query(browser.get("/authorize", auth_params(rp, request=request_object)))

    # The error goes to the redirect_uri of the request itself, never to the one inside the object.
    assert query["error"] == "request_not_supported"


def test_oidcc_idtoken_unsigned_is_never_issued(browser, rp, api):
    id_token = exchange(api, rp, get_code(browser, rp)).json()["id_token"]

    assert jwt.get_unverified_header(id_token)["alg"] == "RS256"


@pytest.mark.parametrize(("seconds", "errors"), [(-1, ["idp.E007"]), (61, ["idp.E007"]), ("30", ["idp.E007"]), (0, []), (60, [])])
def test_the_sign_in_cache_lifetime_is_checked_at_start_up(settings, seconds, errors):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "SIGN_IN_CACHE_SECONDS": seconds}

    assert [error.id for error in check_cache_seconds(None)] == errors
