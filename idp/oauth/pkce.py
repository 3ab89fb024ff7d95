"""Proof Key for Code Exchange (RFC 7636), S256 only: syntax checks and the token endpoint's comparison.

Django-free on purpose: pure functions of the strings a client sends, tested against RFC 7636
Appendix B. Written here rather than taken from authlib's `rfc7636` module, whose patterns end in
`$` (so a value with a trailing newline passes), which compares with `==` (not in constant time),
and which accepts `plain` and treats a missing method as `plain`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re

# RFC 9700 §2.1.1: "PKCE challenge method plain [...] SHOULD NOT" be used; RFC 7636 §4.2 allows
# plain only for clients that cannot do SHA-256, and every client Kunci serves can. So S256 is
# the one method, and `code_challenge_methods_supported` (RFC 8414 §2) names only it.
S256 = "S256"
METHODS = (S256,)

# RFC 7636 §4.1: code-verifier = 43*128unreserved, unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~".
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
# RFC 7636 §4.2: BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) is 32 bytes in 43 characters
# without padding (Appendix A). The 43rd character carries the last 4 bits and two zero bits, so
# only these 16 letters can end a canonical encoding; any other challenge matches no verifier.
_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{42}[AEIMQUYcgkosw048]")


def is_supported_method(method: object) -> bool:
    """Return whether `method` is a `code_challenge_method` Kunci accepts: exactly "S256".

    An absent method means "plain" (RFC 7636 §4.3), so None is refused like "plain" itself.
    """
    return method == S256


def is_valid_verifier(verifier: object) -> bool:
    """Return whether `verifier` has the syntax of an RFC 7636 §4.1 `code_verifier`."""
    return isinstance(verifier, str) and _VERIFIER.fullmatch(verifier) is not None


def is_valid_challenge(challenge: object) -> bool:
    """Return whether `challenge` is a well-formed S256 `code_challenge` (RFC 7636 §4.2)."""
    return isinstance(challenge, str) and _CHALLENGE.fullmatch(challenge) is not None


def s256_challenge(verifier: str) -> str:
    """Return the S256 `code_challenge` of `verifier` (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify(verifier: object, challenge: str) -> bool:
    """Return whether `verifier` proves `challenge` (RFC 7636 §4.6), comparing in constant time.

    A verifier of the wrong syntax proves nothing and returns False, as does a malformed challenge.
    """
    if not is_valid_verifier(verifier) or not is_valid_challenge(challenge):
        return False
    return hmac.compare_digest(s256_challenge(verifier), challenge)  # type: ignore[arg-type]
