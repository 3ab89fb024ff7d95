import jwt
import pytest
from jwt import PyJWKSet

from keys.keyring import rotate_keys

pytestmark = pytest.mark.django_db

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


def test_jwks_publishes_the_active_and_next_keys_with_public_members_only(api, keyring):
    response = api.get("/.well-known/jwks.json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    keys = response.json()["keys"]
    assert {key["kid"] for key in keys} == {keyring["active"], keyring["next"]}
    for key in keys:
        assert set(key) == {"kty", "use", "alg", "kid", "n", "e"}
        assert (key["kty"], key["use"], key["alg"]) == ("RSA", "sig", "RS256")


def test_jwks_sends_cache_control_and_a_strong_etag(api, keyring, settings):
    settings.KUNCI_KEYS = {**settings.KUNCI_KEYS, "JWKS_MAX_AGE": 120}

    response = api.get("/.well-known/jwks.json/")

    assert response["Cache-Control"] == "public, max-age=120"
    assert response["ETag"].startswith('"') and not response["ETag"].startswith("W/")


def test_jwks_answers_304_to_a_matching_if_none_match(api, keyring):
    etag = api.get("/.well-known/jwks.json")["ETag"]

    response = api.get("/.well-known/jwks.json", HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag
    assert response["Cache-Control"].startswith("public, max-age=")


def test_jwks_etag_changes_when_the_keys_change(api, keyring):
    etag = api.get("/.well-known/jwks.json")["ETag"]
    rotate_keys(force=True)

    response = api.get("/.well-known/jwks.json", HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 200
    assert response["ETag"] != etag
    assert len(response.json()["keys"]) == 3


def test_jwks_refuses_post_with_405(api, keyring):
    response = api.post("/.well-known/jwks.json")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_discovery_issuer_equals_the_tokens_iss_byte_for_byte(api, login, user):
    access = login(user)["access"]

    config = api.get("/.well-known/openid-configuration").json()

    claims = jwt.decode(access, options={"verify_signature": False})
    assert config["issuer"] == claims["iss"]
    assert config["jwks_uri"] == f"{claims['iss']}/.well-known/jwks.json"
    assert config["token_endpoint"] == f"{claims['iss']}/token"
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]


def test_oidcc_discovery_endpoint_verification_required_fields_and_only_true_ones(api, keyring, settings):
    # OpenID Connect Discovery 1.0 §3 (the Config OP plan's oidcc-discovery-endpoint-verification):
    # the REQUIRED fields, the OP's real endpoints, and none of the names that never meant what they said.
    config = api.get("/.well-known/openid-configuration").json()
    issuer = settings.KUNCI_IDP["ISSUER"]

    assert config["issuer"] == issuer
    assert config["authorization_endpoint"] == f"{issuer}/authorize"
    assert config["token_endpoint"] == f"{issuer}/token"
    assert config["userinfo_endpoint"] == f"{issuer}/userinfo"
    assert config["end_session_endpoint"] == f"{issuer}/logout"
    assert config["response_types_supported"] == ["code"]
    assert config["response_modes_supported"] == ["query"]
    assert config["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert config["subject_types_supported"] == ["public"]
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert config["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post", "none"]
    # RFC 8414 §2: revocation (RFC 7009) takes public clients too; introspection (RFC 7662) only confidential ones.
    assert config["revocation_endpoint"] == f"{issuer}/revoke"
    assert config["revocation_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post", "none"]
    assert config["introspection_endpoint"] == f"{issuer}/introspect"
    assert config["introspection_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert set(config["scopes_supported"]) == {"openid", "profile", "email"}
    assert {"sub", "iss", "auth_time", "sid", "email", "preferred_username"} <= set(config["claims_supported"])
    assert config["authorization_response_iss_parameter_supported"] is True
    assert config["request_parameter_supported"] is False
    assert config["request_uri_parameter_supported"] is False
    assert config["claims_parameter_supported"] is False
    # Prompt Create 1.0 §4.2: registration is open under test.
    assert config["prompt_values_supported"] == ["none", "login", "consent", "create"]
    assert config["ui_locales_supported"] == ["en", "id", "ru", "ko"]
    for made_up in ("refresh_endpoint", "logout_endpoint", "access_token_signing_alg_values_supported"):
        assert made_up not in config


def test_ui_locales_supported_follows_the_languages_setting(api, keyring, settings):
    settings.LANGUAGES = [("en", "English"), ("ko", "한국어")]

    assert api.get("/.well-known/openid-configuration").json()["ui_locales_supported"] == ["en", "ko"]


def test_an_access_token_verifies_against_the_published_jwks(api, login, user, settings):
    access = login(user)["access"]
    jwks = PyJWKSet.from_dict(api.get("/.well-known/jwks.json").json())
    kid = jwt.get_unverified_header(access)["kid"]

    claims = jwt.decode(
        access,
        jwks[kid].key,
        algorithms=["RS256"],
        audience=settings.KUNCI_IDP["AUDIENCE"],
        issuer=settings.KUNCI_IDP["ISSUER"],
    )

    assert claims["token_type"] == "access"
    assert jwt.get_unverified_header(access)["typ"] == "at+jwt"


def test_the_first_jwks_request_of_a_fresh_deployment_publishes_an_active_and_a_next_key(api, db):
    response = api.get("/.well-known/jwks.json")

    assert response.status_code == 200
    assert len(response.json()["keys"]) == 2


@pytest.mark.parametrize("path", ["/.well-known/jwks.json", "/.well-known/openid-configuration"])
def test_metadata_is_served_whatever_the_client_accepts(api, keyring, path):
    response = api.get(path, HTTP_ACCEPT="application/jwk-set+json")

    assert response.status_code == 200
    assert response.json()


@pytest.mark.parametrize("issuer", ["https://id.example.com/", "id.example.com"])
def test_an_issuer_with_a_trailing_slash_or_no_scheme_fails_the_system_check(settings, issuer):
    from idp.checks import check_issuer_url

    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "ISSUER": issuer}

    assert [error.id for error in check_issuer_url(None)] == ["idp.E002"]


HTTPS_ISSUER = "https://id.example.com"


def _discover(api, settings, issuer: str = HTTPS_ISSUER):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "ISSUER": issuer}
    return api.get("/.well-known/openid-configuration")


def test_oidcc_discovery_endpoint_verification_document_issuer_and_https(api, keyring, settings):
    response = _discover(api, settings)

    # Discovery §4.2: 200 with a JSON body.
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == "application/json"
    config = response.json()
    # §4.3: the issuer is exactly the URL the document was fetched from, minus /.well-known/openid-configuration.
    assert config["issuer"] == HTTPS_ISSUER
    assert "openid" in config["scopes_supported"]
    assert "RS256" in config["id_token_signing_alg_values_supported"]
    assert "updated_at" in config["claims_supported"]
    assert isinstance(config["code_challenge_methods_supported"], list)
    # Every endpoint the document names is https when the issuer is (the suite's all-endpoints-https check).
    endpoints = {name: value for name, value in config.items() if name.endswith(("_endpoint", "_uri"))}
    assert {"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"} <= set(endpoints)
    assert all(value.startswith(HTTPS_ISSUER + "/") for value in endpoints.values()), endpoints


def test_oidcc_discovery_endpoint_verification_jwks_uri_serves_public_signing_keys(api, keyring, settings):
    jwks_uri = _discover(api, settings).json()["jwks_uri"]

    response = api.get(jwks_uri.removeprefix(HTTPS_ISSUER))

    assert response.status_code == 200
    keys = response.json()["keys"]
    assert keys and len({key["kid"] for key in keys}) == len(keys)
    for key in keys:
        # RFC 7517 §4, RFC 7518 §6.3.1: RSA public keys for signatures; no private or symmetric members.
        assert key["kty"] == "RSA" and key["use"] == "sig" and key["alg"] == "RS256"
        assert not (PRIVATE_MEMBERS | {"k"}) & set(key)
    assert len(PyJWKSet.from_dict(response.json()).keys) == len(keys)


def test_oidcc_rp_initiated_logout_discovery_endpoint_verification(api, keyring, settings):
    config = _discover(api, settings).json()

    # RP-Initiated Logout 1.0 §2.1: end_session_endpoint, https.
    assert config["end_session_endpoint"] == f"{HTTPS_ISSUER}/logout"
