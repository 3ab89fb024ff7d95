"""The OAuth answers: authorization responses by redirect, and the JSON of /token, /revoke and /introspect."""
from __future__ import annotations

from typing import Any

from authlib.common.urls import add_params_to_uri
from django.http import HttpResponseRedirect, JsonResponse

from idp.conf import idp_settings


def authorization_redirect(redirect_uri: str, params: dict[str, str | None]) -> HttpResponseRedirect:
    """Redirect to the client's (validated, registered) `redirect_uri` with `params` in its query.

    RFC 9207 §2: every authorization response, success or error, carries `iss`, so a client
    that talks to several issuers can tell whose answer this is (mix-up attacks, RFC 9700 §4.4).
    `state` is returned exactly when the request had one (RFC 6749 §4.1.2, §4.1.2.1).
    """
    query = [(name, value) for name, value in params.items() if value is not None]
    query.append(("iss", idp_settings.ISSUER))
    return HttpResponseRedirect(add_params_to_uri(redirect_uri, query))


def no_store(response: Any) -> Any:
    # RFC 6749 §5.1: "Cache-Control: no-store" and "Pragma: no-cache" on every token response.
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def token_error(error: str, description: str, *, status: int = 400, headers: dict[str, str] | None = None) -> JsonResponse:
    """An RFC 6749 §5.2 error answer: {error, error_description}, not cached."""
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return no_store(response)


def invalid_client(description: str, *, basic: bool) -> JsonResponse:
    """RFC 6749 §5.2: 401 `invalid_client`, with WWW-Authenticate naming the scheme the client tried."""
    headers = {"WWW-Authenticate": 'Basic realm="kunci", error="invalid_client"'} if basic else None
    return token_error("invalid_client", description, status=401, headers=headers)
