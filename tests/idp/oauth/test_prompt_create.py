"""OpenID Connect Prompt Create 1.0: prompt=create starts at the registration page and ends back in the authorization."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client as BrowserClient

from tests.conftest import PASSWORD
from tests.idp.accounts.conftest import HTML, csrf, link_in, link_query, mailbox  # noqa: F401 (fixture)
from tests.idp.oauth.conftest import auth_params, redirect_query

pytestmark = pytest.mark.django_db


def test_prompt_create_sends_the_browser_to_the_registration_page_with_the_request_as_next(rp):
    response = BrowserClient().get("/authorize", auth_params(rp, prompt="create"))

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == "/register"
    [next_url] = parse_qs(location.query)["next"]
    next_query = parse_qs(urlsplit(next_url).query)
    assert next_url.startswith("/authorize?") and "prompt" not in next_query
    assert next_query["client_id"] == [rp.client_id] and next_query["state"] == ["af0ifjsldkj"]


def test_prompt_create_shows_registration_even_to_a_signed_in_browser(browser, rp):
    response = browser.get("/authorize", auth_params(rp, prompt="create"))

    assert response.status_code == 302 and response["Location"].startswith("/register?next=")


def test_register_activate_sign_in_and_the_client_gets_its_code(rp, mailbox):
    web = BrowserClient(enforce_csrf_checks=True, HTTP_ACCEPT=HTML)
    register_url = web.get("/authorize", auth_params(rp, prompt="create"))["Location"]
    next_url = parse_qs(urlsplit(register_url).query)["next"][0]

    token = csrf(web, register_url)
    fields = {"email": "newcomer@example.com", "username": "newcomer", "password": PASSWORD, "password_again": PASSWORD}
    assert web.post("/register", {**fields, "next": next_url, "csrfmiddlewaretoken": token}).status_code == 200
    link = link_in(mailbox()[-1], "/activate")
    token = csrf(web, link.removeprefix("http://127.0.0.1:8000"))
    activated = web.post("/activate", {**link_query(link), "csrfmiddlewaretoken": token})
    signin_url = activated["Location"]
    token = csrf(web, signin_url)
    signed_in = web.post("/signin", {"username": "newcomer", "password": PASSWORD, "next": next_url, "csrfmiddlewaretoken": token})
    back = web.get(signed_in["Location"])

    assert signin_url.startswith("/signin?next=")
    assert signed_in.status_code == 302 and signed_in["Location"] == next_url
    query = redirect_query(back)
    assert "code" in query and query["state"] == "af0ifjsldkj"


def test_prompt_create_with_registration_closed_is_invalid_request(rp, settings):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "REGISTRATION": False}

    query = redirect_query(BrowserClient().get("/authorize", auth_params(rp, prompt="create")))

    assert query["error"] == "invalid_request" and "create" in query["error_description"]


def test_prompt_none_and_create_together_are_invalid_request(rp):
    query = redirect_query(BrowserClient().get("/authorize", auth_params(rp, prompt="none create")))

    assert query["error"] == "invalid_request"


@pytest.mark.parametrize(("registration", "values"), [(True, ["none", "login", "consent", "create"]), (False, ["none", "login", "consent"])])
def test_discovery_lists_create_only_while_registration_is_open(api, keyring, settings, registration, values):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "REGISTRATION": registration}

    config = api.get("/.well-known/openid-configuration").json()

    assert config["prompt_values_supported"] == values
