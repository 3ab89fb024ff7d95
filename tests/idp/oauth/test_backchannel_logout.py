"""Back-Channel Logout 1.0 at the endpoints: the Back-Channel OP test plan's modules, and every way a session ends.

Each `test_oidcc_backchannel_*` implements what the conformance suite's module of that name
checks (OIDCCBackchannelRpInitiatedLogoutTestPlan): the discovery flags, and an RP-initiated logout
after which the client's backchannel_logout_uri receives a POST with only `logout_token`, whose
signature verifies against the JWKS, whose iss, aud, iat, jti and events are right, whose sub and
sid are the id_token's, and which has no nonce; the browser goes back to the post-logout redirect
URI with its state, and a `prompt=none` request then answers login_required. The receiver is
served by `responses`; the real outbox worker delivers.

The rest prove that each way a session ends writes the notices, in its own transaction: /api/logout,
/api/logout/all, the sign-out page, RP-initiated logout with and without a hint, refresh-token
reuse (JSON API and /token), a code replay (its client only), the admin, deactivating, deleting,
and another user signing in in the same browser.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import responses
from django.contrib.auth import get_user_model
from django.test import Client as BrowserClient
from jwt import PyJWKSet

from idp.models import Grant, LoginSession, SessionEnd
from idp.outbox.models import OutboxMessage, OutboxState
from idp.outbox.worker import Worker
from tests.conftest import PASSWORD
from tests.idp.oauth.conftest import Registered, auth_params, exchange, form_post, get_code, redirect_query, register, sign_in

# The suite's static registration: the redirect URI's base with /backchannel_logout and /post_logout_redirect.
BACKCHANNEL_URI = "https://rp.example/backchannel_logout"
BYE = "https://rp.example/bye"
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
HTTPS_ISSUER = "https://id.example.com"


@pytest.fixture
def bcl_rp(keyring) -> Registered:
    """A trusted confidential client with a back-channel logout URI, as the suite registers it."""
    return register("Back-channel RP", backchannel_logout_uri=BACKCHANNEL_URI)


@pytest.fixture
def other_app(keyring) -> Registered:
    """Another client that accepts the shared audience and has a back-channel logout URI, but no grant."""
    return register("Other app", backchannel_logout_uri="https://other.example/backchannel-logout")


def _notices() -> list[tuple[str, str, str]]:
    """The (client_id, sid, sub) of every back-channel logout row written."""
    return sorted(
        (p["client_id"], p["sid"], p["sub"])
        for p in OutboxMessage.objects.filter(kind="backchannel_logout").values_list("payload", flat=True)
    )


def _assert_notified(session: LoginSession, reason: SessionEnd, *clients: Registered) -> None:
    session.refresh_from_db()
    assert session.end_reason == reason
    assert _notices() == sorted((c.client_id, session.sid, str(session.user_id)) for c in clients)


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


# The Back-Channel OP test plan.


def test_oidcc_backchannel_logout_discovery_endpoint_verification(api, keyring, settings):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "ISSUER": HTTPS_ISSUER}

    config = api.get("/.well-known/openid-configuration").json()

    # Back-Channel Logout 1.0 §2.1; the certification requires the session variant (sid).
    assert config["backchannel_logout_supported"] is True
    assert config["backchannel_logout_session_supported"] is True
    # §3 and RP-Initiated Logout 1.0 §2.1: the end-session endpoint, https like every endpoint.
    assert config["end_session_endpoint"] == f"{HTTPS_ISSUER}/logout"
    endpoints = [value for name, value in config.items() if name.endswith(("_endpoint", "_uri"))]
    assert all(value.startswith(f"{HTTPS_ISSUER}/") for value in endpoints), endpoints


def test_oidcc_backchannel_rp_initiated_logout(browser, bcl_rp, api, settings):
    first = exchange(api, bcl_rp, get_code(browser, bcl_rp)).json()
    id_token = first["id_token"]

    with responses.RequestsMock() as receiver:
        # The suite's receiver: 200 with Cache-Control: no-store (§2.8).
        receiver.add(responses.POST, BACKCHANNEL_URI, status=200, headers={"Cache-Control": "no-store"})
        front = browser.get("/logout", {"id_token_hint": id_token, "post_logout_redirect_uri": BYE, "state": "bcl-s1"})
        assert Worker().drain() == 1
        calls = list(receiver.calls)

    # The front channel: back to the registered URI with the state and nothing else (OIDCRIL-2, -3).
    assert front.status_code == 302 and front["Location"] == f"{BYE}?state=bcl-s1"
    # The back channel (OIDCBCL-2.5): one POST, form-encoded, the one parameter logout_token.
    [call] = calls
    assert call.request.url == BACKCHANNEL_URI and call.request.method == "POST"
    assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = parse_qs(call.request.body)
    assert set(form) == {"logout_token"}
    logout_token = form["logout_token"][0]
    # ValidateLogoutTokenSignature (OIDCBCL-2.4): against the keys the issuer publishes.
    header = jwt.get_unverified_header(logout_token)
    assert header["alg"] == "RS256" and header["typ"] == "logout+jwt"
    jwks = PyJWKSet.from_dict(api.get("/.well-known/jwks.json").json())
    claims = jwt.decode(logout_token, jwks[header["kid"]].key, algorithms=["RS256"], audience=bcl_rp.client_id,
                        issuer=settings.KUNCI_IDP["ISSUER"])
    # ValidateLogoutTokenClaims: iss, aud (above), iat not in the future, jti, events with exactly
    # the back-channel logout member, an empty object.
    assert claims["iat"] <= datetime.now(timezone.utc).timestamp() + 5 and claims["jti"]
    assert claims["events"] == {LOGOUT_EVENT: {}}
    # CheckIdTokenSubMatchesLogoutToken, CheckIdTokenSidMatchesLogoutToken, CheckLogoutTokenHasSubOrSid.
    assert claims["sub"] == _claims(id_token)["sub"] and claims["sid"] == _claims(id_token)["sid"]
    # CheckLogoutTokenNoNonce: the id_token had one; the logout token must not.
    assert "nonce" in _claims(id_token) and "nonce" not in claims
    assert OutboxMessage.objects.get().state == OutboxState.DELIVERED
    # Then the suite's second authorization, prompt=none: the user is signed out.
    assert redirect_query(browser.get("/authorize", auth_params(bcl_rp, prompt="none")))["error"] == "login_required"


def test_oidcc_backchannel_rp_initiated_logout_token_is_short_lived_and_unique_per_delivery(browser, bcl_rp, api):
    id_token = exchange(api, bcl_rp, get_code(browser, bcl_rp)).json()["id_token"]
    browser.get("/logout", {"id_token_hint": id_token, "post_logout_redirect_uri": BYE})

    with responses.RequestsMock() as receiver:
        receiver.add(responses.POST, BACKCHANNEL_URI, status=503)
        receiver.add(responses.POST, BACKCHANNEL_URI, status=200)
        Worker(rng=lambda: 0.0).drain()
        OutboxMessage.objects.update(available_at=datetime.now(timezone.utc) - timedelta(seconds=1))
        Worker().drain()
        tokens = [_claims(parse_qs(call.request.body)["logout_token"][0]) for call in receiver.calls]

    assert len(tokens) == 2 and tokens[0]["jti"] != tokens[1]["jti"]
    # Back-Channel Logout 1.0 §2.4: a short exp, minted for each attempt.
    assert all(0 < token["exp"] - token["iat"] <= 120 for token in tokens)


# Every way a session ends writes the notices.


def _bearer(api, access: str):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return api


def test_api_logout_notifies_the_shared_audience_clients(api, login, user, bcl_rp, other_app):
    pair = login(user)

    assert _bearer(api, pair["access"]).post("/api/logout", {"refresh": pair["refresh"]}, format="json").status_code == 200

    _assert_notified(LoginSession.objects.get(), SessionEnd.LOGOUT, bcl_rp, other_app)


def test_api_logout_all_notifies_for_every_session(api, login, user, bcl_rp):
    first, second = login(user), login(user)

    assert _bearer(api, first["access"]).post("/api/logout/all").status_code == 200

    sids = [_claims(pair["refresh"])["sid"] for pair in (first, second)]
    assert _notices() == sorted((bcl_rp.client_id, sid, str(user.pk)) for sid in sids)
    assert set(LoginSession.objects.values_list("end_reason", flat=True)) == {SessionEnd.LOGOUT_EVERYWHERE}


def test_the_sign_out_page_notifies_the_clients_of_the_browser_session(browser, bcl_rp, other_app, api):
    exchange(api, bcl_rp, get_code(browser, bcl_rp))

    assert browser.post("/signout", {}).status_code in (200, 302)

    _assert_notified(LoginSession.objects.get(), SessionEnd.LOGOUT, bcl_rp, other_app)


def test_rp_initiated_logout_confirmed_without_a_hint_notifies(browser, bcl_rp, other_app, api):
    exchange(api, bcl_rp, get_code(browser, bcl_rp))

    browser.get("/logout")
    assert browser.post("/logout/confirm", {}).status_code == 200

    _assert_notified(LoginSession.objects.get(), SessionEnd.RP_LOGOUT, bcl_rp, other_app)


def test_rp_initiated_logout_with_a_hint_notifies(browser, bcl_rp, other_app, api):
    id_token = exchange(api, bcl_rp, get_code(browser, bcl_rp)).json()["id_token"]

    assert browser.get("/logout", {"id_token_hint": id_token, "post_logout_redirect_uri": BYE}).status_code == 302

    _assert_notified(LoginSession.objects.get(), SessionEnd.RP_LOGOUT, bcl_rp, other_app)


def test_refresh_token_reuse_at_the_json_api_notifies(api, login, user, bcl_rp, settings):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "REFRESH_REUSE_GRACE": 0}
    pair = login(user)
    assert api.post("/api/login/refresh", {"refresh": pair["refresh"]}, format="json").status_code == 200

    reused = api.post("/api/login/refresh", {"refresh": pair["refresh"]}, format="json")

    assert reused.status_code == 401 and reused.json()["code"] == "token_reused"
    _assert_notified(LoginSession.objects.get(), SessionEnd.REUSE, bcl_rp)


def test_refresh_token_reuse_at_the_token_endpoint_notifies(browser, bcl_rp, other_app, api, settings):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "REFRESH_REUSE_GRACE": 0}
    first = exchange(api, bcl_rp, get_code(browser, bcl_rp)).json()
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    assert form_post(api, "/token", refresh, HTTP_AUTHORIZATION=bcl_rp.basic()).status_code == 200

    reused = form_post(api, "/token", refresh, HTTP_AUTHORIZATION=bcl_rp.basic())

    assert reused.status_code == 400
    _assert_notified(LoginSession.objects.get(), SessionEnd.REUSE, bcl_rp, other_app)


def test_a_code_replay_notifies_only_the_client_whose_grant_it_ends(browser, bcl_rp, other_app, api):
    exchange(api, other_app, get_code(browser, other_app))
    code = get_code(browser, bcl_rp)
    exchange(api, bcl_rp, code)

    assert exchange(api, bcl_rp, code).status_code == 400

    session = LoginSession.objects.get()
    assert session.ended_at is None
    assert Grant.objects.get(client=bcl_rp.client).end_reason == SessionEnd.CODE_REPLAY
    assert _notices() == [(bcl_rp.client_id, session.sid, str(session.user_id))]


def test_the_admin_ending_a_session_notifies(login, user, bcl_rp, other_app):
    login(user)
    admin = BrowserClient()
    admin.force_login(get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD))
    session = LoginSession.objects.get(user=user)

    response = admin.post("/admin/idp/loginsession/", {"action": "end_sessions", "_selected_action": [session.sid]})

    assert response.status_code == 302
    _assert_notified(session, SessionEnd.ADMIN, bcl_rp, other_app)


def test_deactivating_a_user_notifies(browser, user, bcl_rp, api):
    exchange(api, bcl_rp, get_code(browser, bcl_rp))

    user.is_active = False
    user.save()

    _assert_notified(LoginSession.objects.get(), SessionEnd.USER_DEACTIVATED, bcl_rp)


def test_deleting_a_user_notifies_and_the_notices_outlive_the_user(browser, user, bcl_rp, api):
    exchange(api, bcl_rp, get_code(browser, bcl_rp))
    sid, pk = LoginSession.objects.get().sid, user.pk

    user.delete()

    assert not LoginSession.objects.exists()
    assert _notices() == [(bcl_rp.client_id, sid, str(pk))]


def test_another_user_signing_in_in_the_same_browser_notifies(browser, bcl_rp, api):
    exchange(api, bcl_rp, get_code(browser, bcl_rp))
    replaced = LoginSession.objects.get()
    get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)

    sign_in(browser, "bob")

    _assert_notified(replaced, SessionEnd.REPLACED, bcl_rp)


def test_a_notice_names_the_client_and_the_session_never_a_url_or_token(browser, bcl_rp, api):
    # The notice names the client, not a URL: the URL is read when the row is delivered.
    exchange(api, bcl_rp, get_code(browser, bcl_rp))
    browser.post("/signout", {})

    [payload] = OutboxMessage.objects.values_list("payload", flat=True)
    assert set(payload) == {"client_id", "sid", "sub"}
    assert urlsplit(BACKCHANNEL_URI).hostname not in str(payload)
