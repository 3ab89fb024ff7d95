"""idp/tokens.py: claim builders, with the time of issue injected and settings read at call time."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from django.test import override_settings

from idp import tokens
from idp.conf import IDP_DEFAULTS

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
EPOCH = int(NOW.timestamp())
ALICE = SimpleNamespace(pk=7, email="alice@example.com", get_username=lambda: "alice")


def test_access_claims_are_exactly_those_of_the_json_api():
    claims = tokens.access_claims(ALICE, sid="s-1", now=NOW)

    assert claims == {
        "iss": "http://127.0.0.1:8000",
        "aud": "kunci-apps",
        "sub": "7",
        "user_id": "7",
        "exp": EPOCH + 300,
        "iat": EPOCH,
        "jti": claims["jti"],
        "token_type": "access",
        "sid": "s-1",
        "username": "alice",
        "email": "alice@example.com",
    }
    assert len(claims["jti"]) == 32


def test_access_claims_take_an_audience_and_the_claims_of_an_oauth_client():
    claims = tokens.access_claims(
        ALICE, sid="s-1", now=NOW, audience=["kunci-apps", "client-1"], client_id="client-1", scope="openid email"
    )

    assert claims["aud"] == ["kunci-apps", "client-1"]
    assert (claims["client_id"], claims["scope"]) == ("client-1", "openid email")


def test_refresh_claims_are_the_session_claims_with_the_refresh_lifetime():
    claims = tokens.refresh_claims(ALICE, sid="s-1", now=NOW)

    assert claims["token_type"] == "refresh"
    assert claims["exp"] == EPOCH + 86400
    assert {name for name in claims} == {
        "iss", "aud", "sub", "user_id", "exp", "iat", "jti", "token_type", "sid", "username", "email"
    }
    assert tokens.expires_at(claims) == NOW + timedelta(days=1)
    assert tokens.issued_at(claims) == NOW


def test_every_token_gets_its_own_jti():
    first, second = (tokens.refresh_claims(ALICE, sid="s-1", now=NOW) for _ in range(2))

    assert first["jti"] != second["jti"]


def test_lifetimes_issuer_and_audience_are_read_at_call_time():
    changed = {
        **IDP_DEFAULTS,
        "ISSUER": "https://id.example",
        "AUDIENCE": "other-apps",
        "ACCESS_TOKEN_LIFETIME": timedelta(seconds=60),
        "REFRESH_TOKEN_LIFETIME": timedelta(hours=2),
    }
    with override_settings(KUNCI_IDP=changed):
        access = tokens.access_claims(ALICE, sid="s-1", now=NOW)
        refresh = tokens.refresh_claims(ALICE, sid="s-1", now=NOW)

    assert (access["iss"], access["aud"], access["exp"]) == ("https://id.example", "other-apps", EPOCH + 60)
    assert refresh["exp"] == EPOCH + 7200


def test_an_explicit_lifetime_wins_over_the_setting():
    assert tokens.access_claims(ALICE, sid="s", now=NOW, lifetime=timedelta(seconds=30))["exp"] == EPOCH + 30


def test_a_user_without_an_email_gets_an_empty_one():
    nameless = SimpleNamespace(pk=8, get_username=lambda: "bob")

    assert tokens.access_claims(nameless, sid="s", now=NOW)["email"] == ""


@pytest.mark.parametrize("nonce", [None, "n-0S6_WzA2Mj"])
def test_id_token_claims_follow_openid_connect_core(nonce):
    signed_in = NOW - timedelta(minutes=3)

    claims = tokens.id_token_claims(
        ALICE, sid="s-1", client_id="client-1", auth_time=signed_in, now=NOW, lifetime=timedelta(minutes=5), nonce=nonce
    )

    expected = {
        "iss": "http://127.0.0.1:8000",
        "sub": "7",
        "aud": "client-1",
        "azp": "client-1",
        "exp": EPOCH + 300,
        "iat": EPOCH,
        "auth_time": EPOCH - 180,
        "sid": "s-1",
    }
    assert claims == (expected if nonce is None else {**expected, "nonce": nonce})


def test_the_typ_of_each_kind_differs():
    assert (tokens.ACCESS_TYP, tokens.REFRESH_TYP, tokens.ID_TOKEN_TYP, tokens.LOGOUT_TYP) == (
        "at+jwt", "refresh+jwt", "JWT", "logout+jwt"
    )


def test_logout_claims_follow_back_channel_logout_2_4():
    claims = tokens.logout_claims(sub="7", sid="s-1", client_id="client-1", now=NOW)

    # Back-Channel Logout 1.0 §2.4: iss, aud, iat, exp, jti, events, and sub and sid; never a nonce.
    assert claims == {
        "iss": "http://127.0.0.1:8000",
        "sub": "7",
        "aud": "client-1",
        "iat": EPOCH,
        "exp": EPOCH + 120,
        "jti": claims["jti"],
        "sid": "s-1",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    }
    assert len(claims["jti"]) == 32
    assert claims["jti"] != tokens.logout_claims(sub="7", sid="s-1", client_id="client-1", now=NOW)["jti"]
