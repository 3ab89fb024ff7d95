"""idp.oauth.hashes: `at_hash` and `c_hash` of RS256 id_tokens, against OpenID Connect Core Appendix A."""
from __future__ import annotations

import base64
import hashlib

from authlib.oidc.core.util import create_half_hash

from idp.oauth import hashes

# OpenID Connect Core 1.0 Appendix A.3: an access_token and the at_hash of its RS256 id_token.
CORE_A3_ACCESS_TOKEN = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
CORE_A3_AT_HASH = "77QmUPtjPfzWtF2AnpK9RQ"
# OpenID Connect Core 1.0 Appendix A.4: a code and the c_hash of its RS256 id_token.
CORE_A4_CODE = "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk"
CORE_A4_C_HASH = "LDktKdoQak3Pk0cnXxCltA"


def test_at_hash_of_the_appendix_a3_access_token():
    assert hashes.at_hash(CORE_A3_ACCESS_TOKEN) == CORE_A3_AT_HASH


def test_c_hash_of_the_appendix_a4_code():
    assert hashes.c_hash(CORE_A4_CODE) == CORE_A4_C_HASH


def test_a_hash_is_the_unpadded_base64url_of_the_first_16_bytes_of_sha256():
    token = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"
    left_half = hashlib.sha256(token.encode()).digest()[:16]

    value = hashes.at_hash(token)

    assert len(value) == 22 and "=" not in value
    assert base64.urlsafe_b64decode(value + "==") == left_half


def test_the_hashes_agree_with_authlibs_half_hash_for_rs256():
    # An independent implementation, which authlib's own id_token validation (the demo apps' client) uses.
    for value in (CORE_A3_ACCESS_TOKEN, CORE_A4_CODE, "x" * 500):
        assert hashes.at_hash(value) == create_half_hash(value, "RS256").decode("ascii")
