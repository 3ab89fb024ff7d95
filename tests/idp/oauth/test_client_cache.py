"""idp/oauth/client_cache.py: registered clients kept per process for CLIENT_CACHE_SECONDS."""
from __future__ import annotations

import io
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from idp.checks import check_cache_seconds
from idp.oauth import client_cache
from idp.oauth.client_cache import ClientCache
from idp.oauth.models import Client, RedeemedCode
from tests.idp.oauth.conftest import REDIRECT_URI, assert_oauth_error, auth_params, exchange, redirect_query
from tests.relying_party.conftest import FakeClock

pytestmark = pytest.mark.django_db


@pytest.fixture
def monotonic() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(monotonic, settings) -> ClientCache:
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "CLIENT_CACHE_SECONDS": 5}
    return ClientCache(clock=monotonic)


def _client(name: str = "App") -> Client:
    return Client.objects.create(name=name, redirect_uris=[REDIRECT_URI])


def _change_elsewhere(client: Client, **fields: object) -> None:
    """Change the client's row as another process would: no signal reaches this one."""
    Client.objects.filter(pk=client.pk).update(**fields)


def _remove_elsewhere(client: Client) -> None:
    """Delete the client's row as another process would: no signal reaches this one."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM idp_client WHERE id = %s", [client.pk])


def test_within_client_cache_seconds_a_client_is_read_once(cache, monotonic, django_assert_num_queries):
    client = _client()

    with django_assert_num_queries(1):
        assert cache.get(client.client_id) == client
        monotonic.advance(4.9)
        assert cache.get(client.client_id) == client


def test_a_change_made_elsewhere_shows_once_client_cache_seconds_have_passed(cache, monotonic):
    client = _client()
    cache.get(client.client_id)
    _change_elsewhere(client, redirect_uris=["https://rp.example/other"])

    monotonic.advance(4.9)
    assert cache.get(client.client_id).redirect_uris == [REDIRECT_URI]
    monotonic.advance(0.1)
    assert cache.get(client.client_id).redirect_uris == ["https://rp.example/other"]


def test_a_client_removed_elsewhere_is_gone_once_client_cache_seconds_have_passed(cache, monotonic):
    client = _client()
    cache.get(client.client_id)
    _remove_elsewhere(client)

    monotonic.advance(5)
    assert cache.get(client.client_id) is None


def test_an_unknown_client_id_is_read_every_time(cache, django_assert_num_queries):
    with django_assert_num_queries(2):
        assert cache.get("unknown") is None
        assert cache.get("unknown") is None


def test_zero_seconds_reads_the_database_every_time(cache, settings, django_assert_num_queries):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "CLIENT_CACHE_SECONDS": 0}
    client = _client()

    with django_assert_num_queries(2):
        cache.get(client.client_id)
        cache.get(client.client_id)


def test_a_read_that_raced_a_forget_keeps_nothing(cache, monkeypatch, django_assert_num_queries):
    client = _client()
    filter_clients = Client.objects.filter

    def saved_meanwhile(**lookup: object):
        found = filter_clients(**lookup)
        cache.forget(client.client_id)  # a save in another thread, between the read and the store
        return found

    monkeypatch.setattr(Client.objects, "filter", saved_meanwhile)
    cache.get(client.client_id)
    monkeypatch.undo()

    with django_assert_num_queries(1):
        cache.get(client.client_id)


def test_past_max_entries_the_cache_starts_over(monotonic, settings, django_assert_num_queries):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "CLIENT_CACHE_SECONDS": 5}
    cache = ClientCache(clock=monotonic, max_entries=2)
    first, second, third = _client("A"), _client("B"), _client("C")
    for client in (first, second):
        cache.get(client.client_id)

    with django_assert_num_queries(2):
        cache.get(third.client_id)  # full of live entries: emptied, then keeps the third
        cache.get(first.client_id)
        cache.get(third.client_id)


# The process's cache, at the authorization endpoint.


@pytest.fixture
def cached(settings):
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "CLIENT_CACHE_SECONDS": 5}


def test_a_client_saved_in_this_process_is_read_again_at_once(cached, browser, rp):
    redirect_query(browser.get("/authorize", auth_params(rp)))
    rp.client.redirect_uris = ["https://rp.example/moved"]
    rp.client.save()

    response = browser.get("/authorize", auth_params(rp))

    assert response.status_code == 400 and b"Invalid redirect address" in response.content


def test_a_client_removed_with_the_clients_command_in_this_process_is_gone_at_once(cached, browser, rp):
    redirect_query(browser.get("/authorize", auth_params(rp)))
    call_command("clients", "remove", rp.client_id, stdout=io.StringIO())

    response = browser.get("/authorize", auth_params(rp))

    assert response.status_code == 400 and b"Unknown application" in response.content


@pytest.mark.django_db(transaction=True)
def test_a_client_removed_elsewhere_within_the_ttl_gets_a_code_that_nothing_redeems(cached, browser, api, rp):
    assert client_cache.registered_client(rp.client_id) == rp.client
    _remove_elsewhere(rp.client)

    code = redirect_query(browser.get("/authorize", auth_params(rp)))["code"]

    assert_oauth_error(exchange(api, rp, code), "invalid_client", 401)
    assert not RedeemedCode.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_client_removed_elsewhere_within_the_ttl_gets_the_unknown_application_page_for_a_consent(
    cached, browser, untrusted_rp,
):
    rp = untrusted_rp
    assert client_cache.registered_client(rp.client_id) == rp.client
    _remove_elsewhere(rp.client)

    response = browser.post("/authorize/consent", {"authorization_request": urlencode(auth_params(rp)), "decision": "approve"})

    assert response.status_code == 400 and b"Unknown application" in response.content
    assert response["Content-Type"].startswith("text/html")


# Settings.


@pytest.mark.parametrize("seconds", [-1, 61, "5", True, None])
def test_an_unusable_client_cache_lifetime_fails_the_system_check(seconds):
    with override_settings(KUNCI_IDP={"CLIENT_CACHE_SECONDS": seconds}):
        assert [error.id for error in check_cache_seconds(None)] == ["idp.E006"]


@pytest.mark.parametrize("seconds", [0, 0.5, 5, 60])
def test_a_client_cache_lifetime_up_to_a_minute_passes_the_system_check(seconds):
    with override_settings(KUNCI_IDP={"CLIENT_CACHE_SECONDS": seconds}):
        assert check_cache_seconds(None) == []
