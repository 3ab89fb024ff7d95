"""The back-channel logout endpoint: the issuer says a session has ended (OpenID Connect Back-Channel Logout 1.0).

The issuer POSTs `logout_token=<JWT>` as a form (§2.5). The token is verified like every other token,
by the process's verifier with the LOGOUT profile over the same JWKS cache (§2.6), and its `jti` is
taken at most once in the whole app; the session it names (its `sid`, else every session of its
`sub` up to the logout) is recorded in the shared revocation store and in this worker's view at once.
Other workers learn it at their next refresh. From then on the session's access tokens get 401
`session_ended` and its browser sessions at the demo pages are signed out.

Answers (§2.8): 200 with an empty body, or 400 with an RFC 6749 §5.2 `{error, error_description}`;
both `Cache-Control: no-store`. 503 with Retry-After when the keys or the store cannot be had right
now, so that the issuer's outbox tries again; 404 when the app takes no logout tokens.
"""
from __future__ import annotations

import logging
import time
from urllib.parse import parse_qs

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from relying_party.conf import rp_settings
from relying_party.exceptions import CodedError, JWKSUnavailable
from relying_party.revocation_stores import StoreUnavailable, jti_digest
from relying_party.revocations import Revocation
from relying_party.state import default_relying_party, revocation_retention
from relying_party.verifier import VerifiedToken

logger = logging.getLogger("kunci.relying_party.backchannel")

FORM = "application/x-www-form-urlencoded"
# Bytes of form encoding around the token: `logout_token=` and room for a few more fields.
FORM_OVERHEAD_BYTES = 1024
# Seconds the issuer is asked to wait before delivering again after a 503.
RETRY_AFTER = 5


class LogoutRequestInvalid(CodedError):
    """The request is not a back-channel logout request: its method, media type, size or fields."""


def _answer(status: int, error: str | None = None, description: str = "", **headers: str) -> HttpResponse:
    # §2.8: "The response MUST include Cache-Control: no-store" (errors too: nothing here is cacheable).
    headers = {"Cache-Control": "no-store", **headers}
    if error is None:
        return HttpResponse(status=status, headers=headers)
    return JsonResponse({"error": error, "error_description": description}, status=status, headers=headers)


def _logout_token(request: HttpRequest) -> str:
    """Return the one `logout_token` field of a bounded form body (§2.5), or raise LogoutRequestInvalid."""
    if request.content_type != FORM:
        raise LogoutRequestInvalid(f"The body must be {FORM}")
    cap = rp_settings.MAX_TOKEN_BYTES + FORM_OVERHEAD_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = -1
    # Refused on its declared length, before a byte is read.
    if not 0 <= declared <= cap:
        raise LogoutRequestInvalid(f"The body must be at most {cap} bytes")
    try:
        fields = parse_qs(request.body.decode("ascii"), strict_parsing=False, max_num_fields=8)
    except (UnicodeDecodeError, ValueError) as e:
        raise LogoutRequestInvalid("The body is not a form of at most 8 ASCII fields") from e
    tokens = fields.get("logout_token", [])
    if len(tokens) != 1:
        raise LogoutRequestInvalid("The body must carry exactly one logout_token")
    return tokens[0]


def revocation_for(token: VerifiedToken, *, now: float) -> Revocation:
    """Return what a verified logout token ends: its session, or every session of its user up to it (§2.4)."""
    kind = "sid" if "sid" in token.claims else "sub"
    return Revocation(kind, token[kind], float(token["iat"]), now + revocation_retention())


@csrf_exempt
def logout(request: HttpRequest) -> HttpResponse:
    """Take a back-channel logout request: end the session its logout token names, in every worker."""
    if request.method != "POST":
        return _answer(405, "invalid_request", "Back-channel logout requests are POSTed", Allow="POST")
    relying_party = default_relying_party()
    if relying_party.logout is None or relying_party.revocations is None:
        return _answer(404, "invalid_request", "This app takes no back-channel logout tokens")
    try:
        verified = relying_party.logout.verify(_logout_token(request))
        revocation = revocation_for(verified, now=time.time())
        relying_party.revocations.store.record(
            revocation,
            jti=jti_digest(verified["iss"], verified["jti"]),
            # Past its exp (and the leeway) the token is refused anyway: its jti need not be kept.
            jti_expires_at=verified.exp + rp_settings.LEEWAY,
        )
    except CodedError as e:
        return _answer(400, "invalid_request", e.description)
    except JWKSUnavailable as e:
        return _answer(503, "temporarily_unavailable", e.description, **{"Retry-After": str(e.retry_after)})
    except StoreUnavailable as e:
        logger.warning("a logout token could not be recorded: %s", " ".join(str(e).split())[:300])
        return _answer(
            503, "temporarily_unavailable", "Sessions cannot be ended right now; try again later",
            **{"Retry-After": str(RETRY_AFTER)},
        )
    # This worker refuses the session's tokens at once; the others at their next refresh.
    relying_party.revocations.add([revocation])
    logger.info("a back-channel logout ended the sessions of a %s", revocation.kind)
    return _answer(200)
