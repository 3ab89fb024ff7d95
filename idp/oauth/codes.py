"""Authorization codes: sealed at the authorization endpoint, redeemed once at the token endpoint.

A code is the authorization itself, sealed: a 128-bit random id, then the client, a digest of the
exact redirect URI, the PKCE challenge, the nonce, the scope, the user, the OP session (`sid`),
`auth_time` and the expiry as JSON under AES-256-GCM (`cryptography`). Each code has a key of its
own, derived from SECRET_KEY with the id as salt (HKDF-SHA256, RFC 5869, one purpose of its own):
a key seals one message only, so GCM's nonce can never repeat under a key however many codes are
issued (NIST SP 800-38D §8), and SECRET_KEY_FALLBACKS still open codes sealed before a rotation.
GCM's tag makes any change to a code, its id included, or a code made up, unknown; one spelling
only is accepted. Encryption keeps what a code carries (the nonce, the scope, the sid) out of the
browser's history and the logs that see the redirect. Whoever holds SECRET_KEY can seal codes, as
they can sign Django's password-reset links: it is the issuer's to keep. Issuing a code writes
nothing, and a single sign-on's authorization costs no statement for it.

Single use is the row a redemption writes (`RedeemedCode`, keyed by the code's id) in the
transaction that then writes the grant: of any number of simultaneous redemptions only one
INSERT commits, and every other one is a replay. On PostgreSQL a concurrent INSERT of the same
id waits until the first transaction ends, so that a replay sees the grant it must end (and if
that transaction rolled back, the waiting redemption goes on as the only one). RFC 6749 §10.5:
codes are "short lived and single-use" (AUTHORIZATION_CODE_SECONDS, 60 by default).

Every refusal is a `CodeRejected` whose `error` is the RFC 6749 §5.2 code to answer with and whose
`code` and `description` say precisely why. A replay is `CodeReplayed`, which names the session and
the client of the first redemption, so that the token endpoint can end the grant it created
(RFC 6749 §4.1.2: the server "SHOULD revoke (when possible) all tokens previously issued based on
that authorization code"; OpenID Connect Core §3.1.3.2).
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.crypto import constant_time_compare

from idp.conf import idp_settings
from idp.oauth import pkce
from idp.oauth.models import NONCE_MAX_LENGTH, Client, RedeemedCode
from relying_party.exceptions import CodedError

CODE_ID_BYTES = 16  # 128 bits: two codes never share an id, nor so a key (RFC 6749 §10.10)
# Each key seals one code, so one fixed nonce is safe (NIST SP 800-38D §8.2: unique per key).
_GCM_NONCE = bytes(12)
_PURPOSE = b"kunci authorization code"
# A code longer than this was not made here: the longest nonce (255 characters of up to 4 bytes)
# and the scopes a client may hold fit well within it, which issue_code checks.
MAX_CODE_LENGTH = 4096
_CODE = re.compile(r"[A-Za-z0-9_-]+")


class CodeRejected(CodedError):
    """A token request's code was refused; `error` is the RFC 6749 §5.2 error, `code` the precise reason."""

    error = "invalid_grant"
    code = "code_invalid"
    description = "The authorization code is invalid"


class CodeUnknown(CodeRejected):
    code = "code_unknown"
    description = "The authorization code is not known to this issuer"


class CodeExpired(CodeRejected):
    code = "code_expired"
    description = "The authorization code has expired"


class CodeWrongClient(CodeRejected):
    # RFC 6749 §4.1.3: "ensure that the authorization code was issued to the authenticated
    # confidential client, or if the client is public, ensure that the code was issued to
    # "client_id" in the request".
    code = "code_wrong_client"
    description = "The authorization code was issued to another client"


class RedirectURIMismatch(CodeRejected):
    # RFC 6749 §4.1.3: the redirect_uri must be "identical" to the authorization request's.
    code = "redirect_uri_mismatch"
    description = "redirect_uri differs from the one of the authorization request"


class VerifierMissing(CodeRejected):
    # RFC 7636 §4.5: the client "MUST send" the code_verifier; a missing required parameter is
    # invalid_request (RFC 6749 §5.2).
    error = "invalid_request"
    code = "code_verifier_missing"
    description = "code_verifier is required: the authorization request had a code_challenge"


class VerifierMalformed(CodeRejected):
    error = "invalid_request"
    code = "code_verifier_malformed"
    description = "code_verifier must be 43 to 128 unreserved characters (RFC 7636 §4.1)"


class VerifierWrong(CodeRejected):
    # RFC 7636 §4.6: "If the values are not equal, an error response indicating "invalid_grant"
    # [...] MUST be returned."
    code = "code_verifier_wrong"
    description = "code_verifier does not match the code_challenge"


class VerifierUnexpected(CodeRejected):
    # RFC 9700 §2.1.1, §4.8.2 (PKCE downgrade): a token request with a code_verifier is accepted
    # only if the authorization request had a code_challenge.
    error = "invalid_request"
    code = "code_verifier_unexpected"
    description = "code_verifier was sent, but the authorization request had no code_challenge"


class CodeReplayed(CodeRejected):
    """The code was redeemed before: refuse, and end what that redemption created.

    `sid` and `client_id` (the Client's primary key) name the grant the first redemption made;
    `code_id` names the code itself.
    """

    code = "code_replayed"
    description = "The authorization code has already been used"

    def __init__(self, *, sid: str, client_id: int, user_id: Any, code_id: str) -> None:
        super().__init__()
        self.sid, self.client_id, self.user_id, self.code_id = sid, client_id, user_id, code_id


@dataclass(frozen=True)
class Authorization:
    """What a code carries, opened: the authorization request's outcome, as the token endpoint needs it."""

    code_id: str
    client_id: int  # the Client's primary key
    user_id: Any
    sid: str
    redirect_uri_digest: str
    code_challenge: str
    nonce: str
    scope: str
    auth_time: datetime
    expires_at: datetime


def issue_code(
    *,
    client: Client,
    session: Any,
    redirect_uri: str,
    scope: str,
    nonce: str = "",
    code_challenge: str = "",
    auth_time: datetime,
    now: datetime,
) -> str:
    """Seal a new code for `client` under the OP `session` (a LoginSession), and return it.

    The authorization endpoint has validated the request; what it passes here is checked again
    only where a mistake would weaken the code: a public client must have a challenge (RFC 9700
    §2.1.1), a challenge must be S256, and the nonce must fit. Each raises ValueError.
    """
    if code_challenge and not pkce.is_valid_challenge(code_challenge):
        raise ValueError("code_challenge is not an S256 challenge")
    if client.is_public and not code_challenge:
        raise ValueError("a public client's code must be bound to a code_challenge")
    if len(nonce) > NONCE_MAX_LENGTH:
        raise ValueError(f"nonce is longer than {NONCE_MAX_LENGTH} characters")
    expires_at = now + timedelta(seconds=idp_settings.AUTHORIZATION_CODE_SECONDS)
    fields = {
        "client": client.pk, "user": session.user_id, "sid": session.sid, "redirect_uri": _digest(redirect_uri),
        "challenge": code_challenge, "nonce": nonce, "scope": scope,
        "auth_time": auth_time.timestamp(), "exp": expires_at.timestamp(),
    }
    code_id = secrets.token_bytes(CODE_ID_BYTES)
    plaintext = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
    sealed = _cipher(settings.SECRET_KEY, code_id).encrypt(_GCM_NONCE, plaintext, None)
    code = _b64(code_id + sealed)
    if len(code) > MAX_CODE_LENGTH:
        raise ValueError(f"the code would be longer than {MAX_CODE_LENGTH} characters")
    return code


def open_code(code: object) -> Authorization:
    """Return what `code` carries, or raise CodeUnknown if it was not sealed here (or was changed since)."""
    if not isinstance(code, str) or len(code) > MAX_CODE_LENGTH or not _CODE.fullmatch(code):
        raise CodeUnknown()
    raw = base64.urlsafe_b64decode(code + "=" * (-len(code) % 4)) if len(code) % 4 != 1 else b""
    # One spelling only: base64 would also take a last character whose spare bits are set.
    if len(raw) <= CODE_ID_BYTES or _b64(raw) != code:
        raise CodeUnknown()
    code_id, sealed = raw[:CODE_ID_BYTES], raw[CODE_ID_BYTES:]
    for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        try:
            fields = json.loads(_cipher(secret, code_id).decrypt(_GCM_NONCE, sealed, None))
        except InvalidTag:
            continue
        return Authorization(
            code_id=_b64(code_id), client_id=fields["client"], user_id=fields["user"], sid=fields["sid"],
            redirect_uri_digest=fields["redirect_uri"], code_challenge=fields["challenge"], nonce=fields["nonce"],
            scope=fields["scope"], auth_time=datetime.fromtimestamp(fields["auth_time"], timezone.utc),
            expires_at=datetime.fromtimestamp(fields["exp"], timezone.utc),
        )
    raise CodeUnknown()


def _cipher(secret: str, code_id: bytes) -> AESGCM:
    # HKDF (RFC 5869): the code's own key, from SECRET_KEY (or a fallback) and the code's id as salt.
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=code_id, info=_PURPOSE).derive(secret.encode())
    return AESGCM(key)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _digest(redirect_uri: str) -> str:
    # The code carries a digest of the redirect URI, not the URI: a long URI would make a long code.
    return _b64(hashlib.sha256(redirect_uri.encode()).digest())


def redeem_code(
    code: object, *, client: Client, redirect_uri: object, code_verifier: object, now: datetime
) -> Authorization:
    """Redeem `code` for the authenticated `client`, once; return what it carries, or raise CodeRejected.

    Call it inside the transaction that then writes the grant: a failure after the redemption
    rolls it back (the client may retry), and a concurrent replay waits on the redemption's row
    until that transaction ends, so it sees the grant it must end. A refusal changes nothing.
    """
    authorization = open_code(code)
    if authorization.client_id != client.pk:
        raise CodeWrongClient()
    try:
        if now >= authorization.expires_at:
            raise CodeExpired()
        if not isinstance(redirect_uri, str) or not constant_time_compare(
            _digest(redirect_uri), authorization.redirect_uri_digest,
        ):
            raise RedirectURIMismatch()
        _check_verifier(authorization.code_challenge, code_verifier)
    except CodeRejected:
        # A redeemed code is a replay whatever else is wrong with the request, even once expired:
        # what its redemption created may still be alive.
        if not _record_redemption(authorization, keep=False):
            raise _replayed(authorization) from None
        raise
    # Single use: of any number of concurrent redemptions, exactly one inserts the row.
    if not _record_redemption(authorization, keep=True):
        raise _replayed(authorization)
    return authorization


def _record_redemption(authorization: Authorization, *, keep: bool) -> bool:
    """Insert the code's redemption row, kept or rolled back at once; return False if the code was redeemed.

    In a savepoint of its own, so that the caller's transaction outlives a replay's failed INSERT.
    Rolled back, it tells whether a redemption committed or is committing: on PostgreSQL the INSERT
    waits for a concurrent one to end, where a SELECT would not see it yet.
    """
    try:
        with transaction.atomic():
            RedeemedCode.objects.create(code_id=authorization.code_id, expires_at=authorization.expires_at)
            if not keep:
                transaction.set_rollback(True)
    except IntegrityError:
        return False
    return True


def _check_verifier(challenge: str, verifier: object) -> None:
    if not challenge:
        if verifier not in (None, ""):
            raise VerifierUnexpected()
        return
    if verifier in (None, ""):
        raise VerifierMissing()
    if not pkce.is_valid_verifier(verifier):
        raise VerifierMalformed()
    if not pkce.verify(verifier, challenge):
        raise VerifierWrong()


def _replayed(authorization: Authorization) -> CodeReplayed:
    return CodeReplayed(
        sid=authorization.sid, client_id=authorization.client_id,
        user_id=authorization.user_id, code_id=authorization.code_id,
    )
