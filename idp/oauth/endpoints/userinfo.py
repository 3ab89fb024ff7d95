"""The UserInfo endpoint (OpenID Connect Core §5.3): the signed-in user's claims, per granted scope.

The access token is Kunci's `at+jwt`, verified by the issuer's one verifier (idp/verification.py),
and it must still belong to a live session and grant: a token of a signed-out session, or of a
grant ended by a code replay, is refused before it expires. Errors are RFC 6750 §3 challenges.
"""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from idp.sessions import live_session
from idp.verification import verify_access
from relying_party.exceptions import TokenRejected


def _challenge(status: int, error: str | None = None, description: str = "") -> HttpResponse:
    # RFC 6750 §3: WWW-Authenticate: Bearer, with error and error_description when the request
    # carried a token (§3.1: no error code when it had no authentication at all).
    parts = ['realm="kunci"']
    if error:
        parts += [f'error="{error}"', 'error_description="{}"'.format(description.replace('"', "'"))]
    body = {"error": error, "error_description": description} if error else {}
    response = JsonResponse(body, status=status)
    response["WWW-Authenticate"] = "Bearer " + ", ".join(parts)
    return response


def claims_for(user: Any, scope: str) -> dict[str, Any]:
    """Return the standard claims (OIDC Core §5.1) `scope` grants (§5.4: profile, email); `sub` always."""
    scopes = set(scope.split())
    claims: dict[str, Any] = {"sub": str(user.pk)}
    if "profile" in scopes:
        full_name = user.get_full_name()
        claims.update({
            "preferred_username": user.get_username(),
            "given_name": user.first_name,
            "family_name": user.last_name,
            "name": full_name or user.get_username(),
            # OIDC Core §5.1: seconds since the epoch, a JSON number.
            "updated_at": int(user.updated_at.timestamp()),
        })
        claims = {name: value for name, value in claims.items() if value != ""}
    if "email" in scopes and user.email:
        # Kunci does not verify addresses (no confirmation mail): it says so (§5.1).
        claims.update({"email": user.email, "email_verified": False})
    return claims


@method_decorator([never_cache, csrf_exempt], name="dispatch")
class UserInfoView(View):
    """GET or POST with `Authorization: Bearer`, or POST with an `access_token` form field (RFC 6750 §2.1, §2.2)."""

    http_method_names = ["get", "post", "options"]

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._answer(request)

    def post(self, request: HttpRequest) -> HttpResponse:
        return self._answer(request)

    def _answer(self, request: HttpRequest) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        from_header = credentials.strip() if scheme.lower() == "bearer" else None
        # RFC 6750 §2.2: the form field only in a form-encoded POST body, never the query (§2.3 is not offered).
        from_body = request.POST.get("access_token") if request.method == "POST" else None
        if from_header and from_body:
            # RFC 6750 §2: "Clients MUST NOT use more than one method to transmit the token".
            return _challenge(400, "invalid_request", "The access token was sent in more than one way")
        token = from_header or from_body
        if not token:
            return _challenge(401)
        try:
            claims = verify_access(token)
        except TokenRejected as rejected:
            return _challenge(401, "invalid_token", rejected.description)
        scope = claims.get("scope")
        # OIDC Core §5.3: the access token must have been granted with the openid scope.
        if not isinstance(scope, str) or "openid" not in scope.split():
            return _challenge(403, "insufficient_scope", "The access token was not granted the openid scope")
        session = live_session(claims)
        if session is None:
            return _challenge(401, "invalid_token", "The session or grant of this access token has ended")
        if not session.user.is_active:
            return _challenge(401, "invalid_token", "User is inactive")
        return JsonResponse(claims_for(session.user, scope))
