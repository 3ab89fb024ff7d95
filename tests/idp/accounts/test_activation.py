"""Activation: the emailed one-time link, its confirm button, its expiry, and resending it."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.contrib.auth import get_user_model

from idp.accounts import links
from idp.models import LoginSession
from tests.conftest import PASSWORD
from tests.idp.accounts.conftest import csrf, link_in, link_query, submit
from tests.idp.accounts.pages import page_for_comparison

pytestmark = pytest.mark.django_db

User = get_user_model()
NEW = {"email": "newcomer@example.com", "password": PASSWORD, "username": "newcomer"}


@pytest.fixture
def activation_link(api, mailbox) -> str:
    assert api.post("/api/register", NEW, format="json").status_code == 202
    [mail] = mailbox()
    return link_in(mail, "/activate")


def _path(link: str) -> str:
    return link.removeprefix("http://127.0.0.1:8000")


def _confirm(web, link: str):
    """Open the link, then press the page's button."""
    token = csrf(web, _path(link))
    query = link_query(link)
    return web.post("/activate", {**query, "csrfmiddlewaretoken": token})


def test_the_mail_links_to_the_issuer_with_the_users_uid_and_a_token(activation_link, mailbox):
    [mail] = mailbox()

    assert mail.to == ["newcomer@example.com"]
    assert mail.subject == "Activate your Kunci account"
    assert activation_link.startswith("http://127.0.0.1:8000/activate?uid=")
    assert set(link_query(activation_link)) == {"uid", "token"}
    assert activation_link in mail.alternatives[0][0].replace("&amp;", "&")
    assert "48 hours" in mail.body


def test_opening_the_link_shows_a_button_and_activates_nothing(web, activation_link):
    page = web.get(_path(activation_link))

    html = page.content.decode()
    assert page.status_code == 200
    assert '<form method="post" action="/activate">' in html and 'type="submit"' in html
    assert "no-store" in page["Cache-Control"]
    assert not User.objects.get(username="newcomer").is_active


def test_pressing_the_button_activates_and_sends_the_browser_to_sign_in(web, activation_link, keyring):
    response = _confirm(web, activation_link)

    user = User.objects.get(username="newcomer")
    assert response.status_code == 302 and response["Location"] == "/signin"
    assert user.is_active and not user.awaiting_activation
    signin = web.get("/signin")
    assert "Your account is activated" in signin.content.decode()
    assert submit(web, "/signin", {"username": "newcomer", "password": PASSWORD}).status_code == 302
    assert LoginSession.objects.filter(user=user).count() == 1


def test_a_used_link_does_not_work_again(web, activation_link):
    assert _confirm(web, activation_link).status_code == 302

    again = web.get(_path(activation_link))
    posted = web.post("/activate", {**link_query(activation_link), "csrfmiddlewaretoken": web.cookies["kunci_csrftoken"].value})

    assert again.status_code == posted.status_code == 400
    assert "link_invalid" in again.content.decode() and 'href="/register/resend"' in again.content.decode()


def test_an_expired_link_does_not_work(web, activation_link, monkeypatch, settings):
    lifetime = settings.KUNCI_IDP.get("ACTIVATION_LINK_SECONDS", 2 * 86400)
    later = datetime.now() + timedelta(seconds=lifetime + 5)
    monkeypatch.setattr(links.activation_tokens, "clock", lambda: later)

    assert web.get(_path(activation_link)).status_code == 400
    assert not User.objects.get(username="newcomer").is_active


def test_a_link_still_young_enough_works(web, activation_link, monkeypatch):
    almost = datetime.now() + timedelta(days=2) - timedelta(seconds=60)
    monkeypatch.setattr(links.activation_tokens, "clock", lambda: almost)

    assert _confirm(web, activation_link).status_code == 302


def test_registering_again_retires_the_links_mailed_before(api, web, activation_link, mailbox):
    api.post("/api/register", {**NEW, "password": "a second passphrase"}, format="json")
    newer = link_in(mailbox()[-1], "/activate")

    assert web.get(_path(activation_link)).status_code == 400
    assert _confirm(web, newer).status_code == 302
    assert User.objects.get(username="newcomer").check_password("a second passphrase")


def test_a_link_whose_account_an_administrator_activated_meanwhile_does_not_work(web, activation_link):
    user = User.objects.get(username="newcomer")
    user.is_active = True
    user.save()

    assert web.get(_path(activation_link)).status_code == 400


# Resending.


def test_resend_answers_202_for_every_address_and_mails_only_an_account_awaiting_activation(api, mailbox, user):
    api.post("/api/register", NEW, format="json")
    mailbox()
    answers = [
        api.post(path, {"email": email}, format="json")
        for path, email in [
            ("/api/register/resend", "newcomer@example.com"),
            ("/api/register/resend/", "alice@example.com"),
            ("/api/register/resend", "nobody@example.com"),
        ]
    ]

    assert {answer.status_code for answer in answers} == {202}
    assert len({answer.content for answer in answers}) == 1
    assert answers[0].json()["code"] == "activation_requested"
    assert [mail.to for mail in mailbox()] == [["newcomer@example.com"], ["newcomer@example.com"]]


def test_the_resent_link_activates_and_then_the_first_one_no_longer_does(api, web, activation_link, mailbox):
    api.post("/api/register/resend", {"email": "NEWCOMER@example.com"}, format="json")
    resent = link_in(mailbox()[-1], "/activate")

    assert _confirm(web, resent).status_code == 302
    assert web.get(_path(activation_link)).status_code == 400


def test_resending_never_reactivates_an_account_an_administrator_deactivated(api, mailbox, user):
    user.is_active = False
    user.save()

    assert api.post("/api/register/resend", {"email": "alice@example.com"}, format="json").status_code == 202

    assert mailbox() == []
    user.refresh_from_db()
    assert not user.is_active and not user.awaiting_activation


def test_an_account_once_activated_then_deactivated_awaits_nothing(api, web, activation_link, mailbox):
    _confirm(web, activation_link)
    user = User.objects.get(username="newcomer")
    user.is_active = False
    user.save()

    api.post("/api/register/resend", {"email": "newcomer@example.com"}, format="json")

    assert len(mailbox()) == 1  # the first activation mail only
    assert web.get(_path(activation_link)).status_code == 400


def test_the_resend_page_mails_and_says_the_same_for_any_address(web, mailbox, api, user):
    api.post("/api/register", NEW, format="json")
    mailbox()

    pending = submit(web, "/register/resend", {"email": "newcomer@example.com"})
    other = submit(web, "/register/resend", {"email": "alice@example.com"})

    assert pending.status_code == other.status_code == 200
    assert page_for_comparison(pending, "newcomer@example.com") == page_for_comparison(other, "alice@example.com")
    assert len(mailbox()) == 2


def test_resend_is_throttled_per_address(api, settings):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "ACCOUNT_EMAILS_PER_ADDRESS": 1}

    codes = [api.post("/api/register/resend", {"email": "x@example.com"}, format="json").status_code for _ in range(2)]

    assert codes == [202, 429]


# next: from the registration form, through the mail, to the sign-in page.


def test_next_travels_from_the_registration_page_through_the_mail_to_sign_in(web, mailbox):
    next_url = "/authorize?client_id=abc&scope=openid"
    page = web.get("/register", {"next": next_url})
    assert 'value="/authorize?client_id=abc&amp;scope=openid"' in page.content.decode()

    submit(web, "/register?next=x", {**NEW, "password_again": PASSWORD, "next": next_url})
    link = link_in(mailbox()[-1], "/activate")
    assert link_query(link)["next"] == next_url

    response = _confirm(web, link)

    assert response.status_code == 302
    assert response["Location"] == "/signin?next=%2Fauthorize%3Fclient_id%3Dabc%26scope%3Dopenid"


@pytest.mark.parametrize(
    ("uid", "token"),
    [("", ""), ("MQ", ""), ("!!", "x-y"), ("MQ", "x" * 100), ("A" * 40, "x-y"), ("OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk", "1-2")],
)
def test_malformed_links_are_a_400_page(web, uid, token):
    page = web.get("/activate", {"uid": uid, "token": token})

    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")
