"""What /revoke (RFC 7009) and /introspect (RFC 7662) share: a POST that presents one token.

authlib's RevocationEndpoint and IntrospectionEndpoint carry the flow (authenticate the client,
find the token, check it is the client's to act on, answer); Kunci supplies the hooks: client
authentication exactly as at /token (idp/oauth/server.py), the token lookup through the issuer's
own verifier (idp/oauth/presented.py), and the answers: JSON that no cache keeps, errors as
RFC 6749 §5.2 `{error, error_description}`.
"""
from __future__ import annotations

import time

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.token_endpoint import TokenEndpoint
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from idp.oauth import server
from idp.oauth.models import Client
from idp.oauth.presented import PresentedToken, find_token
from idp.oauth.responses import invalid_client, no_store, token_error
from idp.oauth.server import ClientAuthenticationFailed
from relying_party.exceptions import CodedError


class TokenRequestRefused(CodedError):
    """A revocation or introspection request refused; `error` is its RFC 6749 §5.2 (or RFC 7009 §2.2.1) code."""

    error = "invalid_request"


class TokenMissing(TokenRequestRefused):
    code = "token_missing"
    description = "token is required in the form-encoded body"


class TokenRepeated(TokenRequestRefused):
    # RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once."
    code = "token_repeated"
    description = "token must be sent once"


class PresentedTokenEndpoint:
    """The hooks both of authlib's token endpoint classes call: the parameters and the token lookup."""

    def check_params(self, request: OAuth2Request, client: Client) -> None:
        # The token is read from the form body only (RFC 7009 §2.1, RFC 7662 §2.1), never the URI.
        # authlib's own check also refuses a hint it does not know; Kunci ignores one (presented.py).
        presented = request.form.getlist("token")
        if not presented or not presented[0]:
            raise TokenMissing()
        if len(presented) > 1:
            raise TokenRepeated()

    def query_token(self, token_string: str, token_type_hint: str | None) -> PresentedToken | None:
        return find_token(token_string, token_type_hint, at=self._now())

    def _now(self) -> float:  # Used for mocking in tests
        return time.time()


@method_decorator(csrf_exempt, name="dispatch")
class PresentedTokenView(View):
    """POST only, form-encoded: run `endpoint_class` (authlib's, with Kunci's hooks) and answer in JSON."""

    http_method_names = ["post", "options"]
    endpoint_class: type[TokenEndpoint]

    def post(self, request: HttpRequest) -> HttpResponse:
        endpoint = server.endpoint(self.endpoint_class)
        try:
            status, body, _ = endpoint.create_endpoint_response(endpoint.create_endpoint_request(request))
        except ClientAuthenticationFailed as failed:
            return invalid_client(failed.description, basic=failed.basic)
        except TokenRequestRefused as refused:
            return token_error(refused.error, refused.description)
        # Both answers concern live credentials: no cache keeps them (RFC 6749 §5.1, RFC 7662 §4).
        return no_store(JsonResponse(body, status=status))
