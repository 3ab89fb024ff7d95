"""Password reset (emailed link, every session ends) and password change (every other session ends)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client as Browser
from rest_framework.test import APIClient

from idp.accounts import browser as op_browser
from idp.accounts import links
from idp.exceptions import PasswordRefused
from idp.models import LoginSession, SessionEnd
from idp.outbox.models import OutboxMessage
from tests.conftest import PASSWORD
from tests.idp.accounts.conftest import NEW_PASSWORD, csrf, link_in, link_query, submit
from tests.idp.oauth.conftest import sign_in
from tests.idp.accounts.pages import page_for_comparison

pytestmark = pytest.mark.django_db

User = get_user_model()


def _request_reset(api, mailbox) -> str:
    assert api.post("/api/password/reset", {"email": "ALICE@example.com"}, format="json").status_code == 202
    return link_in(mailbox()[-1], "/password/reset/confirm")


@pytest.fixture
def reset_link(api, user, mailbox) -> str:
    return _request_reset(api, mailbox)


def _path(link: str) -> str:
    return link.removeprefix("http://127.0.0.1:8000")


def _set_password(web, link: str, password: str = NEW_PASSWORD, again: str | None = None):
    token = csrf(web, _path(link))
    fields = {**link_query(link), "password": password, "password_again": again or password}
    return web.post("/password/reset/confirm", {**fields, "csrfmiddlewaretoken": token})


# Asking for a reset.


def test_a_reset_request_answers_202_alike_for_every_address_and_mails_only_an_account(api, user, mailbox, settings):
    inactive = User.objects.create_user("bob", "bob@example.com", PASSWORD, is_active=False)
    answers = [
        api.post(path, {"email": email}, format="json")
        for path, email in [
            ("/api/password/reset", "alice@example.com"),
            ("/api/password/reset/", "nobody@example.com"),
            ("/api/password/reset", inactive.email),
        ]
    ]

    assert {answer.status_code for answer in answers} == {202}
    assert len({answer.content for answer in answers}) == 1
    assert answers[0].json()["code"] == "password_reset_requested"
    [mail] = mailbox()
    assert mail.to == ["alice@example.com"] and mail.subject == "Set a new Kunci password"


def test_the_reset_mail_holds_a_one_time_link_on_the_issuer_and_its_row_holds_no_secret(reset_link, mailbox, user):
    [mail] = mailbox()
    [row] = OutboxMessage.objects.filter(kind="email")

    assert reset_link.startswith("http://127.0.0.1:8000/password/reset/confirm?uid=")
    assert row.payload == {"message": "password_reset", "language": "en", "user": user.pk}
    assert link_query(reset_link)["token"] not in str(row.payload)
    assert "60 minutes" in mail.body
    assert 'href="http://127.0.0.1:8000/password/reset/confirm?uid=' in mail.alternatives[0][0]


def test_a_reset_requested_on_a_korean_page_mails_korean(web, mailbox, user):
    web.cookies[settings.LANGUAGE_COOKIE_NAME] = "ko"
    submit(web, "/password/reset", {"email": "alice@example.com"})

    [mail] = mailbox()
    assert mail.subject == "새 Kunci 비밀번호를 설정하십시오" and "60분 동안 한 번만 사용할 수 있습니다" in mail.body
    assert link_in(mail, "/password/reset/confirm")


def test_a_reset_requested_through_the_api_mails_in_the_callers_language(api, mailbox, user):
    answer = api.post("/api/password/reset", {"email": "alice@example.com"}, format="json", HTTP_ACCEPT_LANGUAGE="ru")

    assert answer.json()["code"] == "password_reset_requested" and answer.json()["detail"].startswith("If an account")
    [mail] = mailbox()
    assert mail.subject == "Задайте новый пароль Kunci" and "в течение 60 мин." in mail.body


def test_a_reset_request_in_a_form_body_works(api, user):
    response = api.post("/api/password/reset", "email=alice%40example.com", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 202


@pytest.mark.parametrize("body", [{}, {"email": "not an address"}, {"email": ["alice@example.com"]}])
def test_a_bad_reset_request_is_a_400(api, body):
    response = api.post("/api/password/reset", body, format="json")

    assert response.status_code == 400 and "email" in response.json()["detail"]


def test_reset_requests_are_throttled_per_address(api, settings, user):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "ACCOUNT_EMAILS_PER_ADDRESS": 2}

    codes = [api.post("/api/password/reset", {"email": "alice@example.com"}, format="json").status_code for _ in range(3)]

    assert codes == [202, 202, 429]
    assert OutboxMessage.objects.count() == 2


def test_the_reset_page_mails_and_says_the_same_for_any_address(web, user, mailbox):
    known = submit(web, "/password/reset", {"email": "alice@example.com"})
    unknown = submit(web, "/password/reset", {"email": "nobody@example.com"})

    assert known.status_code == unknown.status_code == 200
    assert page_for_comparison(known, "alice@example.com") == page_for_comparison(unknown, "nobody@example.com")
    assert len(mailbox()) == 1


# Setting the new password.


def test_the_link_opens_a_form_for_the_new_password(web, reset_link):
    page = web.get(_path(reset_link))

    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="password"' in html and 'name="password_again"' in html and 'type="password"' in html
    assert "no-store" in page["Cache-Control"]


def test_setting_the_password_ends_every_session_and_the_old_refresh_token_is_refused(web, api, mailbox, user, login, keyring):
    api_pair = login(user)
    signed_in = Browser()
    sign_in(signed_in)
    reset_link = _request_reset(api, mailbox)

    response = _set_password(web, reset_link)

    user.refresh_from_db()
    assert response.status_code == 302 and response["Location"] == "/signin"
    assert user.check_password(NEW_PASSWORD) and not user.check_password(PASSWORD)
    assert set(LoginSession.objects.values_list("end_reason", flat=True)) == {SessionEnd.PASSWORD_RESET}
    refused = APIClient().post("/api/login/refresh", {"refresh": api_pair["refresh"]}, format="json")
    assert refused.status_code == 401 and refused.json()["code"] == "session_ended"
    assert signed_in.get("/signed-in")["Location"].startswith("/signin")


def test_a_reset_link_works_once(web, reset_link):
    assert _set_password(web, reset_link).status_code == 302

    assert web.get(_path(reset_link)).status_code == 400
    again = _set_password_without_the_form(web, reset_link, "yet another passphrase")
    assert again.status_code == 400
    assert User.objects.get(username="alice").check_password(NEW_PASSWORD)


def _set_password_without_the_form(web, link: str, password: str):
    token = web.cookies["kunci_csrftoken"].value
    fields = {**link_query(link), "password": password, "password_again": password}
    return web.post("/password/reset/confirm", {**fields, "csrfmiddlewaretoken": token})


def test_an_expired_reset_link_does_not_work(web, reset_link, monkeypatch):
    later = datetime.now() + timedelta(seconds=3600 + 5)
    monkeypatch.setattr(links.reset_tokens, "clock", lambda: later)

    page = web.get(_path(reset_link))

    assert page.status_code == 400 and "link_invalid" in page.content.decode()
    assert 'href="/password/reset"' in page.content.decode()


def test_a_sign_in_after_the_mail_retires_its_link(web, reset_link, user):
    sign_in(Browser())

    assert web.get(_path(reset_link)).status_code == 400


def test_the_validators_refuse_a_weak_new_password_and_nothing_changes(web, api, mailbox, user, login, keyring):
    login(user)
    reset_link = _request_reset(api, mailbox)

    page = _set_password(web, reset_link, password="alice")

    assert page.status_code == 400 and "too short" in page.content.decode()
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)
    assert LoginSession.objects.filter(ended_at__isnull=True).count() == 1


def test_two_different_new_passwords_are_refused(web, reset_link, user):
    page = _set_password(web, reset_link, again=NEW_PASSWORD + "!")

    assert page.status_code == 400 and "The two passwords differ." in page.content.decode()


# Changing the password.


def test_changing_the_password_ends_every_other_session_and_keeps_the_tokens_own(api, user, login, keyring):
    other = login(user)
    mine = login(user)
    browser = Browser()
    sign_in(browser)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {mine['access']}")

    response = api.post("/api/password/change/", {"old_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json")

    assert response.status_code == 200
    assert response.json() == {"detail": "Password changed.", "code": "password_changed", "sessions_ended": 2}
    assert User.objects.get(pk=user.pk).check_password(NEW_PASSWORD)
    open_sessions = LoginSession.objects.filter(ended_at__isnull=True)
    assert [session.sid for session in open_sessions] == [api.get("/api/me").json()["sid"]]
    assert set(LoginSession.objects.filter(ended_at__isnull=False).values_list("end_reason", flat=True)) == {
        SessionEnd.PASSWORD_CHANGED
    }
    assert APIClient().post("/api/login/refresh", {"refresh": other["refresh"]}, format="json").status_code == 401
    assert APIClient().post("/api/login/refresh", {"refresh": mine["refresh"]}, format="json").status_code == 200


def test_a_wrong_old_password_is_a_400_and_counts_against_the_login_throttle(api, user, login, keyring, settings):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "LOGIN_FAILURES_PER_USERNAME_IP": 2}
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login(user)['access']}")
    body = {"old_password": "not it", "new_password": NEW_PASSWORD}

    answers = [api.post("/api/password/change", body, format="json") for _ in range(3)]

    assert [answer.status_code for answer in answers] == [400, 400, 429]
    assert answers[0].json()["code"] == "wrong_password" and "old_password" in answers[0].json()["fields"]
    assert "Retry-After" in answers[2]
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)
    assert LoginSession.objects.filter(ended_at__isnull=True).count() == 1


def test_a_weak_new_password_is_a_400_naming_the_validator(api, user, login, keyring):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login(user)['access']}")

    response = api.post("/api/password/change", {"old_password": PASSWORD, "new_password": "12345678"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] in {"password_too_common", "password_entirely_numeric"}
    assert response.json()["fields"]["new_password"]


def test_changing_the_password_needs_an_access_token(api, keyring):
    response = api.post("/api/password/change", {"old_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json")

    assert response.status_code == 401 and response["WWW-Authenticate"] == 'Bearer realm="kunci"'


def test_the_browser_change_keeps_its_own_sign_in_and_ends_the_others(rf, user, login, keyring):
    from django.contrib.auth import get_user as session_user

    other = login(user)
    web = Browser()
    sign_in(web)
    request = rf.post("/account/password")
    request.session = web.session
    request.user = session_user(request)

    ended = op_browser.change_password(request, PASSWORD, NEW_PASSWORD)
    request.session.save()

    assert ended == 1
    assert APIClient().post("/api/login/refresh", {"refresh": other["refresh"]}, format="json").status_code == 401
    [kept] = LoginSession.objects.filter(ended_at__isnull=True)
    assert kept.sid == request.session[op_browser.SID_SESSION_KEY]
    assert session_user(request).is_authenticated


def test_the_browser_change_refuses_a_wrong_old_password(rf, user, keyring):
    web = Browser()
    sign_in(web)
    request = rf.post("/account/password")
    request.session = web.session
    request.user = user

    with pytest.raises(PasswordRefused):
        op_browser.change_password(request, "wrong", NEW_PASSWORD)
    assert LoginSession.objects.filter(ended_at__isnull=True).count() == 1
