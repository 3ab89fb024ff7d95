"""Fixtures of the account pages and API: a browser with CSRF checks on, the mail the outbox sends, links in it."""
from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client as Browser

from idp.hashers import PasswordHashingBusy
from idp.outbox.worker import Worker
from tests.idp.accounts.pages import HTML

NEW_PASSWORD = "a brand new passphrase 2026"


@pytest.fixture
def web() -> Browser:
    """A browser: Django's test client asking for HTML, with CSRF checks on."""
    return Browser(enforce_csrf_checks=True, HTTP_ACCEPT=HTML)


@pytest.fixture
def hashing_busy(monkeypatch) -> None:
    """Every password check finds every hashing slot taken."""

    def busy(*args, **kwargs):
        raise PasswordHashingBusy("no slot")

    monkeypatch.setattr("idp.backends.UsernameOrEmailBackend.authenticate", busy)


def csrf(web: Browser, url: str) -> str:
    """Open `url` as a browser does and return the CSRF token of its form."""
    page = web.get(url)
    assert page.status_code == 200, (url, page.status_code, page.content[:300])
    return web.cookies[settings.CSRF_COOKIE_NAME].value


def submit(web: Browser, url: str, data: dict[str, str], **extra: str):
    """Open the form at `url`, then POST `data` to it with the page's CSRF token."""
    token = csrf(web, url)
    return web.post(urlsplit(url).path, {**data, "csrfmiddlewaretoken": token}, **extra)


@pytest.fixture
def mailbox(db) -> Callable[[], list[mail.EmailMessage]]:
    """Return a function that delivers the outbox as `run_outbox` does and returns every mail sent so far."""

    def deliver() -> list[mail.EmailMessage]:
        Worker(concurrency=1).drain()
        return list(mail.outbox)

    return deliver


def link_in(message: mail.EmailMessage, path: str) -> str:
    """Return the absolute link to `path` in the plain-text body of `message`."""
    found = re.search(rf"https?://[^\s/]+{re.escape(path)}\?\S+", message.body)
    assert found, message.body
    return found.group(0)


def link_query(link: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(unescape(link)).query).items()}


def html_body(message: mail.EmailMessage) -> str:
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return html
