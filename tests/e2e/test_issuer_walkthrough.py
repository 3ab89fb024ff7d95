"""The README's curl walkthrough, over real HTTP against a running issuer."""
from __future__ import annotations

import json
import sqlite3
import threading

import jwt
import requests

from tests.e2e.conftest import PASSWORD
from tests.keys.private_material import PRIVATE_MEMBERS, leaked, private_material

responses_seen: list[str] = []


def _post(url: str, body: dict, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.post(url, json=body, headers=headers, timeout=10)
    responses_seen.append(response.text + json.dumps(dict(response.headers)))
    return response


def _get(url: str, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.get(url, headers=headers, timeout=10)
    responses_seen.append(response.text + json.dumps(dict(response.headers)))
    return response


def _login(issuer) -> dict[str, str]:
    response = _post(f"{issuer.url}/api/login", {"username": "admin", "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_walkthrough_login_me_refresh_logout_and_a_refused_refresh(issuer):
    pair = _login(issuer)

    me = _get(f"{issuer.url}/api/me", pair["access"])
    assert me.status_code == 200
    assert me.json()["username"] == "admin"

    refreshed = _post(f"{issuer.url}/api/login/refresh", {"refresh": pair["refresh"]})
    assert refreshed.status_code == 200
    pair = refreshed.json()

    logout = _post(f"{issuer.url}/api/logout", {"refresh": pair["refresh"]}, pair["access"])
    assert logout.status_code == 200

    again = _post(f"{issuer.url}/api/login/refresh", {"refresh": pair["refresh"]})
    assert again.status_code == 401
    assert again.json()["code"] == "token_blacklisted"
    assert again.headers["WWW-Authenticate"].startswith('Bearer realm="kunci", error="invalid_token"')


def test_a_superuser_token_kid_is_in_the_live_jwks(issuer):
    access = _login(issuer)["access"]

    jwks = _get(f"{issuer.url}/.well-known/jwks.json").json()

    assert jwt.get_unverified_header(access)["kid"] in {key["kid"] for key in jwks["keys"]}


def test_pyjwt_verifies_the_access_token_against_the_live_jwks_url(issuer):
    access = _login(issuer)["access"]
    config = _get(f"{issuer.url}/.well-known/openid-configuration").json()
    client = jwt.PyJWKClient(config["jwks_uri"])

    claims = jwt.decode(
        access,
        client.get_signing_key_from_jwt(access).key,
        algorithms=["RS256"],
        issuer=config["issuer"],
        audience="kunci-apps",
    )

    assert claims["username"] == "admin"
    assert claims["iss"] == config["issuer"] == issuer.url


def test_after_a_rotation_new_tokens_carry_the_new_kid_and_old_ones_still_verify_and_refresh(issuer, deployment):
    before = _login(issuer)
    old_kid = jwt.get_unverified_header(before["access"])["kid"]

    deployment.manage("rotate_keys", "--force")

    after = _login(issuer)
    new_kid = jwt.get_unverified_header(after["access"])["kid"]
    assert new_kid != old_kid
    assert _get(f"{issuer.url}/api/me", before["access"]).status_code == 200
    refreshed = _post(f"{issuer.url}/api/login/refresh", {"refresh": before["refresh"]})
    assert refreshed.status_code == 200
    assert jwt.get_unverified_header(refreshed.json()["access"])["kid"] == new_kid
    client = jwt.PyJWKClient(f"{issuer.url}/.well-known/jwks.json")
    for token in (before["access"], after["access"]):
        jwt.decode(token, client.get_signing_key_from_jwt(token).key, algorithms=["RS256"], audience="kunci-apps")


def test_twenty_concurrent_refreshes_of_one_token_give_exactly_one_200(issuer):
    refresh = _login(issuer)["refresh"]
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def refresh_once() -> None:
        barrier.wait()
        statuses.append(requests.post(f"{issuer.url}/api/login/refresh", json={"refresh": refresh}, timeout=30).status_code)

    threads = [threading.Thread(target=refresh_once) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200] + [401] * 19


def _private_material(deployment) -> list[str]:
    """Return the private key material of every key in the issuer's database, as text."""
    query = "SELECT kid, sealed_private_key FROM keys_signingkey WHERE sealed_private_key IS NOT NULL"
    url = deployment.env.get("DATABASE_URL")
    if url:
        import psycopg

        with psycopg.connect(url) as connection:
            rows = connection.execute(query).fetchall()
    else:
        with sqlite3.connect(deployment.var_dir / "idp.sqlite3") as connection:
            rows = connection.execute(query).fetchall()
    return private_material(rows, deployment.env["KUNCI_KEY_ENCRYPTION_KEY"])


def test_no_private_key_material_appears_in_any_response_or_log_line(issuer, deployment):
    # Exercise error paths too: they are where secrets usually leak.
    _post(f"{issuer.url}/api/login/refresh", {"refresh": "x.y.z"})
    _post(f"{issuer.url}/api/login", {"username": "admin", "password": "wrong"})
    deployment.manage("keys")
    outputs = responses_seen + [path.read_text(errors="replace") for path in deployment.log_files]
    outputs.append(deployment.manage("keys").stdout)
    outputs.append(deployment.manage("rotate_keys", check=False).stderr)

    secrets_in_db = _private_material(deployment)
    for text in outputs:
        assert "PRIVATE KEY" not in text
        for member in PRIVATE_MEMBERS:
            assert f'"{member}":' not in text
        assert not leaked(text, secrets_in_db), "private key material appeared in a response or log"
