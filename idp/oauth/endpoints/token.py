"""The token endpoint (RFC 6749 §3.2): authorization_code (§4.1.3) and refresh_token (§6) grants.

Client authentication is authlib's (idp/oauth/server.py); codes, grants, rotation and tokens are
Kunci's (idp/oauth/codes.py, idp/sessions.py). Every answer is JSON that no cache keeps
(RFC 6749 §5.1); errors are RFC 6749 §5.2 `{error, error_description}`.
"""
from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from idp import sessions
from idp.conf import idp_settings
from idp.exceptions import ScopeNotGranted, TokenRejected
from idp.models import SessionEnd
from idp.oauth import codes
from idp.oauth.models import Client
from idp.oauth.responses import invalid_client, no_store, token_error
from idp.oauth.server import ClientAuthenticationFailed, authenticate_client


@method_decorator(csrf_exempt, name="dispatch")
class TokenView(View):
    """POST only (RFC 6749 §3.2): a client, authenticated, exchanges a code or a refresh token for tokens."""

    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            client = authenticate_client(request)
        except ClientAuthenticationFailed as failed:
            return invalid_client(failed.description, basic=failed.basic)
        grant_type = request.POST.get("grant_type")
        if not grant_type:
            return token_error("invalid_request", "grant_type is required")
        if not client.check_grant_type(grant_type):
            return token_error("unsupported_grant_type", "Only authorization_code and refresh_token are supported")
        if grant_type == "authorization_code":
            return _exchange_code(request, client)
        return _refresh(request, client)


def _exchange_code(request: HttpRequest, client: Client) -> HttpResponse:
    now = timezone.now()
    try:
        # One transaction: the redemption, the grant and its tokens commit together, and a
        # concurrent replay waits on the redemption's row until the grant it must end exists.
        with transaction.atomic():
            code = codes.redeem_code(
                request.POST.get("code"), client=client, redirect_uri=request.POST.get("redirect_uri"),
                code_verifier=request.POST.get("code_verifier"), now=now,
            )
            grant = sessions.start_grant(code.sid, client, code.scope, clock=lambda: now)
            minted = sessions.issue_grant_tokens(grant, nonce=code.nonce or None, auth_time=code.auth_time, now=now)
    except codes.CodeReplayed as replay:
        # RFC 6749 §4.1.2, OIDC Core §3.1.3.2: a code used twice ends what its first redemption
        # created. Outside the transaction above, which the error rolled back, so it commits.
        sessions.end_grant_of(sid=replay.sid, client_id=replay.client_id, reason=SessionEnd.CODE_REPLAY, at=now)
        return token_error(replay.error, replay.description)
    except codes.CodeRejected as rejected:
        return token_error(rejected.error, rejected.description)
    except TokenRejected as rejected:
        # The OP session (or its grant) ended between the authorization and this request.
        return token_error("invalid_grant", rejected.description)
    return _tokens(minted)


def _refresh(request: HttpRequest, client: Client) -> HttpResponse:
    raw = request.POST.get("refresh_token")
    if not raw:
        return token_error("invalid_request", "refresh_token is required")
    try:
        # RFC 6749 §6, RFC 9700 §4.14.2: rotation and reuse detection, as /api/login/refresh.
        # sessions.refresh_grant commits a reuse's session ending before it raises.
        minted = sessions.refresh_grant(raw, client=client, scope=request.POST.get("scope") or None)
    except ScopeNotGranted as refused:
        return token_error("invalid_scope", refused.description)
    except TokenRejected as rejected:
        return token_error("invalid_grant", rejected.description)
    return _tokens(minted)


def _tokens(minted: sessions.GrantTokens) -> HttpResponse:
    # RFC 6749 §5.1, OIDC Core §3.1.3.3.
    body: dict[str, Any] = {
        "access_token": minted.access,
        "token_type": "Bearer",
        "expires_in": int(idp_settings.ACCESS_TOKEN_LIFETIME.total_seconds()),
        "refresh_token": minted.refresh,
        "scope": minted.scope,
    }
    if minted.id_token is not None:
        body["id_token"] = minted.id_token
    return no_store(JsonResponse(body))
