"""The Client model: digest-only secrets, validation, and the methods authlib's grants call."""
from __future__ import annotations

import base64

import pytest
from authlib.integrations.django_oauth2.requests import DjangoOAuth2Request
from authlib.oauth2.rfc6749 import ClientAuthentication, ClientMixin
from authlib.oauth2.rfc6749.errors import InvalidClientError
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import RequestFactory

from idp.oauth import credentials
from idp.oauth.models import AuthMethod, Client, PublicClientError
from tests.idp.oauth.test_redirect_uris import NOT_MATCHING

pytestmark = pytest.mark.django_db

REDIRECT_URI = "https://app.example.com/callback"


def make_client(**fields) -> tuple[Client, str | None]:
    client = Client(name=fields.pop("name", "App"), redirect_uris=fields.pop("redirect_uris", [REDIRECT_URI]), **fields)
    secret = None if client.is_public else client.set_new_secret()
    client.full_clean()
    client.save()
    return client, secret


def test_a_client_is_an_authlib_client():
    assert isinstance(Client(), ClientMixin)


def test_a_new_client_gets_a_random_url_safe_client_id():
    first, _ = make_client(name="one")
    second, _ = make_client(name="two")

    assert first.client_id != second.client_id
    assert first.get_client_id() == first.client_id
    assert len(first.client_id) == 24 and "=" not in first.client_id


def test_only_the_digest_of_the_secret_is_stored_nowhere_the_plaintext():
    client, secret = make_client()

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {Client._meta.db_table} WHERE id = %s", [client.pk])
        row = cursor.fetchone()

    assert all(secret not in str(value) for value in row)
    assert credentials.secret_digest(secret) in row


def test_the_right_secret_is_accepted_and_any_other_refused():
    client, secret = make_client()
    client = Client.objects.get(pk=client.pk)

    assert client.check_client_secret(secret)
    assert not client.check_client_secret(secret[:-1])
    assert not client.check_client_secret(secret + "x")
    assert not client.check_client_secret(client.secret_digest)  # the digest is not a secret
    assert not client.check_client_secret("")


def test_the_secret_check_compares_digests_in_constant_time(monkeypatch):
    client, secret = make_client()
    compared = []
    monkeypatch.setattr(credentials.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or a == b)

    assert client.check_client_secret(secret)
    assert compared == [(client.secret_digest, client.secret_digest)]


def test_a_new_secret_replaces_the_old_one():
    client, old = make_client()
    new = client.set_new_secret()
    client.save()

    assert client.check_client_secret(new)
    assert not client.check_client_secret(old)


def test_a_public_client_has_no_secret_and_cannot_be_given_one():
    client, secret = make_client(token_endpoint_auth_method=AuthMethod.NONE)

    assert secret is None and client.is_public and client.secret_digest == ""
    assert not client.check_client_secret("")
    with pytest.raises(PublicClientError):
        client.set_new_secret()


def test_there_is_no_default_redirect_uri_so_the_request_must_name_one():
    client, _ = make_client()

    assert client.get_default_redirect_uri() is None


def test_only_registered_redirect_uris_match_exactly():
    client, _ = make_client(redirect_uris=[REDIRECT_URI, "http://127.0.0.1:8082/cb?x=1"])

    assert client.check_redirect_uri(REDIRECT_URI)
    assert client.check_redirect_uri("http://127.0.0.1:8082/cb?x=1")


@pytest.mark.parametrize("candidate", NOT_MATCHING)
def test_redirect_uri_manipulations_are_refused(candidate):
    client, _ = make_client(redirect_uris=[REDIRECT_URI, "http://127.0.0.1:8082/cb?x=1"])

    assert not client.check_redirect_uri(candidate)


def test_post_logout_redirect_uris_match_exactly_and_only_their_own_list():
    client, _ = make_client(post_logout_redirect_uris=["https://app.example.com/bye"])

    assert client.check_post_logout_redirect_uri("https://app.example.com/bye")
    assert not client.check_post_logout_redirect_uri("https://app.example.com/bye/")
    assert not client.check_post_logout_redirect_uri(REDIRECT_URI)


@pytest.mark.parametrize(
    ("requested", "granted"),
    [
        ("openid profile email", "openid profile email"),
        ("email openid", "email openid"),
        ("openid admin email", "openid email"),  # unsupported scopes are ignored, not refused
        ("openid openid", "openid"),
        ("admin", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_the_allowed_scope_is_the_requested_scopes_this_client_may_have(requested, granted):
    client, _ = make_client()

    assert client.get_allowed_scope(requested) == granted


def test_scopes_default_to_openid_profile_email():
    client, _ = make_client()

    assert client.allowed_scopes == ["openid", "profile", "email"]


@pytest.mark.parametrize(
    ("registered", "method", "allowed"),
    [
        (AuthMethod.CLIENT_SECRET_BASIC, "client_secret_basic", True),
        (AuthMethod.CLIENT_SECRET_BASIC, "client_secret_post", False),
        (AuthMethod.CLIENT_SECRET_BASIC, "none", False),
        (AuthMethod.CLIENT_SECRET_POST, "client_secret_post", True),
        (AuthMethod.CLIENT_SECRET_POST, "client_secret_basic", False),
        (AuthMethod.NONE, "none", True),
        (AuthMethod.NONE, "client_secret_basic", False),
    ],
)
@pytest.mark.parametrize("endpoint", ["token", "revocation", "introspection"])
def test_a_client_authenticates_only_with_its_registered_method(registered, method, allowed, endpoint):
    client, _ = make_client(token_endpoint_auth_method=registered)

    assert client.check_endpoint_auth_method(method, endpoint) is allowed


@pytest.mark.parametrize(("response_type", "allowed"), [("code", True), ("token", False), ("id_token", False), ("code id_token", False)])
def test_only_the_code_response_type_is_allowed(response_type, allowed):
    assert Client().check_response_type(response_type) is allowed


@pytest.mark.parametrize(
    ("grant_type", "allowed"),
    [("authorization_code", True), ("refresh_token", True), ("password", False), ("client_credentials", False), ("implicit", False)],
)
def test_only_the_code_and_refresh_grants_are_allowed(grant_type, allowed):
    assert Client().check_grant_type(grant_type) is allowed


# authlib's client authentication, run on the model (RFC 6749 §2.3.1).

def _authenticate(django_request, methods=("client_secret_basic", "client_secret_post", "none")):
    authenticate = ClientAuthentication(lambda client_id: Client.objects.filter(client_id=client_id).first())
    return authenticate(DjangoOAuth2Request(django_request), list(methods), "token")


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_authlib_authenticates_a_basic_client_with_its_secret():
    client, secret = make_client()
    request = RequestFactory().post("/token", {"grant_type": "authorization_code"}, secure=True,
                                    HTTP_AUTHORIZATION=_basic(client.client_id, secret))

    assert _authenticate(request) == client


def test_authlib_refuses_a_basic_client_with_a_wrong_secret():
    client, secret = make_client()
    request = RequestFactory().post("/token", {"grant_type": "authorization_code"}, secure=True,
                                    HTTP_AUTHORIZATION=_basic(client.client_id, secret + "x"))

    with pytest.raises(InvalidClientError):
        _authenticate(request)


def test_authlib_refuses_a_basic_client_sending_its_secret_in_the_body():
    client, secret = make_client()
    request = RequestFactory().post("/token", {"client_id": client.client_id, "client_secret": secret}, secure=True)

    with pytest.raises(InvalidClientError):
        _authenticate(request)


def test_authlib_authenticates_a_post_client_with_its_secret_in_the_body():
    client, secret = make_client(token_endpoint_auth_method=AuthMethod.CLIENT_SECRET_POST)
    request = RequestFactory().post("/token", {"client_id": client.client_id, "client_secret": secret}, secure=True)

    assert _authenticate(request) == client


def test_authlib_refuses_a_secret_in_the_query_string():
    client, secret = make_client(token_endpoint_auth_method=AuthMethod.CLIENT_SECRET_POST)
    request = RequestFactory().post(
        f"/token?client_id={client.client_id}&client_secret={secret}", {"grant_type": "authorization_code"}, secure=True,
    )

    with pytest.raises(InvalidClientError):
        _authenticate(request)


def test_authlib_takes_a_public_client_by_its_id_alone_but_never_a_confidential_one():
    public, _ = make_client(name="spa", token_endpoint_auth_method=AuthMethod.NONE)
    confidential, _ = make_client(name="web")
    factory = RequestFactory()

    assert _authenticate(factory.post("/token", {"client_id": public.client_id}, secure=True)) == public
    with pytest.raises(InvalidClientError):
        _authenticate(factory.post("/token", {"client_id": confidential.client_id}, secure=True))


# Validation (Client.clean, which the admin and `manage.py clients` both run).

def _errors(**fields) -> dict[str, list[str]]:
    client = Client(**{"name": "App", "redirect_uris": [REDIRECT_URI], **fields})
    with pytest.raises(ValidationError) as caught:
        client.full_clean()
    return caught.value.message_dict


def test_a_valid_registration_passes():
    Client(name="App", redirect_uris=[REDIRECT_URI], post_logout_redirect_uris=["https://app.example.com/"],
           backchannel_logout_uri="https://app.example.com/backchannel").full_clean()


def test_at_least_one_redirect_uri_is_required():
    assert _errors(redirect_uris=[])["redirect_uris"] == ["Register at least one redirect URI."]


def test_each_bad_uri_is_named_with_its_reason():
    errors = _errors(redirect_uris=[REDIRECT_URI, "https://app.example.com/#x", "myapp:/cb"])

    assert errors["redirect_uris"] == [
        "'https://app.example.com/#x' must not contain a fragment (RFC 6749 §3.1.2).",
        "'myapp:/cb' uses the scheme 'myapp': custom URI schemes for native apps (RFC 8252 §7.1) are not "
        "supported; register an https URI, or an http loopback URI such as http://127.0.0.1:PORT/callback.",
    ]


@pytest.mark.parametrize("field", ["post_logout_redirect_uris", "backchannel_logout_uri"])
def test_logout_uris_follow_the_same_rules(field):
    bad = "https://user@app.example.com/out"
    errors = _errors(**{field: [bad] if field.endswith("uris") else bad})

    assert "userinfo" in errors[field][0]


def test_a_uri_listed_twice_is_refused():
    assert _errors(redirect_uris=[REDIRECT_URI, REDIRECT_URI])["redirect_uris"] == ["Lists a URI twice."]


@pytest.mark.parametrize("value", ["https://app.example.com/cb", {"uri": REDIRECT_URI}, [42]])
def test_a_uri_list_must_be_a_list_of_strings(value):
    assert "redirect_uris" in _errors(redirect_uris=value)


def test_http_off_loopback_is_refused_outside_demo_mode(monkeypatch):
    monkeypatch.delenv("KUNCI_DEMO", raising=False)

    assert "must use https" in _errors(redirect_uris=["http://app.example.com/cb"])["redirect_uris"][0]


def test_http_is_accepted_in_demo_mode(monkeypatch):
    monkeypatch.setenv("KUNCI_DEMO", "1")

    Client(name="App", redirect_uris=["http://app.example.com/cb"]).full_clean()


def test_loopback_literals_are_accepted_over_http_outside_demo_mode(monkeypatch):
    monkeypatch.delenv("KUNCI_DEMO", raising=False)

    Client(name="App", redirect_uris=["http://127.0.0.1:51004/cb", "http://[::1]:61023/cb"]).full_clean()


@pytest.mark.parametrize("scopes", [["openid", "pro file"], ["openid", 'e"mail'], ["openid", ""], "openid profile"])
def test_scopes_must_be_a_list_of_scope_tokens(scopes):
    assert "allowed_scopes" in _errors(allowed_scopes=scopes)


@pytest.mark.parametrize("name", ["", "   "])
def test_a_blank_name_is_refused_once(name):
    assert len(_errors(name=name)["name"]) == 1


def test_names_are_unique():
    make_client(name="App")

    assert _errors(name="App")["name"] == ["A client with this name already exists."]
