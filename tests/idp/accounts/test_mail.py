"""Account mail through the outbox: built at delivery from the issuer's URL, plain text and HTML, retried, refused."""
from __future__ import annotations

import smtplib

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.utils import translation

from idp import outbox
from idp.accounts.mail import compose, deliver, enqueue_mail
from idp.outbox.models import OutboxMessage, OutboxState
from idp.outbox.worker import Worker
from tests.idp.accounts.conftest import html_body, link_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(django_user_model):
    return django_user_model.objects.create_user("newcomer", "newcomer@example.com", "pw", is_active=False, awaiting_activation=True)


@pytest.mark.parametrize(
    ("message", "subject", "text"),
    [
        ("activation", "Activate your Kunci account", "To activate your new Kunci account"),
        ("registration_exists", "Someone tried to register with your address", "which already has one (username: alice)"),
        ("password_reset", "Set a new Kunci password", "Someone asked to set a new password"),
    ],
)
def test_each_message_has_a_plain_text_and_an_html_body(user, pending, message, subject, text):
    recipient = pending if message == "activation" else user

    email = compose({"message": message, "user": recipient.pk})

    assert email.subject == subject and email.to == [recipient.email]
    # The plain text is not escaped HTML: a link's "&" stays as it is.
    assert text in email.body and "<a " not in email.body and "&amp;" not in email.body
    assert "<!DOCTYPE html>" in html_body(email) and "http://127.0.0.1:8000" in html_body(email)
    assert email.extra_headers["Auto-Submitted"] == "auto-generated"
    assert email.from_email == "Kunci <kunci@localhost>"


def test_the_username_taken_mail_goes_to_the_address_given_and_escapes_the_username():
    email = compose({"message": "username_taken", "to": "x@example.com", "username": "<b>bob</b>"})

    assert email.to == ["x@example.com"]
    assert '"<b>bob</b>"' in email.body
    assert "&lt;b&gt;bob&lt;/b&gt;" in html_body(email) and "<b>bob</b>" not in html_body(email)
    assert "http://127.0.0.1:8000/register" in email.body


def test_links_name_the_configured_issuer_whatever_the_request(settings, pending):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "ISSUER": "https://id.example.com"}

    email = compose({"message": "activation", "user": pending.pk})

    assert link_in(email, "/activate").startswith("https://id.example.com/activate?uid=")


def test_nothing_is_sent_when_what_the_mail_was_for_is_gone(user, pending):
    user.is_active = False
    user.save()
    activated = pending
    activated.is_active = True
    activated.save()

    assert compose({"message": "activation", "user": activated.pk}) is None
    assert compose({"message": "password_reset", "user": user.pk}) is None
    assert compose({"message": "registration_exists", "user": 987654}) is None


def test_an_unknown_message_is_an_error_not_a_mail():
    with pytest.raises(ValueError, match="unknown email message"):
        compose({"message": "bogus"})
    with pytest.raises(ValueError, match="no email message"):
        enqueue_mail("bogus", to="x@example.com")


def test_the_worker_delivers_queued_mail_once(pending):
    enqueue_mail("activation", user=pending)

    Worker(concurrency=1).drain()
    Worker(concurrency=1).drain()

    assert [message.to for message in mail.outbox] == [["newcomer@example.com"]]
    assert OutboxMessage.objects.get().state == OutboxState.DELIVERED


class SMTPDown:
    """A mail backend whose server is unreachable."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError(111, "Connection refused")


class SMTPRefusesRecipients(SMTPDown):
    def send_messages(self, messages):
        raise smtplib.SMTPRecipientsRefused({"newcomer@example.com": (550, b"no such user")})


class SMTPBusy(SMTPDown):
    def send_messages(self, messages):
        raise smtplib.SMTPDataError(451, b"try again later")


@pytest.mark.parametrize("backend", ["SMTPDown", "SMTPBusy"])
def test_a_mail_server_that_fails_leaves_the_mail_pending_for_a_retry(pending, backend):
    enqueue_mail("activation", user=pending)

    with override_settings(EMAIL_BACKEND=f"tests.idp.accounts.test_mail.{backend}"):
        Worker(concurrency=1).drain()
    row = OutboxMessage.objects.get()

    assert row.state == OutboxState.PENDING and row.attempts == 1 and row.refusals == 0
    OutboxMessage.objects.update(available_at=row.created_at)
    Worker(concurrency=1).drain()
    assert [message.to for message in mail.outbox] == [["newcomer@example.com"]]


def test_recipients_refused_for_good_is_a_refusal(pending):
    with override_settings(EMAIL_BACKEND="tests.idp.accounts.test_mail.SMTPRefusesRecipients"):
        with pytest.raises(outbox.Refused, match="550"):
            deliver({"message": "activation", "user": pending.pk})


def test_without_kunci_email_url_sending_fails_and_the_mail_waits(pending):
    enqueue_mail("activation", user=pending)

    with override_settings(EMAIL_BACKEND="idp.accounts.mail.NotConfiguredBackend"):
        with pytest.raises(ImproperlyConfigured, match="KUNCI_EMAIL_URL is not set"):
            deliver({"message": "activation", "user": pending.pk})
        Worker(concurrency=1).drain()

    row = OutboxMessage.objects.get()
    assert row.state == OutboxState.PENDING and "KUNCI_EMAIL_URL is not set" in row.last_error


def test_the_deploy_check_warns_when_email_is_not_configured(settings):
    from idp.checks import check_email_is_configured

    settings.EMAIL_BACKEND = "idp.accounts.mail.NotConfiguredBackend"
    assert [warning.id for warning in check_email_is_configured(None)] == ["idp.W001"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert check_email_is_configured(None) == []


def test_an_outbox_row_of_a_registration_commits_or_rolls_back_with_it(api):
    from django.db import transaction

    from idp.accounts.registration import Registration, register

    with pytest.raises(RuntimeError):
        with transaction.atomic():
            register(Registration(email="rolled@example.com", password="a good passphrase here"))
            raise RuntimeError("the request failed after registering")

    assert not OutboxMessage.objects.exists()


# The language of a mail.


@pytest.mark.parametrize(
    ("language", "subject", "text"),
    [
        ("ru", "Активируйте учётную запись Kunci", "Чтобы активировать новую учётную запись Kunci"),
        ("id", "Aktifkan akun Kunci Anda", "Untuk mengaktifkan akun Kunci baru Anda"),
        ("ko", "Kunci 계정을 활성화하십시오", "새 Kunci 계정을 활성화하려면"),
    ],
)
def test_a_mail_is_written_in_the_language_it_was_queued_in(pending, language, subject, text):
    email = compose({"message": "activation", "language": language, "user": pending.pk})

    assert email.subject == subject
    assert text in email.body and text in html_body(email)
    assert f'<html lang="{language}">' in html_body(email)
    assert "/activate?uid=" in link_in(email, "/activate")


@pytest.mark.parametrize("language", [None, "fr", "", ["ru"], "x" * 1000])
def test_a_mail_queued_without_a_language_kunci_speaks_is_english(pending, language):
    payload = {"message": "activation", "user": pending.pk}
    if language is not None:
        payload["language"] = language

    email = compose(payload)

    assert email.subject == "Activate your Kunci account" and '<html lang="en">' in html_body(email)


def test_a_regional_language_is_written_in_its_language(pending):
    assert compose({"message": "activation", "language": "ko-kr", "user": pending.pk}).subject == "Kunci 계정을 활성화하십시오"


def test_the_queued_language_is_the_active_one_and_composing_leaves_the_workers_language_alone(pending):
    with translation.override("ru"):
        row = enqueue_mail("activation", user=pending)
    with translation.override("id"):
        email = compose(row.payload)
        assert translation.get_language() == "id"

    assert row.payload["language"] == "ru" and email.subject == "Активируйте учётную запись Kunci"
