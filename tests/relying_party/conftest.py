from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import responses

from relying_party.jwks import JWKSCache
from relying_party.verifier import TokenVerifier
from tests.relying_party.issuer import AUDIENCE, ISSUER, JWKS_URL, T0, SigningKey, jwks, signing_key


class FakeClock:
    """A clock that moves only when told to; serves as both the monotonic and the wall clock."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    # Any request to a URL not registered fails the test: nothing here reaches the network.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def key() -> SigningKey:
    return signing_key("current")


@pytest.fixture
def next_key() -> SigningKey:
    return signing_key("next")


def serve_jwks(
    http: responses.RequestsMock, *keys: SigningKey | dict[str, Any], max_age: int | None = 300, **kwargs: Any
) -> None:
    """Answer every later GET of the JWKS URL with these keys, replacing any earlier answer."""
    headers = {"Cache-Control": f"public, max-age={max_age}"} if max_age is not None else {}
    headers.update(kwargs.pop("headers", {}))
    answer_jwks(http, json=jwks(*keys), headers=headers, **kwargs)


def answer_jwks(http: responses.RequestsMock, callback: Callable[..., Any] | None = None, **kwargs: Any) -> None:
    """Answer every later GET of the JWKS URL with this response or callback, replacing any earlier one."""
    http.remove(responses.GET, JWKS_URL)
    if callback is not None:
        http.add_callback(responses.GET, JWKS_URL, callback=callback)
    else:
        http.get(JWKS_URL, **kwargs)


def jwks_calls(http: responses.RequestsMock) -> int:
    return sum(1 for call in http.calls if call.request.url == JWKS_URL)


@pytest.fixture
def make_cache(clock: FakeClock) -> Callable[..., JWKSCache]:
    def make(**options: Any) -> JWKSCache:
        options.setdefault("clock", clock)
        options.setdefault("session", requests.Session())
        # Refreshes run inline unless a test captures them: deterministic, no threads to join.
        options.setdefault("run_in_background", lambda work: work())
        return JWKSCache(JWKS_URL, **options)

    return make


@pytest.fixture
def make_verifier(clock: FakeClock, make_cache: Callable[..., JWKSCache]) -> Callable[..., TokenVerifier]:
    def make(jwks: JWKSCache | None = None, **options: Any) -> TokenVerifier:
        options.setdefault("issuer", ISSUER)
        options.setdefault("audience", AUDIENCE)
        options.setdefault("clock", clock)
        return TokenVerifier(jwks=jwks or make_cache(), **options)

    return make


@pytest.fixture
def revocation_tables(transactional_db) -> Iterator[tuple[type, type]]:
    """Install relying_party with the tables of its revocation store, under any test settings; yield the models."""
    from django.conf import settings
    from django.db import connection
    from django.test import override_settings

    installed = "relying_party" in settings.INSTALLED_APPS
    with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, *([] if installed else ["relying_party"])]):
        from relying_party.models import LogoutTokenUse, RevokedSession

        made = [m for m in (RevokedSession, LogoutTokenUse) if m._meta.db_table not in connection.introspection.table_names()]
        with connection.schema_editor() as editor:
            for model in made:
                editor.create_model(model)
        try:
            yield RevokedSession, LogoutTokenUse
        finally:
            with connection.schema_editor() as editor:
                for model in made:
                    editor.delete_model(model)
