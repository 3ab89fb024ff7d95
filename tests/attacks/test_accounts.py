"""The attack catalogue's account entries: one-time links, enumeration, poisoned links, open redirects.

Each attack returns True when Kunci refused it; every response is also checked for a 5xx. The
registration, resend and reset requests of the enumeration entries are compared whole: status,
body and every header but Date.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client as Browser
from django.utils.http import urlsafe_base64_encode
from rest_framework.test import APIClient

from idp.accounts import links
from tests.conftest import PASSWORD
from tests.idp.accounts.conftest import HTML, csrf, link_in, link_query, mailbox  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

User = get_user_model()
ISSUER = "http://127.0.0.1:8000"
EVIL = ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)", "https:evil.example")


class Answers:
    """Every response an attack got; none may be a 5xx."""

    def __init__(self) -> None:
        self.seen: list = []

    def __call__(self, response):
        self.seen.append(response)
        return response


@dataclass
class Context:
    api: APIClient
    web: Browser
    mailbox: Callable
    answer: Answers


@dataclass(frozen=True)
class Attack:
    name: str
    run: Callable[[Context], bool]


def _path(link: str) -> str:
    return link.removeprefix(ISSUER)


def _press(ctx: Context, path: str, fields: dict[str, str]):
    token = ctx.web.cookies["kunci_csrftoken"].value if "kunci_csrftoken" in ctx.web.cookies else csrf(ctx.web, "/signin")
    return ctx.answer(ctx.web.post(path, {**fields, "csrfmiddlewaretoken": token}))


def _activation_link(ctx: Context, email: str = "newcomer@example.com", username: str = "newcomer", **fields: str) -> str:
    body = {"email": email, "password": PASSWORD, "username": username, **fields}
    assert ctx.answer(ctx.api.post("/api/register", body, format="json")).status_code == 202
    return link_in(ctx.mailbox()[-1], "/activate")


def _reset_link(ctx: Context, email: str = "alice@example.com") -> str:
    assert ctx.answer(ctx.api.post("/api/password/reset", {"email": email}, format="json")).status_code == 202
    return link_in(ctx.mailbox()[-1], "/password/reset/confirm")


def _set(ctx: Context, link: str, password: str):
    return _press(ctx, "/password/reset/confirm", {**link_query(link), "password": password, "password_again": password})


def _alice_password_is(password: str) -> bool:
    return User.objects.get(username="alice").check_password(password)


# One-time links.


def _reused_activation(ctx: Context) -> bool:
    link = _activation_link(ctx)
    first = _press(ctx, "/activate", link_query(link))
    User.objects.filter(username="newcomer").update(is_active=False)  # an administrator deactivates it
    again = _press(ctx, "/activate", link_query(link))
    return first.status_code == 302 and again.status_code == 400 and not User.objects.get(username="newcomer").is_active


def _expired_activation(ctx: Context) -> bool:
    link = _activation_link(ctx)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(links.activation_tokens, "clock", lambda: datetime.now() + timedelta(days=2, minutes=1))
        refused = _press(ctx, "/activate", link_query(link)).status_code == 400
    return refused and not User.objects.get(username="newcomer").is_active


def _reused_reset(ctx: Context) -> bool:
    link = _reset_link(ctx)
    first = _set(ctx, link, "the owner's new passphrase")
    again = _set(ctx, link, "the attacker's passphrase")
    return first.status_code == 302 and again.status_code == 400 and _alice_password_is("the owner's new passphrase")


def _expired_reset(ctx: Context) -> bool:
    link = _reset_link(ctx)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(links.reset_tokens, "clock", lambda: datetime.now() + timedelta(hours=1, minutes=1))
        refused = _set(ctx, link, "the attacker's passphrase").status_code == 400
    return refused and _alice_password_is(PASSWORD)


def _other_users_uid(ctx: Context) -> bool:
    """Mallory's own link, with alice's uid in it."""
    User.objects.create_user("mallory", "mallory@example.com", PASSWORD)
    link = _reset_link(ctx, "mallory@example.com")
    alice_uid = urlsafe_base64_encode(str(User.objects.get(username="alice").pk).encode())
    tampered = {**link_query(link), "uid": alice_uid}
    opened = ctx.answer(ctx.web.get("/password/reset/confirm", tampered))
    posted = _press(ctx, "/password/reset/confirm", {**tampered, "password": "taken over!", "password_again": "taken over!"})
    return opened.status_code == posted.status_code == 400 and _alice_password_is(PASSWORD)


def _activation_token_as_reset_token(ctx: Context) -> bool:
    link = _activation_link(ctx)
    User.objects.filter(username="newcomer").update(is_active=True, awaiting_activation=False)
    posted = _press(ctx, "/password/reset/confirm", {**link_query(link), "password": "taken over!", "password_again": "taken over!"})
    return posted.status_code == 400 and User.objects.get(username="newcomer").check_password(PASSWORD)


def _tampered_token(ctx: Context) -> bool:
    query = link_query(_activation_link(ctx))
    timestamp, digest = query["token"].split("-")
    flipped = digest[:-1] + ("1" if digest[-1] == "0" else "0")  # one in 16 digests already ends in 0
    variants = [f"{timestamp}-{flipped}", f"zzzzzz-{digest}", f"{timestamp}-", digest, query["token"] + "-x"]
    answers = [ctx.answer(ctx.web.get("/activate", {**query, "token": token})).status_code for token in variants]
    return answers == [400] * len(variants) and not User.objects.get(username="newcomer").is_active


# Enumeration.


def _same_answer(first, second) -> bool:
    headers = lambda response: {name: value for name, value in response.items() if name != "Date"}  # noqa: E731
    return (first.status_code, first.content, headers(first)) == (second.status_code, second.content, headers(second))


def _enumerate(path: str, registered: dict[str, str], unknown: dict[str, str]) -> Callable[[Context], bool]:
    def run(ctx: Context) -> bool:
        known = ctx.answer(ctx.api.post(path, registered, format="json"))
        new = ctx.answer(ctx.api.post(path, unknown, format="json"))
        return known.status_code == 202 and _same_answer(known, new)
    return run


def _enumerate_pending(ctx: Context) -> bool:
    _activation_link(ctx)
    pending = ctx.answer(ctx.api.post("/api/register/resend", {"email": "newcomer@example.com"}, format="json"))
    unknown = ctx.answer(ctx.api.post("/api/register/resend", {"email": "nobody@example.com"}, format="json"))
    return _same_answer(pending, unknown)


def _enumerate_by_username(ctx: Context) -> bool:
    taken = ctx.answer(ctx.api.post("/api/register", {"email": "x@example.com", "password": PASSWORD, "username": "alice"}, format="json"))
    free = ctx.answer(ctx.api.post("/api/register", {"email": "y@example.com", "password": PASSWORD, "username": "zed"}, format="json"))
    return _same_answer(taken, free)


# Poisoned links: the Host a request names never reaches a mailed link.


def _poisoned_host(path: str, body: dict[str, str], link_path: str, **headers: str) -> Callable[[Context], bool]:
    def run(ctx: Context) -> bool:
        from django.test import override_settings

        with override_settings(ALLOWED_HOSTS=["*"], USE_X_FORWARDED_HOST=True):
            answer = ctx.answer(ctx.api.post(path, body, format="json", **headers))
        [mail] = ctx.mailbox()
        return answer.status_code == 202 and link_in(mail, link_path).startswith(ISSUER + link_path) and "evil" not in mail.body
    return run


NEW_ACCOUNT = {"email": "newcomer@example.com", "password": PASSWORD}
POISON = {"HTTP_HOST": "evil.example", "HTTP_X_FORWARDED_HOST": "evil.example", "HTTP_FORWARDED": "host=evil.example"}


# next: never an open redirect.


def _next_on_pages(ctx: Context) -> bool:
    for evil in EVIL:
        for path in ("/register", "/register/resend", "/signin"):
            page = ctx.answer(ctx.web.get(path, {"next": evil}))
            # The language switcher returns to this very page (its own `next`, a path on this site,
            # which holds the query): the page's own forms and links are what must not carry it.
            html = page.content.decode().split("<footer")[0]
            if page.status_code != 200 or "evil.example" in html or "javascript:" in html:
                return False
    return True


def _next_through_registration(ctx: Context) -> bool:
    token = csrf(ctx.web, "/register")
    for index, evil in enumerate(EVIL):
        fields = {"email": f"n{index}@example.com", "password": PASSWORD, "password_again": PASSWORD, "next": evil}
        ctx.answer(ctx.web.post("/register", {**fields, "csrfmiddlewaretoken": token}))
    return all("next" not in link_query(link_in(mail, "/activate")) for mail in ctx.mailbox())


def _next_after_activation(ctx: Context) -> bool:
    for index, evil in enumerate(EVIL):
        link = _activation_link(ctx, email=f"n{index}@example.com", username=f"n{index}")
        response = _press(ctx, "/activate", {**link_query(link), "next": evil})
        if response.status_code != 302 or urlsplit(response["Location"]).netloc or response["Location"] != "/signin":
            return False
    return True


def _next_in_the_activation_mail_of_resend(ctx: Context) -> bool:
    _activation_link(ctx)
    token = csrf(ctx.web, "/register/resend")
    for evil in EVIL:
        ctx.answer(ctx.web.post("/register/resend", {"email": "newcomer@example.com", "next": evil, "csrfmiddlewaretoken": token}))
    return all("next" not in link_query(link_in(mail, "/activate")) for mail in ctx.mailbox())


ATTACKS = [
    Attack("a reused activation link", _reused_activation),
    Attack("an expired activation link", _expired_activation),
    Attack("a reused reset link", _reused_reset),
    Attack("an expired reset link", _expired_reset),
    Attack("a reset link for another user (tampered uid)", _other_users_uid),
    Attack("an activation token used as a reset token", _activation_token_as_reset_token),
    Attack("a tampered token", _tampered_token),
    Attack("enumeration through register", _enumerate(
        "/api/register", {"email": "alice@example.com", "password": PASSWORD}, NEW_ACCOUNT)),
    Attack("enumeration through register, username taken", _enumerate_by_username),
    Attack("enumeration through resend", _enumerate(
        "/api/register/resend", {"email": "alice@example.com"}, {"email": "nobody@example.com"})),
    Attack("enumeration through resend, awaiting activation", _enumerate_pending),
    Attack("enumeration through reset", _enumerate(
        "/api/password/reset", {"email": "alice@example.com"}, {"email": "nobody@example.com"})),
    Attack("Host-header poisoning of the activation link", _poisoned_host("/api/register", NEW_ACCOUNT, "/activate", **POISON)),
    Attack("Host-header poisoning of the reset link", _poisoned_host(
        "/api/password/reset", {"email": "alice@example.com"}, "/password/reset/confirm", **POISON)),
    Attack("next open redirect on the pages' forms and links", _next_on_pages),
    Attack("next open redirect through the registration mail", _next_through_registration),
    Attack("next open redirect after activation", _next_after_activation),
    Attack("next open redirect through the resent mail", _next_in_the_activation_mail_of_resend),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda attack: attack.name)
def test_accounts_refuse(user, keyring, mailbox, attack):  # noqa: F811 (mailbox is a fixture)
    ctx = Context(api=APIClient(), web=Browser(enforce_csrf_checks=True, HTTP_ACCEPT=HTML), mailbox=mailbox, answer=Answers())

    assert attack.run(ctx), attack.name
    assert ctx.answer.seen and all(response.status_code < 500 for response in ctx.answer.seen)
