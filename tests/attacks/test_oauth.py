"""The attack catalogue's OpenID Provider entries: each is refused, with 0 accepted and 0 5xx.

Every attack runs against a signed-in browser and a registered confidential client, so that what
refuses it is the rule under test and not a missing session.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client as BrowserClient

from tests.idp.oauth.conftest import (  # noqa: F401  (fixtures)
    REDIRECT_URI,
    VERIFIER,
    auth_params,
    authenticated_post,
    browser,
    exchange,
    form_post,
    get_code,
    later,
    register,
    rp,
)

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Attack:
    name: str
    run: Callable[..., object]


def _no_code_no_redirect(response) -> bool:
    return response.status_code == 400 and "Location" not in response


def _error_redirect(response, error: str) -> bool:
    location = response.get("Location", "")
    return response.status_code == 302 and f"error={error}" in location and "code=" not in location


REDIRECT_VARIANTS = {
    "trailing slash": REDIRECT_URI + "/",
    "extra query": REDIRECT_URI + "?next=https://evil.example",
    "another port": "https://rp.example:444/callback",
    "another scheme": "http://rp.example/callback",
    "user@host": "https://rp.example@evil.example/callback",
    "userinfo on the real host": "https://evil@rp.example/callback",
    "host case": "https://RP.EXAMPLE/callback",
    "path case": "https://rp.example/CALLBACK",
    "fragment": REDIRECT_URI + "#x",
}


@pytest.mark.parametrize("variant", REDIRECT_VARIANTS.values(), ids=list(REDIRECT_VARIANTS))
def test_unregistered_redirect_uri_variants_get_a_page_never_a_redirect(browser, rp, variant):
    response = browser.get("/authorize", auth_params(rp, redirect_uri=variant))

    assert _no_code_no_redirect(response)


def _downgrade(method):
    return lambda browser, rp, api: _error_redirect(
        browser.get("/authorize", auth_params(rp, code_challenge_method=method)), "invalid_request")


def _verifier(verifier):
    def run(browser, rp, api):
        response = exchange(api, rp, get_code(browser, rp), verifier=verifier)
        return response.status_code == 400 and response.json()["error"] in {"invalid_grant", "invalid_request"}
    return run


def _verifier_without_challenge(browser, rp, api):
    code = get_code(browser, rp, code_challenge=None, code_challenge_method=None)
    return exchange(api, rp, code, verifier=VERIFIER).status_code == 400


def _replay(browser, rp, api):
    code = get_code(browser, rp)
    access = exchange(api, rp, code).json()["access_token"]
    replayed = exchange(api, rp, code)
    still_works = api.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 200
    return replayed.status_code == 400 and not still_works


def _other_client(browser, rp, api):
    return exchange(api, register("Attacker RP"), get_code(browser, rp)).status_code == 400


def _other_redirect(browser, rp, api):
    return exchange(api, rp, get_code(browser, rp), redirect_uri=REDIRECT_URI + "/").status_code == 400


def _expired(browser, rp, api):
    code = get_code(browser, rp)
    with later(61):
        return exchange(api, rp, code).status_code == 400


def _iss_present(browser, rp, api):
    location = browser.get("/authorize", auth_params(rp))["Location"]
    return "iss=http%3A%2F%2F127.0.0.1%3A8000" in location


def _markup(browser, rp, api):
    markup = '"><script>alert(1)</script>'
    pages = [
        browser.get("/authorize", auth_params(rp, client_id=markup, state=markup)),
        browser.get("/authorize", auth_params(rp, redirect_uri=REDIRECT_URI + markup, state=markup)),
        browser.get("/logout", {"post_logout_redirect_uri": markup, "client_id": rp.client_id, "state": markup}),
    ]
    return all(page.status_code == 400 and b"<script>" not in page.content for page in pages)


def _prompt_none(browser, rp, api):
    untrusted = register("Untrusted RP", trusted=False)
    anonymous = BrowserClient().get("/authorize", auth_params(rp, prompt="none"))
    no_consent = browser.get("/authorize", auth_params(untrusted, prompt="none"))
    return _error_redirect(anonymous, "login_required") and _error_redirect(no_consent, "consent_required")


def _foreign_hint():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode({"iss": "https://evil.example", "sub": "1", "aud": "x"}, key, algorithm="RS256",
                      headers={"kid": "evil", "typ": "JWT"})


def _foreign_hint_authorize(browser, rp, api):
    return _error_redirect(browser.get("/authorize", auth_params(rp, id_token_hint=_foreign_hint())), "invalid_request")


def _foreign_hint_logout(browser, rp, api):
    response = browser.get("/logout", {"id_token_hint": _foreign_hint(), "post_logout_redirect_uri": "https://rp.example/bye"})
    return _no_code_no_redirect(response)


def _logout_open_redirect(browser, rp, api):
    response = browser.get("/logout", {"client_id": rp.client_id, "post_logout_redirect_uri": "https://evil.example/"})
    return _no_code_no_redirect(response)


def _secret_in_query(browser, rp, api):
    code = get_code(browser, rp)
    response = api.post(
        f"/token?client_id={rp.client_id}&client_secret={rp.secret}",
        f"grant_type=authorization_code&code={code}&redirect_uri={REDIRECT_URI}&code_verifier={VERIFIER}",
        content_type="application/x-www-form-urlencoded", HTTP_AUTHORIZATION=rp.basic(),
    )
    return response.status_code == 401 and response.json()["error"] == "invalid_client"


def _tokens(browser, registered, api) -> dict[str, str]:
    return exchange(api, registered, get_code(browser, registered)).json()


def _revoke_another_clients_token(browser, rp, api):
    tokens = _tokens(browser, rp, api)
    attacker = register("Attacker RP")
    refused = [authenticated_post(api, "/revoke", attacker, {"token": tokens[kind]})
               for kind in ("access_token", "refresh_token")]
    still_works = api.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").status_code == 200
    return all(response.status_code == 400 and response.json()["error"] == "invalid_grant" for response in refused) \
        and still_works


def _introspect_without_authentication(browser, rp, api):
    access = _tokens(browser, rp, api)["access_token"]
    anonymous = form_post(api, "/introspect", {"token": access})
    bearer = form_post(api, "/introspect", {"token": access}, HTTP_AUTHORIZATION=f"Bearer {access}")
    return all(response.status_code == 401 and response.json()["error"] == "invalid_client"
               and "active" not in response.json() for response in (anonymous, bearer))


def _introspect_as_a_public_client(browser, rp, api):
    spa = register("Attacker SPA", public=True)
    access = _tokens(browser, rp, api)["access_token"]
    response = form_post(api, "/introspect", {"token": access, "client_id": spa.client_id})
    return response.status_code == 401 and response.json()["error"] == "invalid_client"


def _scan_another_clients_refresh_token(browser, rp, api):
    refresh = _tokens(browser, rp, api)["refresh_token"]
    response = authenticated_post(api, "/introspect", register("Attacker RP"), {"token": refresh})
    return response.status_code == 200 and response.json() == {"active": False}


def _secret_in_query_at(path):
    def run(browser, rp, api):
        access = _tokens(browser, rp, api)["access_token"]
        # Correct credentials in the header too: only the secret in the URI is wrong (RFC 6749 §2.3.1).
        response = api.post(f"{path}?client_id={rp.client_id}&client_secret={rp.secret}", f"token={access}",
                            content_type="application/x-www-form-urlencoded", HTTP_AUTHORIZATION=rp.basic())
        still_works = api.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 200
        return response.status_code == 401 and response.json()["error"] == "invalid_client" and still_works
    return run


ATTACKS = [
    Attack("PKCE method downgraded to plain", _downgrade("plain")),
    Attack("PKCE method omitted (plain by default)", _downgrade(None)),
    Attack("PKCE verifier missing", _verifier(None)),
    Attack("PKCE verifier wrong", _verifier("w" * 43)),
    Attack("PKCE verifier for a code that had no challenge", _verifier_without_challenge),
    Attack("code replayed (and the first redemption's tokens stop working)", _replay),
    Attack("code redeemed by another client", _other_client),
    Attack("code redeemed with another redirect URI", _other_redirect),
    Attack("expired code", _expired),
    Attack("mix-up: iss present in the authorization response", _iss_present),
    Attack("reflected markup in state, redirect_uri, client_id on the error pages", _markup),
    Attack("prompt=none never shows UI", _prompt_none),
    Attack("id_token_hint from another issuer at /authorize", _foreign_hint_authorize),
    Attack("id_token_hint from another issuer at the end-session endpoint", _foreign_hint_logout),
    Attack("open redirect through post_logout_redirect_uri", _logout_open_redirect),
    Attack("client_secret in the query string", _secret_in_query),
    Attack("revoking another client's tokens", _revoke_another_clients_token),
    Attack("introspection without client authentication (or with a bearer token)", _introspect_without_authentication),
    Attack("introspection by a public client", _introspect_as_a_public_client),
    Attack("introspection of another client's refresh token (token scanning)", _scan_another_clients_refresh_token),
    Attack("client_secret in the query string at /revoke", _secret_in_query_at("/revoke")),
    Attack("client_secret in the query string at /introspect", _secret_in_query_at("/introspect")),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda attack: attack.name)
def test_the_op_refuses(browser, rp, api, attack):
    assert attack.run(browser, rp, api), attack.name
