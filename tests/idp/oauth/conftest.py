"""Fixtures for the OpenID Provider's endpoints: registered clients, a signed-in browser, the code flow."""
from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from unittest import mock
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client as BrowserClient
from django.utils import timezone

from idp.oauth import codes, pkce
from idp.oauth.models import AuthMethod, Client
from tests.conftest import PASSWORD

REDIRECT_URI = "https://rp.example/callback"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 Appendix B
CHALLENGE = pkce.s256_challenge(VERIFIER)


@dataclass
class Registered:
    client: Client
    secret: str | None

    @property
    def client_id(self) -> str:
        return self.client.client_id

    def basic(self) -> str:
        raw = f"{self.client.client_id}:{self.secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def register(name: str, *, public: bool = False, trusted: bool = True,
             method: str = AuthMethod.CLIENT_SECRET_BASIC, accepts_shared_audience: bool = True, **fields) -> Registered:
    client = Client(
        name=name, redirect_uris=[REDIRECT_URI], post_logout_redirect_uris=["https://rp.example/bye"],
        token_endpoint_auth_method=AuthMethod.NONE if public else method, trusted=trusted,
        accepts_shared_audience=accepts_shared_audience, **fields,
    )
    secret = None if public else client.set_new_secret()
    client.save()
    return Registered(client, secret)


@pytest.fixture
def rp(keyring) -> Registered:
    """A trusted confidential client (client_secret_basic), as the conformance suite registers."""
    return register("Relying Party")


@pytest.fixture
def public_rp(keyring) -> Registered:
    return register("Single-page app", public=True)


@pytest.fixture
def post_rp(keyring) -> Registered:
    return register("Form-posting RP", method=AuthMethod.CLIENT_SECRET_POST)


@pytest.fixture
def untrusted_rp(keyring) -> Registered:
    return register("Third-party app", trusted=False)


def sign_in(browser: BrowserClient, username: str = "alice", password: str = PASSWORD) -> None:
    response = browser.post("/signin", {"username": username, "password": password})
    assert response.status_code == 302, response.content


@pytest.fixture
def browser(user) -> BrowserClient:
    """A browser signed in to Kunci as alice."""
    browser = BrowserClient()
    sign_in(browser)
    return browser


def auth_params(registered: Registered, **overrides) -> dict[str, str]:
    params = {
        "response_type": "code", "client_id": registered.client_id, "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email", "state": "af0ifjsldkj", "nonce": "n-0S6_WzA2Mj",
        "code_challenge": CHALLENGE, "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {name: value for name, value in params.items() if value is not None}


def redirect_query(response) -> dict[str, str]:
    """The query of a redirect to the client, one value per name."""
    assert response.status_code == 302, (response.status_code, response.content[:500])
    location = response["Location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


def get_code(browser: BrowserClient, registered: Registered, **overrides) -> str:
    query = redirect_query(browser.get("/authorize", auth_params(registered, **overrides)))
    assert "code" in query, query
    return query["code"]


def exchange(api, registered: Registered, code: str, *, verifier: str | None = VERIFIER,
             redirect_uri: str = REDIRECT_URI, **extra):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, **extra}
    if verifier is not None:
        data["code_verifier"] = verifier
    return authenticated_post(api, "/token", registered, data)


def authenticated_post(api, path: str, registered: Registered, data: dict, **headers):
    """POST `data` form-encoded to `path` as `registered`, authenticated by its registered method."""
    data = dict(data)
    if registered.client.token_endpoint_auth_method == AuthMethod.CLIENT_SECRET_BASIC:
        headers["HTTP_AUTHORIZATION"] = registered.basic()
    elif registered.client.token_endpoint_auth_method == AuthMethod.CLIENT_SECRET_POST:
        data.update(client_id=registered.client_id, client_secret=registered.secret)
    else:
        data["client_id"] = registered.client_id
    return form_post(api, path, data, **headers)


def tokens_of(browser: BrowserClient, api, registered: Registered, **overrides) -> dict[str, str]:
    """Run the code flow for `registered` in `browser`; return the token endpoint's answer."""
    response = exchange(api, registered, get_code(browser, registered, **overrides))
    assert response.status_code == 200, response.content
    return response.json()


def form_post(client, path: str, data: dict, **headers):
    """POST `data` form-encoded (application/x-www-form-urlencoded), as OAuth clients do."""
    return client.post(path, urlencode(data), content_type="application/x-www-form-urlencoded", **headers)


def assert_oauth_error(response, error: str, status: int = 400) -> None:
    """An RFC 6749 §5.2 error answer: `status`, exactly {error, error_description}, not cached."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "error_description"} and body["error"] == error, body
    assert response["Cache-Control"] == "no-store"


def other_issuers_access_token() -> str:
    """A well-formed access token of another issuer, signed by a key Kunci never published."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {"iss": "https://evil.example", "aud": "kunci-apps", "sub": "1", "exp": int(time.time()) + 60}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "evil", "typ": "at+jwt"})


def carried(code: str) -> codes.Authorization:
    """What an authorization code carries: the request it answers, as the token endpoint opens it."""
    return codes.open_code(code)


@contextmanager
def later(seconds: float) -> Iterator[None]:
    """Run the issuer `seconds` ahead of now, as if what follows came that much later."""
    now = timezone.now
    with mock.patch("django.utils.timezone.now", lambda: now() + timedelta(seconds=seconds)):
        yield
