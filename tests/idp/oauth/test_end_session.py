"""RP-Initiated Logout 1.0, named after the modules of the RP-Initiated Logout OP test plan.

Each `test_oidcc_rp_initiated_logout*` implements what the conformance suite's module of that name
checks: the suite signs in by the code flow, sends the browser to the end-session endpoint with
`id_token_hint`, `post_logout_redirect_uri` and `state` (or fewer), and then proves the sign-out
with a `prompt=none` authorization request, which must answer `login_required`.
"""
from __future__ import annotations

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client as BrowserClient
from django.utils import timezone

from idp.models import LoginSession, SessionEnd
from tests.idp.oauth.conftest import auth_params, exchange, get_code, redirect_query, register

BYE = "https://rp.example/bye"


def _id_token(browser, rp, api) -> str:
    return exchange(api, rp, get_code(browser, rp)).json()["id_token"]


def _assert_signed_out(browser, rp) -> None:
    """The OP session ended, and a `prompt=none` request now answers login_required (OIDC Core §3.1.2.6)."""
    session = LoginSession.objects.get()
    assert session.ended_at is not None and session.end_reason == SessionEnd.RP_LOGOUT
    assert redirect_query(browser.get("/authorize", auth_params(rp, prompt="none")))["error"] == "login_required"


def _assert_signed_out_page(response) -> None:
    assert response.status_code == 200 and "Location" not in response
    assert b"You have signed out of Kunci" in response.content


def _assert_refused_and_still_signed_in(response) -> None:
    assert response.status_code == 400 and "Location" not in response
    assert LoginSession.objects.get().ended_at is None


def test_oidcc_rp_initiated_logout(browser, rp, api):
    id_token = _id_token(browser, rp, api)
    state = "S" * 64 + "-._~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"  # 128 characters

    response = browser.get("/logout", {"id_token_hint": id_token, "post_logout_redirect_uri": BYE, "state": state})

    # RP-Initiated Logout 1.0 §3: back to the registered URI, with state unchanged and nothing else.
    assert response.status_code == 302
    assert response["Location"] == f"{BYE}?state={state}"
    _assert_signed_out(browser, rp)


def test_oidcc_rp_initiated_logout_no_state(browser, rp, api):
    id_token = _id_token(browser, rp, api)

    response = browser.get("/logout", {"id_token_hint": id_token, "post_logout_redirect_uri": BYE})

    assert response.status_code == 302 and response["Location"] == BYE
    _assert_signed_out(browser, rp)


def test_oidcc_rp_initiated_logout_no_post_logout_redirect_uri(browser, rp, api):
    id_token = _id_token(browser, rp, api)

    response = browser.get("/logout", {"id_token_hint": id_token, "state": "s3"})

    _assert_signed_out_page(response)
    _assert_signed_out(browser, rp)


def test_oidcc_rp_initiated_logout_no_params(browser, rp, api):
    _id_token(browser, rp, api)

    page = browser.get("/logout")

    # No hint: the user confirms first (§2), then sees that they are signed out, with no redirect.
    assert page.status_code == 200 and "Location" not in page
    assert LoginSession.objects.get().ended_at is None
    _assert_signed_out_page(browser.post("/logout/confirm", {}))
    _assert_signed_out(browser, rp)


def test_oidcc_rp_initiated_logout_only_state(browser, rp, api):
    _id_token(browser, rp, api)

    page = browser.get("/logout", {"state": "s4"})

    assert page.status_code == 200 and "Location" not in page
    assert LoginSession.objects.get().ended_at is None
    _assert_signed_out_page(browser.post("/logout/confirm", {"state": "s4"}))
    _assert_signed_out(browser, rp)


def test_oidcc_rp_initiated_logout_no_id_token_hint(browser, rp, api):
    _id_token(browser, rp, api)

    # The suite's request names no client: nothing proves the return address is the client's (§3).
    response = browser.get("/logout", {"post_logout_redirect_uri": BYE, "state": "s5"})

    _assert_refused_and_still_signed_in(response)


def test_oidcc_rp_initiated_logout_modified_id_token_hint(browser, rp, api):
    id_token = _id_token(browser, rp, api)
    # The suite's change: the same claims, the header switched to alg "none", the signature dropped.
    payload = id_token.split(".")[1]
    unsigned = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode() + f".{payload}."

    response = browser.get("/logout", {"id_token_hint": unsigned, "post_logout_redirect_uri": BYE, "state": "s6"})

    _assert_refused_and_still_signed_in(response)


def test_rp_initiated_logout_by_post(browser, rp, api):
    id_token = _id_token(browser, rp, api)

    response = browser.post("/logout", {"id_token_hint": id_token, "post_logout_redirect_uri": BYE})

    assert response["Location"] == BYE
    assert LoginSession.objects.get().ended_at is not None


def test_an_expired_id_token_hint_of_ours_is_accepted(browser, rp, api, settings):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "ACCESS_TOKEN_LIFETIME": timezone.timedelta(seconds=-60)}
    id_token = _id_token(browser, rp, api)

    response = browser.get("/logout", {"id_token_hint": id_token, "post_logout_redirect_uri": BYE})

    assert response["Location"] == BYE


def test_oidcc_rp_initiated_logout_bad_post_logout_redirect_uri(browser, rp, api):
    id_token = _id_token(browser, rp, api)

    for uri in ("https://evil.example/", BYE + "/", BYE + "?x=1"):
        response = browser.get("/logout", {"id_token_hint": id_token, "post_logout_redirect_uri": uri})
        assert response.status_code == 400 and "Location" not in response
    assert LoginSession.objects.get().ended_at is None


def test_oidcc_rp_initiated_logout_bad_id_token_hint(browser, rp, api):
    # An id_token signed by someone else (the suite signs its own), even naming this client.
    _id_token(browser, rp, api)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    foreign = jwt.encode({"iss": "https://evil.example", "sub": "1", "aud": rp.client_id}, key, algorithm="RS256",
                         headers={"kid": "evil", "typ": "JWT"})

    response = browser.get("/logout", {"id_token_hint": foreign, "post_logout_redirect_uri": BYE})

    _assert_refused_and_still_signed_in(response)


def test_a_logout_naming_its_client_without_a_hint_asks_to_confirm(browser, rp):
    page = browser.get("/logout", {"client_id": rp.client_id, "post_logout_redirect_uri": BYE, "state": "s2"})

    assert page.status_code == 200
    assert LoginSession.objects.get().ended_at is None
    confirmed = browser.post("/logout/confirm", {"client_id": rp.client_id, "post_logout_redirect_uri": BYE, "state": "s2"})
    assert confirmed["Location"] == f"{BYE}?state=s2"
    assert LoginSession.objects.get().end_reason == SessionEnd.RP_LOGOUT


def test_the_confirmation_is_csrf_protected(user, rp):
    browser = BrowserClient(enforce_csrf_checks=True)

    assert browser.post("/logout/confirm", {"client_id": rp.client_id}).status_code == 403


def test_a_hint_whose_client_id_disagrees_is_refused(browser, rp, api):
    other = register("Other RP")
    id_token = _id_token(browser, rp, api)

    response = browser.get("/logout", {"id_token_hint": id_token, "client_id": other.client_id})

    assert response.status_code == 400
