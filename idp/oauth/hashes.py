"""The id_token's `at_hash` and `c_hash` (OpenID Connect Core 1.0 §3.1.3.6, §3.3.2.11), for RS256.

Django-free on purpose, and tested against the examples of OpenID Connect Core Appendix A.
Written by hand (four lines) rather than with authlib's `oidc.core.util.create_half_hash`: Kunci
signs only RS256, and that helper picks its hash by parsing the `alg` name, returns bytes, and
answers None for a name it does not know, where a wrong claim should be impossible.
"""
from __future__ import annotations

import base64
import hashlib


def _left_half_sha256(value: str) -> str:
    # OIDC Core §3.1.3.6: "the base64url encoding of the left-most half of the hash of the octets
    # of the ASCII representation of the access_token value, where the hash algorithm used is the
    # hash algorithm used in the alg Header Parameter of the ID Token's JOSE Header" (RS256:
    # SHA-256, so the left-most 128 bits), without padding (OIDC Core §1.2, RFC 7515 §2).
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def at_hash(access_token: str) -> str:
    """Return the `at_hash` of an RS256 id_token issued with `access_token` (OIDC Core §3.1.3.6)."""
    return _left_half_sha256(access_token)


def c_hash(code: str) -> str:
    """Return the `c_hash` of an RS256 id_token issued with authorization `code` (OIDC Core §3.3.2.11)."""
    return _left_half_sha256(code)
