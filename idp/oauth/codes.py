"""Authorization codes: issued at the authorization endpoint, redeemed once at the token endpoint.

A code is 256 random bits, stored only as its SHA-256 digest, and bound to the client, the exact
redirect URI, the PKCE challenge, the nonce, the scope and the OP session (`sid`). Single use
holds under concurrency by compare-and-set: of any number of simultaneous redemptions, the one
whose `UPDATE ... WHERE redeemed_at IS NULL` changes the row wins, and every other one is a replay.

Every refusal is a `CodeRejected` whose `error` is the RFC 6749 §5.2 code to answer with and whose
`code` and `description` say precisely why. A replay is `CodeReplayed`, which names the session and
the client of the first redemption, so that the token endpoint can end the grant it created
(RFC 6749 §4.1.2: the server "SHOULD revoke (when possible) all tokens previously issued based on
that authorization code"; OpenID Connect Core §3.1.3.2).
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from idp.conf import idp_settings
from idp.oauth import credentials, pkce
from idp.oauth.models import NONCE_MAX_LENGTH, AuthorizationCode, Client
from relying_party.exceptions import CodedError

CODE_BYTES = 32  # 256 bits; RFC 6749 §10.10 asks for at most 2^-128 odds of guessing one


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
    `digest` names the code itself.
    """

    code = "code_replayed"
    description = "The authorization code has already been used"

    def __init__(self, *, sid: str, client_id: int, user_id: Any, digest: str) -> None:
        super().__init__()
        self.sid, self.client_id, self.user_id, self.digest = sid, client_id, user_id, digest


def code_digest(code: str) -> str:
    """Return the hex SHA-256 digest under which `code` is stored."""
    # The same fast digest as client secrets, for the same reason: 256 random bits need no slow hash.
    return credentials.secret_digest(code)


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
    """Store a new code for `client` under the OP `session` (a LoginSession), and return the code.

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
    code = secrets.token_urlsafe(CODE_BYTES)
    AuthorizationCode.objects.create(
        digest=code_digest(code),
        client=client,
        user_id=session.user_id,
        session=session,
        redirect_uri=redirect_uri,
        code_challenge=code_challenge,
        nonce=nonce,
        scope=scope,
        auth_time=auth_time,
        created_at=now,
        expires_at=now + timedelta(seconds=idp_settings.AUTHORIZATION_CODE_SECONDS),
    )
    return code


def redeem_code(
    code: object, *, client: Client, redirect_uri: object, code_verifier: object, now: datetime
) -> AuthorizationCode:
    """Redeem `code` for the authenticated `client`, once; return the redeemed code, or raise CodeRejected.

    Call it inside the transaction that then writes the grant: a failure after the redemption
    rolls it back (the client may retry), and a concurrent replay waits on the row until that
    transaction ends, so it sees the grant it must end. A refusal other than a replay changes
    nothing. A CodeReplayed must be acted on in a transaction of its own (the one that raised is
    rolled back).
    """
    if not isinstance(code, str) or not code:
        raise CodeUnknown()
    authorization = AuthorizationCode.objects.filter(digest=code_digest(code)).first()
    if authorization is None:
        raise CodeUnknown()
    if authorization.client_id != client.pk:
        raise CodeWrongClient()
    # A redeemed code is a replay even once expired: what its redemption created may still be alive.
    if authorization.redeemed_at is not None:
        raise _replayed(authorization)
    if now >= authorization.expires_at:
        raise CodeExpired()
    if redirect_uri != authorization.redirect_uri:
        raise RedirectURIMismatch()
    _check_verifier(authorization.code_challenge, code_verifier)
    # Compare-and-set: exactly one of any concurrent redemptions changes the row.
    won = AuthorizationCode.objects.filter(digest=authorization.digest, redeemed_at__isnull=True).update(redeemed_at=now)
    if won != 1:
        raise _replayed(authorization)
    authorization.redeemed_at = now
    return authorization


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


def _replayed(authorization: AuthorizationCode) -> CodeReplayed:
    return CodeReplayed(
        sid=authorization.session_id, client_id=authorization.client_id,
        user_id=authorization.user_id, digest=authorization.digest,
    )
