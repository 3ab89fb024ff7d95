"""openid-client v6, a standard OpenID Connect relying party, against the live issuer.

Each test runs tests/e2e/node/oidc_client.mjs under node (see tests/e2e/oidc_client.py). The code
flow runs whole over real HTTP: openid-client builds the authorization URL, a plain HTTP session
plays the browser (the sign-in form, its CSRF cookie), and openid-client redeems the code, checks
the id_token's signature and claims, calls /userinfo, refreshes, introspects and revokes, and builds
the end-session URL.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from tests.e2e.conftest import PASSWORD
from tests.e2e.oidc_client import OpenIDClientError

REDIRECT_URI = "http://127.0.0.1:9/callback"
POST_LOGOUT_URI = "http://127.0.0.1:9/signed-out"
# OpenID Connect Discovery 1.0 §3: the metadata an OP MUST publish (token_endpoint too, as it is not
# implicit-only).
REQUIRED_METADATA = {
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
}


@pytest.fixture(scope="module")
def registered(deployment, issuer) -> dict[str, str]:
    """A confidential client registered with `manage.py clients add --json`, as an operator would."""
    added = deployment.manage(
        "clients", "add", "openid-client e2e", "--redirect-uri", REDIRECT_URI,
        "--post-logout-redirect-uri", POST_LOGOUT_URI, "--trusted", "--json",
    )
    return json.loads(added.stdout)


@pytest.fixture
def relying_party(issuer, node_client, registered):
    return node_client(issuer.url, registered["client_id"], registered["client_secret"])


def _sign_in_and_authorize(url: str) -> str:
    """Play the browser: open the authorization URL, sign in on Kunci's page, return the callback URL."""
    browser = requests.Session()
    response = browser.get(url, allow_redirects=False, timeout=20)
    # No session yet: the issuer sends the browser to its sign-in page.
    assert response.status_code == 302, response.text
    signin = urljoin(url, response.headers["Location"])
    page = browser.get(signin, timeout=20)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    next_url = re.search(r'name="next" value="([^"]*)"', page.text).group(1).replace("&amp;", "&")
    response = browser.post(
        signin, data={"csrfmiddlewaretoken": csrf, "username": "admin", "password": PASSWORD, "next": next_url},
        headers={"Referer": signin}, allow_redirects=False, timeout=20,
    )
    assert response.status_code == 302, response.text
    response = browser.get(urljoin(url, response.headers["Location"]), allow_redirects=False, timeout=20)
    assert response.status_code == 302 and response.headers["Location"].startswith(REDIRECT_URI), response.text
    return response.headers["Location"]


def test_oidcc_server_the_whole_code_flow_with_openid_client(issuer, relying_party, registered):
    # Discovery, authorization code + PKCE S256, id_token validation (signature against the JWKS,
    # iss, aud, azp, exp, iat, nonce, RFC 9207 iss), userinfo, refresh, and the end-session URL.
    start = relying_party.run("authorization-url", redirect_uri=REDIRECT_URI)
    callback = _sign_in_and_authorize(start["url"])
    assert parse_qs(urlsplit(callback).query)["iss"] == [issuer.url]

    exchanged = relying_party.run(
        "code-exchange", callback_url=callback, code_verifier=start["code_verifier"],
        nonce=start["nonce"], state=start["state"],
    )

    claims = exchanged["claims"]
    assert claims["iss"] == issuer.url and claims["aud"] == registered["client_id"]
    assert claims["nonce"] == start["nonce"] and claims["sid"]
    tokens = exchanged["tokens"]
    info = relying_party.run("userinfo", access_token=tokens["access_token"], sub=claims["sub"])["userinfo"]
    assert info["sub"] == claims["sub"] and info["preferred_username"] == "admin"
    assert info["email"] == "admin@example.com"

    refreshed = relying_party.run("refresh", refresh_token=tokens["refresh_token"])
    assert refreshed["tokens"]["refresh_token"] != tokens["refresh_token"]
    assert refreshed["claims"]["sid"] == claims["sid"]

    logout = relying_party.run(
        "end-session-url", id_token_hint=tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI, state="bye",
    )
    ended = requests.get(logout["url"], allow_redirects=False, timeout=20)
    assert ended.status_code == 302 and ended.headers["Location"] == f"{POST_LOGOUT_URI}?state=bye"
    # The session ended: its refresh token no longer refreshes.
    with pytest.raises(OpenIDClientError) as refused:
        relying_party.run("refresh", refresh_token=refreshed["tokens"]["refresh_token"])
    assert refused.value.oauth_error == "invalid_grant"


def test_openid_client_introspects_and_revokes_through_the_discovered_endpoints(issuer, relying_party, registered):
    # RFC 7662 and RFC 7009 as openid-client calls them: endpoints from discovery, client_secret_basic.
    start = relying_party.run("authorization-url", redirect_uri=REDIRECT_URI)
    callback = _sign_in_and_authorize(start["url"])
    exchanged = relying_party.run(
        "code-exchange", callback_url=callback, code_verifier=start["code_verifier"],
        nonce=start["nonce"], state=start["state"],
    )
    tokens, sid = exchanged["tokens"], exchanged["claims"]["sid"]

    live = relying_party.run("introspection", token=tokens["access_token"])["introspection"]
    assert live["active"] is True and live["client_id"] == registered["client_id"]
    assert live["sid"] == sid and live["iss"] == issuer.url and live["token_type"] == "Bearer"

    relying_party.run("revocation", token=tokens["refresh_token"], token_type_hint="refresh_token")

    # The grant ended: both of its tokens are dead, at once.
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert relying_party.run("introspection", token=token)["introspection"] == {"active": False}
    with pytest.raises(OpenIDClientError) as refused:
        relying_party.run("refresh", refresh_token=tokens["refresh_token"])
    assert refused.value.oauth_error == "invalid_grant"
    # RFC 7009 §2.2: revoking what is already revoked is no error.
    relying_party.run("revocation", token=tokens["refresh_token"])


def test_oidcc_codereuse_with_openid_client(relying_party):
    start = relying_party.run("authorization-url", redirect_uri=REDIRECT_URI)
    callback = _sign_in_and_authorize(start["url"])
    params = dict(callback_url=callback, code_verifier=start["code_verifier"], nonce=start["nonce"], state=start["state"])
    tokens = relying_party.run("code-exchange", **params)["tokens"]

    with pytest.raises(OpenIDClientError) as refused:
        relying_party.run("code-exchange", **params)

    assert refused.value.oauth_error == "invalid_grant"
    # The replay ended the grant the first redemption made: its access token stops working.
    with pytest.raises(OpenIDClientError):
        relying_party.run("userinfo", access_token=tokens["access_token"], sub="1")


def test_openid_client_discovers_the_issuer_and_its_jwks(issuer, relying_party):
    result = relying_party.run("discovery")

    metadata = result["server_metadata"]
    # openid-client compares the discovered issuer with the URL it was given, string for string.
    assert metadata["issuer"] == issuer.url
    assert metadata["jwks_uri"] == f"{issuer.url}/.well-known/jwks.json"
    assert result["client_metadata"]["client_id"] == relying_party.client_id


def test_openid_client_refuses_discovery_whose_issuer_is_not_the_url_it_asked(issuer, node_client, registered):
    # The same server under another name: its metadata names 127.0.0.1, so the issuer does not match
    # (OIDC Discovery §4.3) and openid-client refuses it with its own error code.
    other_name = issuer.url.replace("127.0.0.1", "localhost")

    with pytest.raises(OpenIDClientError) as refused:
        node_client(other_name, registered["client_id"], registered["client_secret"]).run("discovery")

    assert refused.value.code == "OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED"
    assert refused.value.error["cause"]["attribute"] == "issuer"


def test_openid_client_discovers_every_required_metadata_field(relying_party):
    metadata = relying_party.run("discovery")["server_metadata"]

    assert REQUIRED_METADATA <= metadata.keys(), sorted(REQUIRED_METADATA - metadata.keys())
    assert "code" in metadata["response_types_supported"]


def test_openid_client_builds_a_code_flow_authorization_url_with_pkce_s256_nonce_and_state(relying_party):
    result = relying_party.run("authorization-url", redirect_uri=REDIRECT_URI)

    metadata = relying_party.run("discovery")["server_metadata"]
    url = urlsplit(result["url"])
    assert result["url"].startswith(metadata["authorization_endpoint"] + "?")
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == relying_party.client_id
    assert query["redirect_uri"] == REDIRECT_URI
    assert set(query["scope"].split()) == {"openid", "profile", "email"}
    assert query["nonce"] == result["nonce"]
    assert query["state"] == result["state"]
    # RFC 7636 §4.2: S256 is BASE64URL(SHA256(code_verifier)) without padding.
    assert query["code_challenge_method"] == "S256"
    digest = hashlib.sha256(result["code_verifier"].encode("ascii")).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_openid_client_builds_an_rp_initiated_logout_url(relying_party):
    result = relying_party.run(
        "end-session-url", id_token_hint="an.id.token", post_logout_redirect_uri=POST_LOGOUT_URI, state="after-logout"
    )

    metadata = relying_party.run("discovery")["server_metadata"]
    url = urlsplit(result["url"])
    assert result["url"].startswith(metadata["end_session_endpoint"] + "?")
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    assert query == {
        "client_id": relying_party.client_id,
        "id_token_hint": "an.id.token",
        "post_logout_redirect_uri": POST_LOGOUT_URI,
        "state": "after-logout",
    }
