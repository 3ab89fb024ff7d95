"""The relying party's errors: each carries a stable machine `code` and a human `description`.

Django-free on purpose. authentication.py turns these into HTTP answers: a refused token becomes
401 with an RFC 6750 §3 challenge, an unreachable JWKS becomes 503 with Retry-After.
"""
from __future__ import annotations


class InvalidSetting(Exception):
    """An option given to JWKSCache or TokenVerifier (or in settings.RELYING_PARTY) is unusable."""


class CodedError(Exception):
    """A refusal with a stable machine `code` and a human `description`: OAuth's error/description pair.

    The base of every domain error in Kunci, the issuer's included; each endpoint renders them its
    own way (JSON `{detail, code}`, RFC 6749 §5.2 `{error, error_description}`, an HTML page).
    """

    code = "invalid_request"
    description = "The request was refused"

    def __init__(self, description: str | None = None) -> None:
        if description is not None:
            self.description = description
        super().__init__(self.description)


class TokenRejected(CodedError):
    """A presented token was refused; `code` is the stable reason, `description` says it to a human."""

    code = "token_invalid"
    description = "Token is invalid"


class TokenMalformed(TokenRejected):
    code = "token_malformed"
    description = "Token is not a well-formed JWS"


class TokenTooLarge(TokenRejected):
    code = "token_too_large"
    description = "Token is too large"


class TokenInvalid(TokenRejected):
    code = "token_invalid"
    description = "Token is invalid"


class TokenExpired(TokenRejected):
    code = "token_expired"
    description = "Token is expired"


class TokenNotYetValid(TokenRejected):
    code = "token_not_yet_valid"
    description = "Token is not valid yet"


class WrongAudience(TokenRejected):
    code = "wrong_audience"
    description = "Token is not for this audience"


class WrongIssuer(TokenRejected):
    code = "wrong_issuer"
    description = "Token is from another issuer"


class TokenWrongType(TokenRejected):
    code = "token_wrong_type"
    description = "Token is not an access token"


class UnknownKey(TokenRejected):
    code = "unknown_key"
    description = "Token is signed by a key the issuer does not publish"


class SessionEnded(TokenRejected):
    """The token's session was ended at the issuer, which said so in a back-channel logout token."""

    code = "session_ended"
    description = "Token's session has ended"


class UserInactive(TokenRejected):
    code = "user_inactive"
    description = "User is inactive"


class JWKSUnavailable(Exception):
    """No usable key set: a cold start whose fetch failed, or a last good set past its stale cap."""

    code = "jwks_unavailable"
    description = "The issuer's signing keys are unavailable; try again later"

    def __init__(self, retry_after: int, reason: str = "") -> None:
        super().__init__(f"{self.description} ({reason})" if reason else self.description)
        # Whole seconds, at least 1: the value of the 503's Retry-After (RFC 9110 §10.2.3).
        self.retry_after = max(1, int(retry_after))
        self.reason = reason
