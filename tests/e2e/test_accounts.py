"""Accounts over real HTTP with a real SMTP server: register, activate, reset, and mail that waits out an outage.

The issuer and a `run_outbox` worker share one deployment whose KUNCI_EMAIL_URL names an aiosmtpd
server on a loopback port (`mail_stack` and `smtp` in tests/e2e/conftest.py); every mail below crossed SMTP.
"""
from __future__ import annotations

import re
import time
from html import unescape

import requests

from tests.e2e.demo_stack import DemoStack, wait_until_refused
from tests.e2e.servers import Deployment, Server
from tests.e2e.smtp import link_in, to

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
PASSWORD = "e2e accounts passphrase one"
NEW_PASSWORD = "e2e accounts passphrase two"


def _form(page: requests.Response, action: str) -> dict[str, str]:
    """The hidden fields of the page's form that posts to `action` (the CSRF token and the link's uid and token).

    Only that form's: the language switcher further down the page has a `next` of its own.
    """
    form = re.search(rf'<form method="post" action="{re.escape(action)}">(.*?)</form>', page.text, re.DOTALL)
    assert form, page.text
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(1))
    return {name: unescape(value) for name, value in fields}


def _browser() -> requests.Session:
    browser = requests.Session()
    browser.headers["Accept"] = BROWSER
    return browser


def _login(issuer: Server, username: str, password: str) -> requests.Response:
    return requests.post(f"{issuer.url}/api/login", json={"username": username, "password": password}, timeout=30)


def test_register_receive_the_mail_activate_and_sign_in(mail_stack, smtp):
    issuer, _worker, _deployment = mail_stack
    registered = requests.post(
        f"{issuer.url}/api/register", json={"email": "ada@example.com", "username": "ada", "password": PASSWORD}, timeout=30,
    )
    assert registered.status_code == 202
    assert _login(issuer, "ada", PASSWORD).json()["code"] == "account_inactive"

    mail = smtp.wait_for(to("ada@example.com"))
    link = link_in(mail, "/activate")
    browser = _browser()
    confirm = browser.get(link, timeout=30)
    activated = browser.post(f"{issuer.url}/activate", data=_form(confirm, "/activate"), headers={"Referer": link}, timeout=30)
    signed_in = _login(issuer, "ada", PASSWORD)

    assert mail["Subject"] == "Activate your Kunci account" and mail.get_body(preferencelist=("html",)) is not None
    assert link.startswith(f"{issuer.url}/activate?uid=")
    assert confirm.status_code == 200 and "Activate my account" in confirm.text
    assert activated.status_code == 200 and activated.url == f"{issuer.url}/signin"
    assert "Your account is activated" in activated.text
    assert signed_in.status_code == 200 and set(signed_in.json()) == {"access", "refresh"}
    assert browser.get(link, timeout=30).status_code == 400  # used once


def _reset_by_mail(issuer_url: str, smtp, email: str) -> tuple[requests.Response, requests.Response, requests.Response]:
    """Ask for a reset link, read it from the SMTP server and set NEW_PASSWORD on its page; return the three answers."""
    asked = requests.post(f"{issuer_url}/api/password/reset", data={"email": email}, timeout=30)
    link = link_in(smtp.wait_for(to(email)), "/password/reset/confirm")
    browser = _browser()
    form = browser.get(link, timeout=30)
    done = browser.post(
        f"{issuer_url}/password/reset/confirm",
        data={**_form(form, "/password/reset/confirm"), "password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
        headers={"Referer": link}, timeout=30,
    )
    return asked, form, done


def test_reset_the_password_and_the_old_refresh_token_is_refused(mail_stack, smtp):
    issuer, _worker, deployment = mail_stack
    deployment.manage(
        "shell", "-c",
        f"from django.contrib.auth import get_user_model; get_user_model().objects.create_user('bea', 'bea@example.com', {PASSWORD!r})",
    )
    old = _login(issuer, "bea", PASSWORD).json()

    asked, form, done = _reset_by_mail(issuer.url, smtp, "bea@example.com")
    refused = requests.post(f"{issuer.url}/api/login/refresh", json={"refresh": old["refresh"]}, timeout=30)
    me = requests.get(f"{issuer.url}/api/me", headers={"Authorization": f"Bearer {old['access']}"}, timeout=30)

    assert asked.status_code == 202
    assert form.status_code == 200 and done.status_code == 200 and done.url == f"{issuer.url}/signin"
    assert refused.status_code == 401 and refused.json()["code"] == "session_ended"
    assert me.status_code == 401
    assert _login(issuer, "bea", PASSWORD).status_code == 401
    assert _login(issuer, "bea", NEW_PASSWORD).status_code == 200


def test_mail_queued_while_the_smtp_server_is_down_arrives_once_it_is_up(mail_stack, smtp):
    issuer, worker, _deployment = mail_stack
    smtp.stop()
    try:
        asked = requests.post(
            f"{issuer.url}/api/register", json={"email": "cai@example.com", "password": PASSWORD}, timeout=30,
        )
        deadline = time.monotonic() + 60
        while "failed (attempt" not in worker.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "failed (attempt" in worker.log(), worker.log()
    finally:
        smtp.start()

    mail = smtp.wait_for(to("cai@example.com"))

    assert asked.status_code == 202
    assert "ConnectionRefusedError" in worker.log()
    assert mail["Subject"] == "Activate your Kunci account"


def test_a_password_reset_ends_the_session_in_every_worker_of_both_demo_apps(tmp_path, smtp):
    """The demo stack of `make run`, mailing through the real SMTP server: a reset reaches app1 and app2."""
    deployment = Deployment.create(tmp_path, KUNCI_EMAIL_URL=smtp.url)
    stack = DemoStack(deployment)
    try:
        old = stack.login()
        probes = stack.probes(old["access"])  # every worker of both apps accepts the access token
        try:
            asked, _form_page, done = _reset_by_mail(stack.issuer.url, smtp, "demo@example.com")
            assert asked.status_code == 202 and done.status_code == 200, done.text[:300]
            # Back-channel logout through the outbox: each app, in each worker, refuses the old token.
            wait_until_refused(probes, old["access"], timeout=30)
        finally:
            for probe in probes:
                probe.close()
        refreshed = requests.post(f"{stack.issuer.url}/api/login/refresh", json={"refresh": old["refresh"]}, timeout=30)
        assert refreshed.status_code == 401 and refreshed.json()["code"] == "session_ended"
    finally:
        stack.stop()
        deployment.destroy()
