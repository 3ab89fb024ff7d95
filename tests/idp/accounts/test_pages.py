"""The sign-in and sign-out pages, with Django's test client (CSRF checks on, as a browser has them)."""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, get_user, get_user_model
from django.test import Client as Browser
from django.test import RequestFactory
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from idp import sessions
from idp.accounts import browser as op_browser
from idp.accounts.redirects import safe_next
from idp.conf import idp_settings
from idp.login import login_throttle
from idp.models import Client, Grant, LoginSession, SessionEnd, SessionOrigin
from tests.conftest import PASSWORD
from tests.idp.accounts.pages import csrf as _csrf
from tests.idp.accounts.pages import sign_in as _sign_in

pytestmark = pytest.mark.django_db


def _request_of(web: Browser):
    """A request carrying `web`'s session, as the authorization endpoint sees it after the middleware."""
    request = RequestFactory().get("/authorize")
    request.session = web.session
    # What AuthenticationMiddleware sets: the user, loaded only if something asks for it.
    request.user = SimpleLazyObject(lambda: get_user(request))
    return request


# The page.


@pytest.mark.parametrize("path", ["/signin", "/signin/"])
def test_the_sign_in_page_is_a_plain_form_with_labelled_username_and_password(web, path):
    page = web.get(path)
    html = page.content.decode()

    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert re.search(r'<label for="id_username">', html) and re.search(r'<input[^>]+name="username"[^>]+id="id_username"', html)
    assert re.search(r'<label for="id_password">', html) and re.search(r'<input[^>]+type="password"[^>]+name="password"', html)
    assert 'name="csrfmiddlewaretoken"' in html and "<script" not in html
    assert page["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in page["Content-Security-Policy"]
    assert "no-store" in page["Cache-Control"]


def test_the_page_names_the_client_of_an_authorization_request_escaped(web):
    client = Client.objects.create(name='<b>App "One"</b>', redirect_uris=["https://app1.example/cb"])

    page = web.get("/signin", {"next": f"/authorize?client_id={client.client_id}&response_type=code"})

    html = page.content.decode()
    assert "&lt;b&gt;App &quot;One&quot;&lt;/b&gt;" in html and '<b>App "One"</b>' not in html


@pytest.mark.parametrize("next_url", [
    "/authorize?client_id=nobody", "/elsewhere?client_id={id}", "https://evil.example/authorize?client_id={id}", None,
])
def test_no_client_name_for_an_unknown_client_or_another_page(web, next_url):
    client = Client.objects.create(name="App One", redirect_uris=["https://app1.example/cb"])
    query = {"next": next_url.format(id=client.client_id)} if next_url else {}

    page = web.get("/signin", query)

    assert page.status_code == 200 and b"App One" not in page.content


# Signing in.


def test_signing_in_opens_a_browser_session_and_lands_on_the_signed_in_page(web, user, keyring):
    response = _sign_in(web)

    assert response.status_code == 302 and response["Location"] == "/signed-in"
    session = LoginSession.objects.get(user=user)
    assert session.origin == SessionOrigin.BROWSER and session.ended_at is None
    assert session.auth_time == session.created_at
    assert not Grant.objects.exists()  # a browser sign-in grants no client anything yet
    assert web.session[op_browser.SID_SESSION_KEY] == session.sid
    assert settings.SESSION_COOKIE_NAME == "kunci_session" and web.cookies["kunci_session"].value
    landed = web.get("/signed-in")
    assert landed.status_code == 200 and b"alice" in landed.content


def test_signing_in_by_email_works_too(web, user, keyring):
    assert _sign_in(web, "ALICE@example.com").status_code == 302


def test_signing_in_cycles_the_session_key(web, user, keyring):
    web.get("/signin")
    session = web.session
    session["planted"] = "by someone else"  # a session the browser had before it signed in
    session.save()
    before = session.session_key
    web.cookies[settings.SESSION_COOKIE_NAME] = before

    _sign_in(web)

    assert web.cookies[settings.SESSION_COOKIE_NAME].value != before
    from django.contrib.sessions.backends.db import SessionStore
    assert not SessionStore().exists(before)  # the planted key is no longer a session


@pytest.mark.parametrize("username, password", [("alice", "wrong"), ("nobody", PASSWORD), ("nobody@example.com", "wrong")])
def test_refused_credentials_show_the_form_again_with_one_message_whoever_it_was(web, user, keyring, username, password):
    response = _sign_in(web, username, password)

    assert response.status_code == 400
    assert "Unable to sign in with that username and password." in unescape(response.content.decode())
    assert not LoginSession.objects.exists() and "_auth_user_id" not in web.session


def test_a_form_without_a_password_is_refused_before_any_check(web, user, keyring):
    token = _csrf(web)

    response = web.post("/signin", {"username": "alice", "csrfmiddlewaretoken": token})

    assert response.status_code == 400 and login_throttle().counts("alice", "127.0.0.1")["username"] == 0


def test_a_sign_in_without_the_csrf_token_is_refused(web, user, keyring):
    web.get("/signin")

    response = web.post("/signin", {"username": "alice", "password": PASSWORD})

    assert response.status_code == 403 and b"Form expired" in response.content
    assert not LoginSession.objects.exists()


def test_the_page_shares_the_login_throttle_with_the_api(web, user, keyring, api):
    for _ in range(idp_settings.LOGIN_FAILURES_PER_USERNAME_IP):
        assert _sign_in(web, password="wrong").status_code == 400

    throttled = _sign_in(web)  # the right password, too late
    from_api = api.post("/api/login", {"username": "alice", "password": PASSWORD}, format="json", REMOTE_ADDR="10.0.0.1")

    assert throttled.status_code == 429 and int(throttled["Retry-After"]) >= 1
    assert throttled["Content-Type"].startswith("text/html") and b"Too many failed sign-ins" in throttled.content
    assert from_api.status_code == 429
    assert not LoginSession.objects.exists()


def test_api_refusals_count_against_the_page_too(web, user, keyring, api):
    for _ in range(idp_settings.LOGIN_FAILURES_PER_USERNAME_IP):
        api.post("/api/login", {"username": "alice", "password": "wrong"}, format="json", REMOTE_ADDR="10.0.0.1")

    assert _sign_in(web).status_code == 429


def test_the_page_hashes_for_an_unknown_user_through_the_same_path(web, keyring, monkeypatch):
    from django.contrib.auth import get_user_model

    hashed = []
    set_password = get_user_model().set_password
    monkeypatch.setattr(get_user_model(), "set_password", lambda self, raw: hashed.append(raw) or set_password(self, raw))

    _sign_in(web, "nobody", "a guess")

    assert hashed == ["a guess"]  # the dummy hash of idp/backends.py ran


def test_every_hashing_slot_taken_answers_503_with_retry_after_and_is_not_counted(web, user, keyring, hashing_busy):
    response = _sign_in(web)

    assert response.status_code == 503 and response["Retry-After"] == "1"
    assert response["Content-Type"].startswith("text/html")
    assert login_throttle().counts("alice", "10.0.0.1") == {"username_ip": 0, "username": 0, "ip": 0}


# Where a sign-in goes next.


def test_a_sign_in_goes_on_to_a_path_on_the_issuer(web, user, keyring):
    response = _sign_in(web, next="/authorize?client_id=abc&state=x%20y")

    assert response.status_code == 302 and response["Location"] == "/authorize?client_id=abc&state=x%20y"


@pytest.mark.parametrize("next_url", [
    "//evil.example", "https://evil.example", "/\\evil.example", "javascript:alert(1)", "\\\\evil.example",
    "http:/evil.example", "/\t/evil.example", "/\n/evil.example", " //evil.example", "///evil.example", "https:evil.example",
])
def test_next_never_leads_off_the_issuer(web, user, keyring, next_url):
    response = _sign_in(web, next=next_url)

    assert response.status_code == 302 and response["Location"] == "/signed-in"
    assert safe_next(next_url) is None


# Signing out.


def test_signout_get_only_asks_to_confirm(web, user, keyring):
    _sign_in(web)

    page = web.get("/signout")

    assert page.status_code == 200 and b'<form method="post" action="/signout">' in page.content
    assert LoginSession.objects.get().ended_at is None


def test_signing_out_ends_the_op_session_and_the_browsers(web, user, keyring):
    _sign_in(web)
    session = LoginSession.objects.get()
    token = _csrf(web, "/signout")

    response = web.post("/signout/", {"csrfmiddlewaretoken": token})

    assert response.status_code == 200 and b"signed out" in response.content
    session.refresh_from_db()
    assert session.end_reason == SessionEnd.LOGOUT and session.ended_at is not None
    assert op_browser.SID_SESSION_KEY not in web.session and "_auth_user_id" not in web.session
    assert web.get("/signed-in")["Location"].startswith("/signin?next=")


def test_signing_out_without_the_csrf_token_is_refused(web, user, keyring):
    _sign_in(web)
    web.get("/signout")

    assert web.post("/signout", {}).status_code == 403
    assert LoginSession.objects.get().ended_at is None


def test_signing_out_ends_every_grant_of_the_session(web, user, keyring):
    _sign_in(web)
    session = LoginSession.objects.get()
    client = Client.objects.create(name="App One", redirect_uris=["https://app1.example/cb"])
    grant = sessions.start_grant(session.sid, client, "openid")
    minted = sessions.issue_grant_tokens(grant, nonce=None, auth_time=session.auth_time, now=timezone.now())

    web.post("/signout", {"csrfmiddlewaretoken": _csrf(web, "/signout")})

    grant.refresh_from_db()
    assert grant.end_reason == SessionEnd.LOGOUT
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
    import jwt
    assert BlacklistedToken.objects.filter(token__jti=jwt.decode(minted.refresh, options={"verify_signature": False})["jti"]).exists()


# What the authorization endpoint calls.


def test_current_op_session_is_the_browsers_open_session(web, user, keyring):
    assert op_browser.current_op_session(_request_of(web)) is None
    _sign_in(web)

    session = op_browser.current_op_session(_request_of(web))

    assert session == LoginSession.objects.get()
    sessions.end_session(session, SessionEnd.ADMIN)
    assert op_browser.current_op_session(_request_of(web)) is None


def test_current_op_session_loads_its_user_in_the_same_statement_and_makes_it_request_user(
    web, user, keyring, django_assert_num_queries
):
    _sign_in(web)
    request = _request_of(web)

    with django_assert_num_queries(2):  # the Django session, then the OP session with its user
        session = op_browser.current_op_session(request)
        assert request.user.username == session.user.username == "alice"


def test_a_changed_password_signs_the_browser_out_as_django_does(web, user, keyring):
    _sign_in(web)
    user.set_password("another " + PASSWORD)
    user.save()
    request = _request_of(web)

    assert op_browser.current_op_session(request) is None
    assert request.user.is_anonymous and op_browser.SID_SESSION_KEY not in request.session
    assert LoginSession.objects.get().ended_at is None  # the OP session is not ended, only left


def test_a_user_deactivated_without_a_save_is_not_signed_in(web, user, keyring):
    _sign_in(web)
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)  # no save(): sessions stay open

    assert op_browser.current_op_session(_request_of(web)) is None


def test_a_sign_in_through_a_backend_no_longer_configured_does_not_count(web, user, keyring, settings):
    _sign_in(web)
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]

    assert op_browser.current_op_session(_request_of(web)) is None


def test_a_session_hash_made_with_a_fallback_secret_key_is_renewed(web, user, keyring, settings):
    settings.SECRET_KEY = "an old secret key, long enough to sign sessions with " + "x" * 20
    _sign_in(web)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "the new secret key, long enough to sign sessions with " + "y" * 20
    request = _request_of(web)
    key = request.session.session_key

    assert op_browser.current_op_session(request) == LoginSession.objects.get()
    assert request.session[HASH_SESSION_KEY] == user.get_session_auth_hash()
    assert request.session.session_key != key and request.user == user


def test_single_sign_on_a_second_client_gets_the_same_sid_without_a_password(web, user, keyring):
    _sign_in(web)
    now = timezone.now()
    sids = []
    for name in ("App One", "App Two"):
        request = _request_of(web)  # each authorization request, later, in the same browser
        assert not op_browser.needs_login(op_browser.current_op_session(request), now=now)
        session = op_browser.current_op_session(request)
        client = Client.objects.create(name=name, redirect_uris=[f"https://{name.replace(' ', '').lower()}.example/cb"])
        grant = sessions.start_grant(session.sid, client, "openid")
        minted = sessions.issue_grant_tokens(grant, nonce="n", auth_time=session.auth_time, now=now)
        import jwt
        sids.append(jwt.decode(minted.id_token, options={"verify_signature": False})["sid"])

    assert sids[0] == sids[1] == LoginSession.objects.get().sid
    assert Grant.objects.filter(session__sid=sids[0]).count() == 2


def test_needs_login_honours_prompt_login_and_max_age(web, user, keyring):
    _sign_in(web)
    request = _request_of(web)
    auth_time = LoginSession.objects.get().auth_time

    assert op_browser.needs_login(op_browser.current_op_session(request), prompt_login=True, now=auth_time)
    assert op_browser.needs_login(op_browser.current_op_session(request), max_age=0, now=auth_time)
    assert not op_browser.needs_login(op_browser.current_op_session(request), max_age=60, now=auth_time + timedelta(seconds=60))
    assert op_browser.needs_login(op_browser.current_op_session(request), max_age=60, now=auth_time + timedelta(seconds=61))
    assert not op_browser.needs_login(op_browser.current_op_session(request), now=auth_time + timedelta(days=1))


def test_signing_in_again_keeps_the_sid_and_moves_auth_time(web, user, keyring):
    _sign_in(web)
    first = LoginSession.objects.get()
    LoginSession.objects.filter(pk=first.pk).update(auth_time=first.auth_time - timedelta(hours=1))

    _sign_in(web)

    again = LoginSession.objects.get()
    assert again.sid == first.sid and again.auth_time > first.auth_time - timedelta(hours=1)
    assert not op_browser.needs_login(op_browser.current_op_session(_request_of(web)), max_age=60, now=timezone.now())


def test_another_user_signing_in_in_the_same_browser_ends_the_first_session(web, user, staff, keyring):
    _sign_in(web)

    _sign_in(web, "root")

    ended, current = LoginSession.objects.get(user=user), LoginSession.objects.get(user=staff)
    assert ended.end_reason == SessionEnd.REPLACED and current.ended_at is None
    assert op_browser.current_op_session(_request_of(web)) == current


def test_signin_url_carries_next(db):
    assert op_browser.signin_url("/authorize?client_id=a&x=1") == "/signin?next=%2Fauthorize%3Fclient_id%3Da%26x%3D1"
