"""Registration over the JSON API and the page: no enumeration, validators, throttling, the closed switch."""
from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import override_settings

from idp.models import LoginSession
from idp.outbox.models import OutboxMessage
from tests.conftest import PASSWORD
from tests.idp.accounts.conftest import HTML, html_body, submit
from tests.idp.accounts.pages import page_for_comparison

pytestmark = pytest.mark.django_db

User = get_user_model()
NEW = {"email": "newcomer@example.com", "password": PASSWORD}


def _register(api, **fields):
    return api.post("/api/register", {**NEW, **fields}, format="json")


def _mails() -> list[dict]:
    return list(OutboxMessage.objects.filter(kind="email").order_by("id").values_list("payload", flat=True))


class CountingHasher(MD5PasswordHasher):
    """Count the expensive step: make_password() and verify() both hash through encode()."""

    calls: list[str] = []

    def encode(self, password, salt):
        CountingHasher.calls.append(password)
        return super().encode(password, salt)


# Registering.


@pytest.mark.parametrize("path", ["/api/register", "/api/register/"])
def test_registering_answers_202_and_makes_an_inactive_account_awaiting_activation(api, path):
    response = api.post(path, {**NEW, "username": "newcomer", "name": "New Comer"}, format="json")

    assert response.status_code == 202
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "registration_requested"
    user = User.objects.get(email="newcomer@example.com")
    assert (user.username, user.first_name, user.last_name) == ("newcomer", "New", "Comer")
    assert not user.is_active and user.awaiting_activation
    assert user.check_password(PASSWORD)
    assert _mails() == [{"message": "activation", "language": "en", "user": user.pk}]


def test_registering_accepts_a_form_body(api):
    response = api.post("/api/register", urlencode(NEW), content_type="application/x-www-form-urlencoded")

    assert response.status_code == 202
    assert User.objects.filter(email="newcomer@example.com", is_active=False).exists()


def test_without_a_username_one_is_made_from_the_address(api, user):
    _register(api, email="alice@elsewhere.example")

    assert User.objects.get(email="alice@elsewhere.example").username.startswith("alice")
    assert User.objects.filter(username="alice").count() == 1  # the existing alice keeps hers


def test_the_domain_of_the_address_is_stored_in_lower_case(api):
    _register(api, email="NewComer@EXAMPLE.com")

    assert User.objects.get().email == "NewComer@example.com"


@pytest.mark.parametrize(
    ("password", "code"),
    [("short", "password_too_short"), ("password123", "password_too_common"), ("8405793221843", "password_entirely_numeric")],
)
def test_djangos_password_validators_name_the_failures(api, password, code):
    response = _register(api, password=password)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == code and body["detail"].startswith("password: ")
    assert body["fields"]["password"]
    assert not User.objects.exists() and not _mails()


def test_a_password_like_the_address_is_refused(api):
    response = _register(api, email="averyuniquename@example.com", password="averyuniquename")

    assert response.status_code == 400
    assert response.json()["code"] == "password_too_similar"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": PASSWORD}, "email"),
        ({"email": "newcomer@example.com"}, "password"),
        ({**NEW, "email": "not an address"}, "email"),
        ({**NEW, "username": "has spaces"}, "username"),
        ({**NEW, "name": "bell\x07"}, "name"),
        ({**NEW, "email": "a" * 250 + "@example.com"}, "email"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, body, field):
    response = api.post("/api/register", body, format="json")

    assert response.status_code == 400
    assert field in response.json()["detail"] and not User.objects.exists()


# No enumeration.


def test_a_registered_address_gets_the_same_answer_and_its_owner_a_mail_instead(api, user):
    new = _register(api)
    taken = _register(api, email="ALICE@example.com", username="somebody")

    assert new.status_code == taken.status_code == 202
    assert new.content == taken.content
    assert {name: value for name, value in new.items() if name != "Date"} == {
        name: value for name, value in taken.items() if name != "Date"
    }
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1
    user.refresh_from_db()
    assert user.check_password(PASSWORD) and user.is_active and user.username == "alice"
    assert _mails()[-1] == {"message": "registration_exists", "language": "en", "user": user.pk}


@pytest.mark.parametrize("existing", ["active", "deactivated"])
def test_both_paths_run_the_hasher_once_and_queue_one_mail(api, existing):
    with override_settings(PASSWORD_HASHERS=["tests.idp.accounts.test_registration.CountingHasher"]):
        owner = User.objects.create_user("owner", "owner@example.com", PASSWORD, is_active=existing == "active")
        before = OutboxMessage.objects.count()
        counts = []
        for email in ("owner@example.com", "fresh@example.com"):
            CountingHasher.calls.clear()
            mails = OutboxMessage.objects.count()
            assert _register(api, email=email, password="another good passphrase").status_code == 202
            counts.append((len(CountingHasher.calls), OutboxMessage.objects.count() - mails))

    assert counts == [(1, 1), (1, 1)]
    assert OutboxMessage.objects.count() == before + 2
    assert not owner.check_password("another good passphrase")


def test_a_taken_username_gets_the_same_answer_and_a_mail_to_the_address(api, user):
    response = _register(api, username="ALICE")

    assert response.status_code == 202 and response.json()["code"] == "registration_requested"
    assert not User.objects.filter(email="newcomer@example.com").exists()
    assert _mails() == [{"message": "username_taken", "language": "en", "to": "newcomer@example.com", "username": "ALICE"}]


def test_registering_again_before_activation_replaces_the_pending_account(api):
    _register(api, username="first", name="First Try")
    response = _register(api, email="NEWCOMER@example.com", username="second", password="the second passphrase")

    assert response.status_code == 202
    user = User.objects.get()
    assert (user.username, user.first_name) == ("second", "")
    assert user.check_password("the second passphrase") and user.awaiting_activation
    assert [mail["message"] for mail in _mails()] == ["activation", "activation"]


# Signing in before activation.


def test_signing_in_before_activation_with_the_right_password_says_account_inactive(api, keyring):
    _register(api, username="newcomer")

    right = api.post("/api/login", {"username": "newcomer", "password": PASSWORD}, format="json")
    wrong = api.post("/api/login", {"username": "newcomer", "password": "not the password"}, format="json")

    assert right.status_code == 403
    assert right.json() == {
        "detail": "This account is not activated yet. Open the link in the email sent when you registered, "
        "or ask for a new one.",
        "code": "account_inactive",
    }
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_credentials"
    assert not LoginSession.objects.exists()


def test_the_sign_in_page_says_so_too_with_a_link_for_a_new_activation_mail(api, web):
    _register(api, username="newcomer")

    fields = {"username": "newcomer@example.com", "password": PASSWORD, "next": "/authorize?client_id=x"}
    page = submit(web, "/signin?next=/authorize%3Fclient_id%3Dx", fields)

    html = page.content.decode()
    assert page.status_code == 400
    assert "not activated yet" in html and "<code>account_inactive</code>" in html
    assert 'href="/register/resend?next=%2Fauthorize%3Fclient_id%3Dx"' in html
    assert not LoginSession.objects.exists()


def test_a_deactivated_account_with_the_right_password_gets_the_usual_refusal(api, keyring, user):
    user.is_active = False
    user.save()

    response = api.post("/api/login", {"username": "alice", "password": PASSWORD}, format="json")

    assert response.status_code == 401 and response.json()["code"] == "invalid_credentials"


# Throttling.


def test_registrations_of_one_address_are_throttled_with_retry_after(api, settings):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "ACCOUNT_EMAILS_PER_ADDRESS": 2}

    answers = [_register(api, email="NewComer@example.com", password=f"good passphrase {i}") for i in range(3)]

    assert [answer.status_code for answer in answers] == [202, 202, 429]
    assert answers[2].json()["code"] == "too_many_requests"
    assert 0 < int(answers[2]["Retry-After"]) <= 3600
    assert len(_mails()) == 2


def test_registrations_from_one_address_are_throttled_across_emails(api, settings):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "ACCOUNT_REQUESTS_PER_IP": 2}

    answers = [_register(api, email=f"person{i}@example.com") for i in range(3)]
    other_ip = api.post("/api/register", {**NEW, "email": "person9@example.com"}, format="json", REMOTE_ADDR="10.9.9.9")

    assert [answer.status_code for answer in answers] == [202, 202, 429]
    assert other_ip.status_code == 202


def test_a_registered_and_a_new_address_are_throttled_alike(api, settings, user):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "ACCOUNT_EMAILS_PER_ADDRESS": 1}

    registered = [_register(api, email="alice@example.com").status_code for _ in range(2)]
    new = [_register(api).status_code for _ in range(2)]

    assert registered == new == [202, 429]


def test_the_page_answers_429_with_retry_after_too(web, settings):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "ACCOUNT_EMAILS_PER_ADDRESS": 1}
    fields = {**NEW, "password_again": PASSWORD}

    assert submit(web, "/register", fields).status_code == 200
    page = submit(web, "/register", fields)

    assert page.status_code == 429 and page["Content-Type"].startswith("text/html")
    assert int(page["Retry-After"]) > 0 and "too_many_requests" in page.content.decode()


# The page.


@pytest.mark.parametrize("path", ["/register", "/register/"])
def test_the_page_is_a_plain_form_linked_from_the_sign_in_page(web, path):
    signin = web.get("/signin?next=/authorize%3Fx%3D1")
    page = web.get(path)

    html = page.content.decode()
    assert 'href="/register?next=%2Fauthorize%3Fx%3D1"' in signin.content.decode()
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    for name in ("email", "username", "name", "password", "password_again"):
        assert f'name="{name}"' in html
    assert 'name="csrfmiddlewaretoken"' in html and "<script" not in html
    assert "no-store" in page["Cache-Control"] and page["X-Frame-Options"] == "DENY"


def test_the_page_registers_and_says_to_check_the_mailbox_for_any_address(web, user):
    new = submit(web, "/register", {**NEW, "password_again": PASSWORD})
    taken = submit(web, "/register", {**NEW, "email": "alice@example.com", "password_again": PASSWORD})

    assert new.status_code == taken.status_code == 200
    assert "Check your email" in new.content.decode()
    assert page_for_comparison(new, "newcomer@example.com") == page_for_comparison(taken, "alice@example.com")
    assert User.objects.get(email="newcomer@example.com").awaiting_activation
    assert [mail["message"] for mail in _mails()] == ["activation", "registration_exists"]


def test_a_registration_on_a_russian_page_mails_russian(web, mailbox):
    submit(web, "/register", {**NEW, "password_again": PASSWORD}, HTTP_ACCEPT_LANGUAGE="ru")

    [mail] = mailbox()
    assert mail.subject == "Активируйте учётную запись Kunci"
    assert "Чтобы активировать новую учётную запись Kunci" in mail.body and "/activate?uid=" in mail.body
    assert '<html lang="ru">' in html_body(mail)


def test_the_api_answers_english_and_mails_in_the_callers_language(api, mailbox, user):
    new = api.post("/api/register", NEW, format="json", HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9")
    taken = api.post("/api/register", {**NEW, "email": "alice@example.com"}, format="json", HTTP_ACCEPT_LANGUAGE="id")

    assert new.json() == taken.json() and new.json()["detail"].startswith("Check this address's mailbox")
    assert [mail["language"] for mail in _mails()] == ["ko", "id"]
    assert [mail.subject for mail in mailbox()] == ["Kunci 계정을 활성화하십시오", "Seseorang mencoba mendaftar dengan alamat Anda"]


def test_the_page_shows_the_validators_failures_and_registers_nothing(web):
    page = submit(web, "/register", {**NEW, "password": "short", "password_again": "short"})

    assert page.status_code == 400
    assert "This password is too short" in page.content.decode()
    assert not User.objects.exists()


def test_the_page_refuses_two_different_passwords(web):
    page = submit(web, "/register", {**NEW, "password_again": PASSWORD + "!"})

    assert page.status_code == 400 and "The two passwords differ." in page.content.decode()
    assert not User.objects.exists()


def test_the_page_refuses_a_post_without_the_csrf_token(web):
    response = web.post("/register", {**NEW, "password_again": PASSWORD})

    assert response.status_code == 403
    assert not User.objects.exists()


# Registration closed.


@pytest.fixture
def closed(settings):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "REGISTRATION": False}


@pytest.mark.parametrize("path", ["/api/register", "/api/register/resend/"])
def test_closed_registration_answers_404_like_an_unknown_path(api, closed, path):
    response = api.post(path, NEW, format="json")
    unknown = api.post("/api/no-such-thing", NEW, format="json")

    assert response.status_code == 404
    assert response.json() == unknown.json() == {"detail": "Not found.", "code": "not_found"}
    assert api.get(path).status_code == 404
    assert not User.objects.exists()


@pytest.mark.parametrize("path", ["/register", "/register/resend", "/activate?uid=MQ&token=x-y"])
def test_closed_registration_pages_are_404_pages(closed, path):
    from django.test import Client

    page = Client(HTTP_ACCEPT=HTML).get(path)

    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_closed_registration_hides_the_sign_in_pages_link(web, closed):
    html = web.get("/signin").content.decode()

    assert "/register" not in html
    assert 'href="/password/reset"' in html


def test_closed_registration_leaves_password_reset_open(api, closed, user):
    assert api.post("/api/password/reset", {"email": "alice@example.com"}, format="json").status_code == 202
