"""Driving the issuer's pages with Django's test client, CSRF checks on, as a browser has them."""
from __future__ import annotations

import re

from django.conf import settings
from django.test import Client as Browser

from tests.conftest import PASSWORD

HTML = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"


def csrf(web: Browser, url: str = "/signin") -> str:
    """Open `url` and return the CSRF token its forms carry."""
    page = web.get(url)
    assert page.status_code == 200
    return web.cookies[settings.CSRF_COOKIE_NAME].value


def sign_in(web: Browser, username: str = "alice", password: str = PASSWORD, *, next: str | None = None, ip: str = "10.0.0.1"):
    """Post the sign-in form; return the response."""
    token = csrf(web, "/signin" + (f"?next={next}" if next else ""))
    data = {"username": username, "password": password, "csrfmiddlewaretoken": token}
    if next is not None:
        data["next"] = next
    return web.post("/signin", data, REMOTE_ADDR=ip)


def page_for_comparison(response, *addresses: str) -> str:
    """The page's HTML with `addresses` and the per-render CSRF mask (the language switcher's form) blanked."""
    html = re.sub(r'(name="csrfmiddlewaretoken" value=")[^"]+"', r'\1"', response.content.decode())
    for address in addresses:
        html = html.replace(address, "X")
    return html
