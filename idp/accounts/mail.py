"""The email Kunci sends about accounts, always through the outbox (kind `email`).

`enqueue_mail` writes one outbox row in the caller's transaction: the mail goes out only if the
change that caused it commits, and a mail server that is down delays it without losing it (the
worker retries, idp/outbox). The row names the message and the user, never a link: the payload is
shown to staff in the admin, so the one-time link is made by `deliver`, when the worker sends the
mail, from KUNCI_IDP ISSUER (idp/accounts/links.py). What the link would act on is read again
then: an account activated meanwhile gets no activation mail, a deleted one no mail at all.

Each message has a plain-text and an HTML body, from templates under kunci/email/, and is sent
with Django's email framework, configured by KUNCI_EMAIL_URL (settings/email.py).

A mail speaks the language of the request that caused it: the row names the language active
then (a page's, settings/languages.py; the JSON API's caller's, idp/accounts/api.py), and
`compose` renders in it, since the worker has no request to ask. A row without one, or with one
Kunci no longer speaks, is written in LANGUAGE_CODE.
"""
from __future__ import annotations

import smtplib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from idp import outbox
from idp.accounts import links
from idp.accounts.redirects import safe_next
from idp.conf import idp_settings
from idp.outbox.models import OutboxMessage

KIND = "email"

SUBJECTS = {
    "activation": _("Activate your Kunci account"),
    "registration_exists": _("Someone tried to register with your address"),
    "username_taken": _("Your Kunci registration was not completed"),
    "password_reset": _("Set a new Kunci password"),
}


class NotConfiguredBackend(BaseEmailBackend):
    """The email backend when KUNCI_EMAIL_URL is unset outside demo mode: every send fails, so mail waits in the outbox."""

    def send_messages(self, email_messages: Any) -> int:
        raise ImproperlyConfigured("KUNCI_EMAIL_URL is not set: no mail can be sent until it is (see README, Email)")


def enqueue_mail(message: str, *, user: Any = None, to: str = "", **details: str) -> OutboxMessage:
    """Queue `message` for `user` (or to the address `to`) in the caller's transaction, in the active language.

    `details` must hold no secret.
    """
    if message not in SUBJECTS:
        raise ValueError(f"no email message named {message!r}")
    payload: dict[str, Any] = {"message": message, "language": translation.get_language() or settings.LANGUAGE_CODE, **details}
    if user is not None:
        payload["user"] = user.pk
    else:
        payload["to"] = to
    return outbox.enqueue(KIND, payload)


def deliver(payload: dict[str, Any]) -> None:
    """The outbox handler of kind `email`: make the message now, its links included, and send it.

    Raises outbox.Refused when the mail server refuses the message or every recipient for good
    (an SMTP 5xx); anything else (the server unreachable, a 4xx, a login refused) is retried.
    """
    email = compose(payload)
    if email is None:
        return
    try:
        email.send()
    except smtplib.SMTPRecipientsRefused as e:
        raise outbox.Refused(f"every recipient was refused: {sorted(e.recipients.values())}") from e
    except smtplib.SMTPDataError as e:
        if 500 <= e.smtp_code < 600:
            raise outbox.Refused(f"the message was refused: {e.smtp_code}") from e
        raise


def compose(payload: dict[str, Any]) -> EmailMultiAlternatives | None:
    """Return the email `payload` asks for, as of now; None when there is nothing to send any more."""
    message = payload.get("message")
    build = _BUILDERS.get(message) if isinstance(message, str) else None
    if build is None:
        raise ValueError(f"unknown email message {message!r}")
    built = build(payload)
    if built is None:
        return None
    to, context = built
    context = {**context, "issuer": idp_settings.ISSUER}
    with translation.override(mail_language(payload)):
        email = EmailMultiAlternatives(
            subject=str(SUBJECTS[message]),
            body=render_to_string(f"kunci/email/{message}.txt", context),
            to=[to],
            # RFC 3834 §5: a machine wrote this; vacation responders must not answer it.
            headers={"Auto-Submitted": "auto-generated"},
        )
        email.attach_alternative(render_to_string(f"kunci/email/{message}.html", context), "text/html")
    return email


def mail_language(payload: dict[str, Any]) -> str:
    """Return the language `payload` was queued in, if Kunci speaks it; LANGUAGE_CODE otherwise."""
    language = payload.get("language")
    if isinstance(language, str):
        try:
            return translation.get_supported_language_variant(language)  # "ko-kr" falls back to "ko"
        except LookupError:
            pass
    return settings.LANGUAGE_CODE


def _page(route: str) -> str:
    return f"{idp_settings.ISSUER.rstrip('/')}{reverse(route)}"


def _user(payload: dict[str, Any]) -> Any | None:
    pk = payload.get("user")
    return get_user_model()._default_manager.filter(pk=pk).first() if isinstance(pk, int) else None


def _activation(payload: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    user = _user(payload)
    if user is None or user.is_active or not user.awaiting_activation:
        return None  # activated, deactivated or deleted meanwhile
    link = links.link_for(links.ACTIVATION, user, next_url=safe_next(payload.get("next")))
    hours = idp_settings.ACTIVATION_LINK_SECONDS // 3600
    return user.email, {"user": user, "link": link, "hours": hours}


def _registration_exists(payload: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    user = _user(payload)
    if user is None:
        return None
    return user.email, {"user": user, "signin": _page("signin"), "reset": _page("password-reset")}


def _username_taken(payload: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    return payload["to"], {"username": payload["username"], "register": _page("register")}


def _password_reset(payload: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    user = _user(payload)
    if user is None or not user.is_active or not user.has_usable_password():
        return None
    link = links.link_for(links.PASSWORD_RESET, user)
    minutes = idp_settings.PASSWORD_RESET_LINK_SECONDS // 60
    return user.email, {"user": user, "link": link, "minutes": minutes, "reset": _page("password-reset")}


_BUILDERS: dict[str, Callable[[dict[str, Any]], tuple[str, dict[str, Any]] | None]] = {
    "activation": _activation,
    "registration_exists": _registration_exists,
    "username_taken": _username_taken,
    "password_reset": _password_reset,
}
