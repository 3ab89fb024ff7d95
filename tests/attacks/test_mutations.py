"""Property: no mutation of a valid token is accepted unless it leaves the token unchanged."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from idp.conf import idp_settings
from idp.verification import verify_access, verify_refresh
from keys import keyring as keys_api
from keys import exceptions as keyring_errors
from relying_party.exceptions import TokenRejected
from relying_party.exceptions import TokenRejected as RelyingPartyRejected
from relying_party.exceptions import UnknownKey as RelyingPartyUnknownKey
from relying_party.verifier import TokenVerifier
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

ALPHABET = st.sampled_from(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \x00\xff"))


@st.composite
def mutations(draw, token: str) -> str:
    """Flip, delete, insert or swap: one to three edits anywhere in the token."""
    chars = list(token)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["replace", "delete", "insert", "swap_segments"]))
        position = draw(st.integers(0, max(0, len(chars) - 1)))
        if kind == "replace" and chars:
            chars[position] = draw(ALPHABET)
        elif kind == "delete" and chars:
            del chars[position]
        elif kind == "insert":
            chars.insert(position, draw(ALPHABET))
        else:
            segments = "".join(chars).split(".")
            i, j = draw(st.integers(0, len(segments) - 1)), draw(st.integers(0, len(segments) - 1))
            segments[i], segments[j] = segments[j], segments[i]
            chars = list(".".join(segments))
    return "".join(chars)


@pytest.fixture
def pair(keyring, user) -> dict[str, str]:
    return APIClient().post("/api/login", {"username": "alice", "password": PASSWORD}, format="json").json()


class PublishedKeys:
    """The relying party's key source, answered straight from the issuer's keyring."""

    def get_key(self, kid: str):
        try:
            return keys_api.verifying_key(kid)
        except keyring_errors.UnknownKey as e:
            raise RelyingPartyUnknownKey() from e


@pytest.fixture
def relying_party(keyring) -> TokenVerifier:
    return TokenVerifier(
        jwks=PublishedKeys(), issuer=idp_settings.ISSUER, audience=idp_settings.AUDIENCE, verified_cache_size=0
    )


HYPOTHESIS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@HYPOTHESIS
@given(data=st.data())
def test_a_mutated_access_token_is_never_accepted(pair, data):
    mutated = data.draw(mutations(pair["access"]))
    if mutated == pair["access"]:
        return
    with pytest.raises(TokenRejected):
        verify_access(mutated)


@HYPOTHESIS
@given(data=st.data())
def test_a_mutated_access_token_is_never_accepted_by_a_relying_party(pair, relying_party, data):
    mutated = data.draw(mutations(pair["access"]))
    if mutated == pair["access"]:
        return
    with pytest.raises(RelyingPartyRejected):
        relying_party.verify(mutated)


@HYPOTHESIS
@given(data=st.data())
def test_a_mutated_refresh_token_is_never_accepted(pair, data):
    mutated = data.draw(mutations(pair["refresh"]))
    if mutated == pair["refresh"]:
        return
    with pytest.raises(TokenRejected):
        verify_refresh(mutated)


def _padded_twin(token: str) -> str:
    header, payload, signature = token.split(".")
    return ".".join(part + "=" * (-len(part) % 4) for part in (header, payload, signature))


def test_padded_segments_are_refused_by_both_sides(pair, relying_party):
    twin = _padded_twin(pair["access"])
    assert twin != pair["access"]

    with pytest.raises(TokenRejected):
        verify_access(twin)
    with pytest.raises(RelyingPartyRejected):
        relying_party.verify(twin)


def _spare_bits_twin(token: str) -> str:
    # 256 signature bytes are 342 base64url characters; the last one carries 4 bits and 2 spare.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return token[:-1] + alphabet[alphabet.index(token[-1]) ^ 0b01]


def test_a_signature_whose_last_character_differs_only_in_spare_bits_is_refused(pair):
    with pytest.raises(TokenRejected) as refused:
        verify_access(_spare_bits_twin(pair["access"]))

    assert refused.value.code == "token_malformed"


def test_a_relying_party_refuses_a_signature_that_differs_only_in_spare_bits(pair, relying_party):
    assert relying_party.verify(pair["access"]).kid

    with pytest.raises(RelyingPartyRejected):
        relying_party.verify(_spare_bits_twin(pair["access"]))
