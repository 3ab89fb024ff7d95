"""idp.oauth.pkce: RFC 7636 with S256 only, tested against the RFC's Appendix B example."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from idp.oauth import pkce

# RFC 7636 Appendix B: the example code_verifier and its S256 code_challenge.
RFC7636_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC7636_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_the_s256_challenge_of_the_appendix_b_verifier_is_the_appendix_b_challenge():
    assert pkce.s256_challenge(RFC7636_VERIFIER) == RFC7636_CHALLENGE


def test_the_appendix_b_verifier_proves_the_appendix_b_challenge():
    assert pkce.verify(RFC7636_VERIFIER, RFC7636_CHALLENGE) is True


@pytest.mark.parametrize(
    "verifier",
    [
        RFC7636_VERIFIER[:-1] + "l",  # one character changed
        RFC7636_VERIFIER + "A",  # one character more (still well-formed)
        RFC7636_CHALLENGE,  # the challenge itself, as a "plain" client would send it
    ],
)
def test_any_other_verifier_proves_nothing(verifier):
    assert pkce.verify(verifier, RFC7636_CHALLENGE) is False


def test_only_s256_is_a_supported_method():
    assert pkce.METHODS == ("S256",)
    assert pkce.is_supported_method("S256")
    # RFC 7636 §4.3: a missing method means "plain", which is refused (RFC 9700 §2.1.1).
    for method in ("plain", None, "", "s256", "S256 ", "S512", ["S256"]):
        assert not pkce.is_supported_method(method), method


@pytest.mark.parametrize(
    "verifier",
    ["a" * 43, "a" * 128, "AZaz09-._~" * 5, RFC7636_VERIFIER],
)
def test_verifiers_of_43_to_128_unreserved_characters_are_well_formed(verifier):
    assert pkce.is_valid_verifier(verifier)


@pytest.mark.parametrize(
    "verifier",
    [
        "a" * 42,  # too short (RFC 7636 §4.1: 43 at least)
        "a" * 129,  # too long (128 at most)
        RFC7636_VERIFIER + "\n",  # a trailing newline, which a `$`-anchored pattern lets through
        "a" * 42 + "+",  # not unreserved
        "a" * 42 + "=",
        "a" * 42 + " ",
        "a" * 42 + "é",
        "",
        None,
        42,
        b"a" * 43,
    ],
)
def test_other_verifiers_are_malformed_and_prove_nothing(verifier):
    assert not pkce.is_valid_verifier(verifier)
    assert pkce.verify(verifier, RFC7636_CHALLENGE) is False


@pytest.mark.parametrize(
    "challenge",
    [
        RFC7636_CHALLENGE[:-1],  # 42 characters
        RFC7636_CHALLENGE + "A",  # 44 characters
        RFC7636_CHALLENGE + "=",  # padded
        RFC7636_CHALLENGE + "\n",
        RFC7636_CHALLENGE[:-1] + "N",  # non-canonical last character: encodes no SHA-256 digest
        RFC7636_CHALLENGE[:-1] + "+",  # base64, not base64url
        RFC7636_VERIFIER[:42] + ".",  # a plain verifier, not a digest
        "",
        None,
    ],
)
def test_other_challenges_are_malformed(challenge):
    assert not pkce.is_valid_challenge(challenge)


def test_every_s256_challenge_is_well_formed():
    challenges = [pkce.s256_challenge(f"{i:043d}") for i in range(200)]

    assert all(pkce.is_valid_challenge(challenge) for challenge in challenges)
    assert pkce.is_valid_challenge(RFC7636_CHALLENGE)


def test_a_malformed_challenge_is_proved_by_no_verifier():
    assert pkce.verify(RFC7636_VERIFIER, RFC7636_CHALLENGE + "=") is False


def test_the_module_imports_no_django():
    root = Path(__file__).resolve().parents[3]
    probe = "import sys, idp.oauth.pkce, idp.oauth.hashes; sys.exit('django' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
