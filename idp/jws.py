"""The issuer's one minting seam: `sign(claims, typ=...)` with the keyring's active key.

Every token Kunci issues (access, refresh, id and logout tokens) is a claims dict built in
idp/tokens.py and signed here, RS256 with the signing key's `kid` and the token's `typ` in the
header (RFC 7515 §4.1.4, §4.1.9), so that relying parties pick the key by kid and no kind of
token can be taken for another (RFC 8725 §3.11).
"""
from __future__ import annotations

from typing import Any

import jwt

from keys import keyring

ALGORITHM = "RS256"


def sign(claims: dict[str, Any], *, typ: str) -> str:
    """Return `claims` as a compact JWS signed with the active key, with `kid` and `typ` in its header."""
    active = keyring.signing_key()
    return jwt.encode(claims, active.private_key, algorithm=ALGORITHM, headers={"kid": active.kid, "typ": typ})
