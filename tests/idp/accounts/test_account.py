"""The account page: profile, open sessions, signing them out, changing the password."""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import jwt
import pytest
from django.conf import settings
from django.test import Client as Browser

from idp.hashers import PasswordHashingBusy
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from idp import sessions
from idp.accounts import browser as op_browser
from idp.accounts.session_list import open_sessions
from idp.conf import idp_settings
from idp.models import Client, Grant, LoginSession, SessionEnd, SessionOrigin
from tests.conftest import PASSWORD
from tests.idp.accounts.pages import HTML, csrf, sign_in

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a new and rather long passphrase"
ACTIONS = ["/account/signout", "/account/signout-everywhere", "/account/password"]


@pytest.fixture
def signed_in(web, user, keyring):
    """Sign `web` in as alice; return its OP session."""
    assert sign_in(web).status_code == 302
    return LoginSession.objects.get(user=user, origin=SessionOrigin.BROWSER, ended_at__isnull=True)


def _client_grant(session: LoginSession, name: str = "App One") -> tuple[Grant, str]:
    """Open a grant of a new client `name` under `session`; return it and its refresh token."""
    client = Client.objects.create(name=name, redirect_uris=[f"https://{name.replace(' ', '').lower()}.example/cb"])
    grant = sessions.start_grant(session.sid, client, "openid")
    minted = sessions.issue_grant_tokens(grant, nonce=None, auth_time=session.auth_time, now=timezone.now())
    return grant, minted.refresh


def _post(web, url: str, data: dict | None = None):
    return web.post(url, {**(data or {}), "csrfmiddlewaretoken": csrf(web, "/account")})


def _blacklisted(refresh: str) -> bool:
    jti = jwt.decode(refresh, options={"verify_signature": False})["jti"]
    return BlacklistedToken.objects.filter(token__jti=jti).exists()


def _listed_sids(page) -> list[str]:
    return re.findall(r'data-sid="([^"]+)"', page.content.decode())


# Who may open it.


@pytest.mark.parametrize("path", ["/account", "/account/", "/account/password"])
def test_an_anonymous_browser_is_sent_to_sign_in_and_back(web, path):
    response = web.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/signin?next={path.replace('/', '%2F')}"


@pytest.mark.parametrize("action", ACTIONS)
def test_an_anonymous_post_is_sent_to_sign_in_and_ends_nothing(web, user, login, action):
    login(user)
    token = csrf(web, "/signin")

    response = web.post(action, {"sid": LoginSession.objects.get().sid, "csrfmiddlewaretoken": token})

    assert response.status_code == 302 and response["Location"] == "/signin?next=%2Faccount"
    assert LoginSession.objects.get().ended_at is None


def test_a_browser_whose_session_ended_elsewhere_must_sign_in_again(web, signed_in):
    sessions.end_session(signed_in, SessionEnd.ADMIN)

    assert web.get("/account")["Location"] == "/signin?next=%2Faccount"


def test_the_signed_in_page_links_to_the_account(web, signed_in):
    assert b'<a href="/account">' in web.get("/signed-in").content


@pytest.mark.parametrize("path", ["/account", "/account/password"])
def test_account_pages_are_never_stored_nor_framed(web, signed_in, path):
    page = web.get(path)

    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert "no-store" in page["Cache-Control"]
    assert page["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in page["Content-Security-Policy"]
    assert "<script" not in page.content.decode()


@pytest.mark.parametrize("action", ACTIONS[:2])
def test_opening_an_action_in_the_address_bar_shows_the_page_and_ends_nothing(web, signed_in, action):
    response = web.get(action)

    assert response.status_code == 302 and response["Location"] == "/account"
    signed_in.refresh_from_db()
    assert signed_in.ended_at is None


# What it shows.


def test_the_page_shows_the_profile_and_every_open_session_with_its_apps(web, user, staff, signed_in, login):
    user.first_name, user.last_name = "Alice", "<Liddell>"
    user.save()
    _client_grant(signed_in, name='<b>App "One"</b>')
    login(user)  # a JSON API session
    login(staff)  # someone else's
    ended = LoginSession.objects.get(user=user, origin=SessionOrigin.API)
    login(user)
    sessions.end_session(ended, SessionEnd.LOGOUT)

    page = web.get("/account")
    html = page.content.decode()

    assert "alice" in html and "alice@example.com" in html and "Alice &lt;Liddell&gt;" in html
    api = LoginSession.objects.get(user=user, origin=SessionOrigin.API, ended_at__isnull=True)
    assert _listed_sids(page) == [signed_in.sid, api.sid]  # the browser's own first; no ended or foreign one
    browser_entry, api_entry = html.split('data-sid="')[1:]
    assert "(this browser)" in browser_entry and "this browser" not in api_entry
    assert "&lt;b&gt;App &quot;One&quot;&lt;/b&gt;" in browser_entry and '<b>App "One"</b>' not in html
    assert re.search(r'class="apps">API<', api_entry)
    content = html.split("<footer")[0]  # the language switcher's form is every page's
    assert content.count('name="csrfmiddlewaretoken"') == 3  # one form per session, and sign out everywhere


def test_a_browser_session_of_no_app_says_so(web, signed_in):
    assert re.search(r'class="apps">None yet<', web.get("/account").content.decode())


def test_last_used_is_the_newest_of_auth_time_grant_and_refresh_token(user, keyring, login):
    login(user)
    session = LoginSession.objects.get()
    start = session.created_at
    assert open_sessions(user, current_sid=None, now=start)[0].last_used_at == start

    grant, _ = _client_grant(session)
    Grant.objects.filter(pk=grant.pk).update(created_at=start + timedelta(minutes=5))
    OutstandingToken.objects.update(created_at=start + timedelta(minutes=1))
    assert open_sessions(user, current_sid=None, now=start)[0].last_used_at == start + timedelta(minutes=5)

    OutstandingToken.objects.filter(grant_link__grant=grant).update(created_at=start + timedelta(minutes=9))
    [row] = open_sessions(user, current_sid=None, now=start)
    assert row.last_used_at == start + timedelta(minutes=9) and row.started_at == start
    assert row.apps == ["API", "App One"] and not row.current

    sessions.reauthenticate(session, now=start + timedelta(minutes=30))
    assert open_sessions(user, current_sid=None, now=start)[0].last_used_at == start + timedelta(minutes=30)


def test_a_refresh_shows_as_use(api, user, keyring, login):
    pair = login(user)
    before = open_sessions(user, current_sid=None, now=timezone.now())[0].last_used_at
    an_hour_ago = before - timedelta(hours=1)
    OutstandingToken.objects.update(created_at=an_hour_ago)
    Grant.objects.update(created_at=an_hour_ago)
    LoginSession.objects.update(auth_time=an_hour_ago)
    assert open_sessions(user, current_sid=None, now=timezone.now())[0].last_used_at == an_hour_ago

    assert api.post("/api/login/refresh", {"refresh": pair["refresh"]}, format="json").status_code == 200

    # `iat` is whole seconds.
    assert open_sessions(user, current_sid=None, now=timezone.now())[0].last_used_at >= before - timedelta(seconds=1)


def test_sessions_are_ordered_by_last_use_after_the_browsers_own(user, keyring, login):
    login(user), login(user)
    older, newer = LoginSession.objects.order_by("created_at")
    LoginSession.objects.filter(pk=newer.pk).update(auth_time=older.auth_time - timedelta(hours=2))
    Grant.objects.filter(session=newer).update(created_at=older.auth_time - timedelta(hours=2))
    OutstandingToken.objects.filter(grant_link__grant__session=newer).update(created_at=older.auth_time - timedelta(hours=1))

    assert [row.sid for row in open_sessions(user, current_sid=None, now=timezone.now())] == [older.sid, newer.sid]
    assert [row.sid for row in open_sessions(user, current_sid=newer.sid, now=timezone.now())] == [newer.sid, older.sid]


def test_an_api_session_past_its_last_refresh_token_is_not_listed_but_a_browsers_is(web, user, signed_in, login):
    login(user)
    _client_grant(signed_in)
    later = timezone.now() + idp_settings.REFRESH_TOKEN_LIFETIME + timedelta(seconds=1)

    assert [row.sid for row in open_sessions(user, current_sid=None, now=later)] == [signed_in.sid]


# Signing one session out.


def test_signing_out_another_session_ends_it_and_its_grants(web, user, signed_in, login, api):
    pair = login(user)
    other = LoginSession.objects.get(origin=SessionOrigin.API)
    grant, client_refresh = _client_grant(other)

    response = _post(web, "/account/signout", {"sid": other.sid})

    assert response.status_code == 302 and response["Location"] == "/account"
    other.refresh_from_db()
    grant.refresh_from_db()
    assert other.end_reason == SessionEnd.LOGOUT and grant.end_reason == SessionEnd.LOGOUT
    assert Grant.objects.filter(session=other, ended_at__isnull=True).count() == 0
    assert _blacklisted(pair["refresh"]) and _blacklisted(client_refresh)
    signed_in.refresh_from_db()
    assert signed_in.ended_at is None
    page = web.get("/account")
    assert page.status_code == 200 and _listed_sids(page) == [signed_in.sid]
    assert "That session is signed out." in page.content.decode()
    assert api.post("/api/login/refresh", {"refresh": pair["refresh"]}, format="json").status_code == 401


def test_signing_out_the_browsers_own_session_signs_the_browser_out(web, user, signed_in):
    grant, refresh = _client_grant(signed_in)

    response = _post(web, "/account/signout/", {"sid": signed_in.sid})

    assert response.status_code == 200 and b"You have signed out of Kunci in this browser." in response.content
    signed_in.refresh_from_db()
    assert signed_in.end_reason == SessionEnd.LOGOUT and _blacklisted(refresh)
    assert "_auth_user_id" not in web.session and op_browser.SID_SESSION_KEY not in web.session
    assert web.get("/account")["Location"] == "/signin?next=%2Faccount"


def test_a_session_that_already_ended_is_left_as_it_was(web, user, signed_in, login):
    login(user)
    other = LoginSession.objects.get(origin=SessionOrigin.API)
    sessions.end_session(other, SessionEnd.REUSE)

    response = _post(web, "/account/signout", {"sid": other.sid})

    assert response.status_code == 302 and response["Location"] == "/account"
    other.refresh_from_db()
    assert other.end_reason == SessionEnd.REUSE


@pytest.mark.parametrize("whose", ["another user's", "nobody's"])
def test_a_session_id_that_is_not_the_users_is_not_found_and_nothing_ends(web, staff, signed_in, login, whose):
    login(staff)
    sid = LoginSession.objects.get(user=staff).sid if whose == "another user's" else "x" * 32

    response = _post(web, "/account/signout", {"sid": sid})

    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")
    assert "session_not_found" in response.content.decode()
    assert not LoginSession.objects.filter(ended_at__isnull=False).exists()


@pytest.mark.parametrize("data", [{}, {"sid": ""}, {"sid": "x" * 33}])
def test_a_post_without_a_usable_session_id_is_a_bad_request(web, signed_in, data):
    response = _post(web, "/account/signout", data)

    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")
    signed_in.refresh_from_db()
    assert signed_in.ended_at is None


# Signing out everywhere.


def test_signing_out_everywhere_ends_every_session_of_the_user_and_signs_the_browser_out(
    web, user, staff, signed_in, login, api
):
    pair = login(user)
    _, client_refresh = _client_grant(signed_in)
    login(staff)

    response = _post(web, "/account/signout-everywhere")

    assert response.status_code == 200 and b"signed out of Kunci everywhere" in response.content
    assert {s.end_reason for s in LoginSession.objects.filter(user=user)} == {SessionEnd.LOGOUT_EVERYWHERE}
    assert not Grant.objects.filter(session__user=user, ended_at__isnull=True).exists()
    assert _blacklisted(pair["refresh"]) and _blacklisted(client_refresh)
    assert LoginSession.objects.get(user=staff).ended_at is None
    assert "_auth_user_id" not in web.session
    refused = api.post("/api/login/refresh", {"refresh": pair["refresh"]}, format="json")
    assert refused.status_code == 401 and refused.json()["code"] == "token_blacklisted"


# CSRF.


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_needs_the_csrf_token(web, user, signed_in, login, action):
    login(user)
    other = LoginSession.objects.get(origin=SessionOrigin.API)
    password = user.password
    web.get("/account")

    response = web.post(action, {"sid": other.sid, "old_password": PASSWORD,
                                 "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert response.status_code == 403 and b"Form expired" in response.content
    assert not LoginSession.objects.filter(ended_at__isnull=False).exists()
    user.refresh_from_db()
    assert user.password == password


# Changing the password.


def _change(web, old: str = PASSWORD, new: str = NEW_PASSWORD, again: str | None = None):
    token = csrf(web, "/account/password")
    data = {"old_password": old, "new_password1": new, "new_password2": new if again is None else again}
    return web.post("/account/password", {**data, "csrfmiddlewaretoken": token})


def test_the_password_page_is_a_plain_form_with_labelled_fields(web, signed_in):
    html = web.get("/account/password").content.decode()

    for name in ("old_password", "new_password1", "new_password2"):
        assert f'<label for="id_{name}">' in html
        assert re.search(rf'<input[^>]+type="password"[^>]+name="{name}"[^>]+maxlength="1024"', html)
    assert 'autocomplete="current-password"' in html and 'autocomplete="new-password"' in html


def test_changing_the_password_ends_every_other_session_and_keeps_the_browser_signed_in(web, user, signed_in, login, api):
    other_pair = login(user)
    grant, client_refresh = _client_grant(signed_in)
    key_before = web.cookies[settings.SESSION_COOKIE_NAME].value

    response = _change(web)

    assert response.status_code == 302 and response["Location"] == "/account"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD) and not user.check_password(PASSWORD)
    other = LoginSession.objects.get(origin=SessionOrigin.API)
    assert other.end_reason == SessionEnd.PASSWORD_CHANGED
    assert Grant.objects.get(session=other).end_reason == SessionEnd.PASSWORD_CHANGED
    refused = api.post("/api/login/refresh", {"refresh": other_pair["refresh"]}, format="json")
    assert refused.status_code == 401 and refused.json()["code"] == "session_ended"
    signed_in.refresh_from_db()
    grant.refresh_from_db()
    assert signed_in.ended_at is None and grant.ended_at is None and not _blacklisted(client_refresh)
    # The browser stays signed in, under a new session key.
    assert web.cookies[settings.SESSION_COOKIE_NAME].value != key_before and not SessionStore().exists(key_before)
    page = web.get("/account")
    assert page.status_code == 200 and _listed_sids(page) == [signed_in.sid]
    assert "Your other sessions are signed out." in page.content.decode()


def test_another_browser_is_signed_out_by_the_password_change(web, user, signed_in):
    elsewhere = Browser(enforce_csrf_checks=True, HTTP_ACCEPT=HTML)
    sign_in(elsewhere)

    _change(web)

    assert elsewhere.get("/account")["Location"] == "/signin?next=%2Faccount"
    assert LoginSession.objects.filter(end_reason=SessionEnd.PASSWORD_CHANGED).count() == 1


@pytest.mark.parametrize("old, new, again, field", [
    ("wrong", NEW_PASSWORD, None, "old_password"),
    (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!", "new_password2"),
    (PASSWORD, "short", None, "new_password2"),
    (PASSWORD, "password123", None, "new_password2"),
    (PASSWORD, "alice@example.com", None, "new_password2"),
    (PASSWORD, "x" * 1025, None, "new_password1"),
    ("x" * 1025, NEW_PASSWORD, None, "old_password"),
])
def test_a_refused_change_shows_the_form_again_and_changes_nothing(web, user, signed_in, login, old, new, again, field):
    login(user)
    password = user.password

    response = _change(web, old, new, again)

    assert response.status_code == 400
    assert re.search(rf'id="id_{field}"[^>]*>\s*<span class="error">', response.content.decode())
    user.refresh_from_db()
    assert user.password == password
    assert not LoginSession.objects.filter(ended_at__isnull=False).exists()


def test_guessing_the_old_password_is_throttled_like_a_sign_in(web, user, signed_in):
    for _ in range(idp_settings.LOGIN_FAILURES_PER_USERNAME_IP):
        assert _change(web, old="wrong").status_code == 400

    throttled = _change(web)  # the right password, too late

    assert throttled.status_code == 429 and int(throttled["Retry-After"]) >= 1
    assert "Too many failed sign-ins" in unescape(throttled.content.decode())
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_every_hashing_slot_taken_answers_503(web, user, signed_in, monkeypatch):
    def busy(*args, **kwargs):
        raise PasswordHashingBusy("no slot")

    # What the hasher raises when it finds no free slot (idp/hashers.py), whoever checks the password.
    with monkeypatch.context() as patched:
        patched.setattr(type(user), "check_password", busy)
        response = _change(web)

    assert response.status_code == 503 and response["Retry-After"] == "1"
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
