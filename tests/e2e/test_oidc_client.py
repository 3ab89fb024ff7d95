"""openid-client v6, a standard OpenID Connect relying party, against the live issuer.

Each test runs tests/e2e/node/oidc_client.mjs under node (see tests/e2e/oidc_client.py). Scenarios
that need the code flow's endpoints (code exchange, userinfo, refresh) are written in the script;
their tests belong here once the issuer serves those endpoints.
"""
from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.oidc_client import OpenIDClientError

CLIENT_ID = "kunci-e2e"
CLIENT_SECRET = "e2e client secret"
REDIRECT_URI = "http://127.0.0.1:9/callback"
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


@pytest.fixture
def relying_party(issuer, node_client):
    return node_client(issuer.url, CLIENT_ID, CLIENT_SECRET)


def test_openid_client_discovers_the_issuer_and_its_jwks(issuer, relying_party):
    result = relying_party.run("discovery")

    metadata = result["server_metadata"]
    # openid-client compares the discovered issuer with the URL it was given, string for string.
    assert metadata["issuer"] == issuer.url
    assert metadata["jwks_uri"] == f"{issuer.url}/.well-known/jwks.json"
    assert result["client_metadata"]["client_id"] == CLIENT_ID


def test_openid_client_refuses_discovery_whose_issuer_is_not_the_url_it_asked(issuer, node_client):
    # The same server under another name: its metadata names 127.0.0.1, so the issuer does not match
    # (OIDC Discovery §4.3) and openid-client refuses it with its own error code.
    other_name = issuer.url.replace("127.0.0.1", "localhost")

    with pytest.raises(OpenIDClientError) as refused:
        node_client(other_name, CLIENT_ID, CLIENT_SECRET).run("discovery")

    assert refused.value.code == "OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED"
    assert refused.value.error["cause"]["attribute"] == "issuer"


@pytest.mark.xfail(
    strict=True,
    reason="discovery lacks authorization_endpoint and response_types_supported (OIDC Discovery §3); "
    "remove this mark when the OpenID Provider publishes them",
)
def test_openid_client_discovers_every_required_metadata_field(relying_party):
    metadata = relying_party.run("discovery")["server_metadata"]

    assert REQUIRED_METADATA <= metadata.keys(), sorted(REQUIRED_METADATA - metadata.keys())
    assert "code" in metadata["response_types_supported"]


@pytest.mark.xfail(
    strict=True,
    raises=OpenIDClientError,
    reason="discovery has no authorization_endpoint yet; remove this mark when the OpenID Provider publishes it",
)
def test_openid_client_builds_a_code_flow_authorization_url_with_pkce_s256_nonce_and_state(relying_party):
    result = relying_party.run("authorization-url", redirect_uri=REDIRECT_URI)

    metadata = relying_party.run("discovery")["server_metadata"]
    url = urlsplit(result["url"])
    assert result["url"].startswith(metadata["authorization_endpoint"] + "?")
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == REDIRECT_URI
    assert set(query["scope"].split()) == {"openid", "profile", "email"}
    assert query["nonce"] == result["nonce"]
    assert query["state"] == result["state"]
    # RFC 7636 §4.2: S256 is BASE64URL(SHA256(code_verifier)) without padding.
    assert query["code_challenge_method"] == "S256"
    digest = hashlib.sha256(result["code_verifier"].encode("ascii")).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.mark.xfail(
    strict=True,
    raises=OpenIDClientError,
    reason="discovery has no end_session_endpoint yet (RP-Initiated Logout 1.0 §2.1); "
    "remove this mark when the OpenID Provider publishes it",
)
def test_openid_client_builds_an_rp_initiated_logout_url(relying_party):
    result = relying_party.run(
        "end-session-url", id_token_hint="an.id.token", post_logout_redirect_uri=REDIRECT_URI, state="after-logout"
    )

    metadata = relying_party.run("discovery")["server_metadata"]
    url = urlsplit(result["url"])
    assert result["url"].startswith(metadata["end_session_endpoint"] + "?")
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    assert query == {
        "client_id": CLIENT_ID,
        "id_token_hint": "an.id.token",
        "post_logout_redirect_uri": REDIRECT_URI,
        "state": "after-logout",
    }
