"""The authorization endpoint (RFC 6749 §3.1, OpenID Connect Core §3.1.2), by GET and POST.

Order matters (RFC 6749 §4.1.2.1, RFC 9700 §4.1): the client and its redirect URI are checked
first, and until both are known an error is an HTML page at Kunci, never a redirect (an
unregistered redirect_uri must not receive anything). Then every other error redirects to the
client with `error`, `state` and RFC 9207 `iss`. `prompt=create` goes to the registration page.
Only then does the browser's OP session count: a request that needs a sign-in goes to the sign-in
page (or, with `prompt=none`, gets `login_required`), an untrusted client gets the consent page,
and a success gets a code.

A signed-in browser's request (single sign-on) costs one statement: its OP session joined with its
user (idp/accounts/browser.py; and its Django session's row when this process has not read it
within SIGN_IN_CACHE_SECONDS). The code is sealed, not stored (idp/oauth/codes.py). The client
comes from this process's cache (idp/oauth/client_cache.py), which another process's change to it
reaches within CLIENT_CACHE_SECONDS.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from idp.accounts import browser
from idp.accounts.languages import follow_ui_locales
from idp.accounts.registration import registration_open
from idp.error_pages import error_page
from idp.models import LoginSession
from idp.oauth import client_cache, codes, pkce
from idp.oauth.id_token_hint import InvalidHint, verify_hint
from idp.oauth.models import NONCE_MAX_LENGTH, Client, Consent
from idp.oauth.responses import authorization_redirect

# OpenID Connect Core §3.1.2.1 `prompt` values Kunci acts on; others (select_account) are ignored.
PROMPT_VALUES = ("none", "login", "consent")
# OpenID Connect Prompt Create 1.0 §4.1: start with the account creation page. Only while
# registration is open; `supported_prompt_values` is also what discovery lists (§4.2).
PROMPT_CREATE = "create"
CONSENT_APPROVE = "approve"


def supported_prompt_values() -> list[str]:
    """Return the prompt values Kunci acts on now: `create` is among them only while registration is open."""
    return [*PROMPT_VALUES, PROMPT_CREATE] if registration_open() else list(PROMPT_VALUES)


class AuthorizationError(Exception):
    """An error to redirect to the client with (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error, self.description = error, description


@dataclass
class AuthorizationRequest:
    """A validated authentication request."""

    client: Client
    redirect_uri: str
    state: str | None
    scope: str
    nonce: str = ""
    code_challenge: str = ""
    prompt: set[str] = field(default_factory=set)
    max_age: int | None = None
    hint_sub: str | None = None


def _single(params: QueryDict, name: str) -> str | None:
    # RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once."
    values = params.getlist(name)
    if len(values) > 1:
        raise AuthorizationError("invalid_request", f"{name} is repeated")
    return values[0] if values else None


class ClientRemoved(Exception):
    """The client was removed after this process read it (idp/oauth/client_cache.py): nothing of it can be stored."""


def _unknown_client(request: HttpRequest) -> HttpResponse:
    return error_page(
        request, 400, _("Unknown application"),
        _("The application that sent you here is not registered with Kunci, so you were not sent back to it."),
        "invalid_client",
    )


def _client_and_redirect(request: HttpRequest, params: QueryDict) -> tuple[Client, str] | HttpResponse:
    """The checks whose failure is a page at Kunci: an unknown client, a redirect_uri it did not register."""
    client_ids, redirect_uris = params.getlist("client_id"), params.getlist("redirect_uri")
    client = None
    if len(client_ids) == 1 and client_ids[0] and len(client_ids[0]) <= 64:
        client = client_cache.registered_client(client_ids[0])
    if client is None:
        return _unknown_client(request)
    # RFC 6749 §3.1.2.3, RFC 9700 §4.1.3: exact matching; OIDC Core §3.1.2.1: redirect_uri is REQUIRED.
    if len(redirect_uris) != 1 or not client.check_redirect_uri(redirect_uris[0]):
        return error_page(
            request, 400, _("Invalid redirect address"),
            _("%(client)s asked to send you to an address it has not registered, so you were not sent there.")
            % {"client": client.name},
            "invalid_redirect_uri",
        )
    return client, redirect_uris[0]


def _validate(params: QueryDict, client: Client, redirect_uri: str) -> AuthorizationRequest:
    state = _single(params, "state")
    auth = AuthorizationRequest(client=client, redirect_uri=redirect_uri, state=state, scope="")
    # OIDC Core §6.1, §6.2: Kunci supports neither request objects nor request_uri.
    if "request" in params:
        raise AuthorizationError("request_not_supported", "Request objects are not supported")
    if "request_uri" in params:
        raise AuthorizationError("request_uri_not_supported", "request_uri is not supported")
    response_type = _single(params, "response_type")
    if not response_type:
        raise AuthorizationError("invalid_request", "response_type is required")
    # RFC 6749 §4.1.1: the code flow only (RFC 9700 §2.1.2: no implicit).
    if not client.check_response_type(response_type):
        raise AuthorizationError("unsupported_response_type", "Only response_type=code is supported")
    response_mode = _single(params, "response_mode")
    if response_mode not in (None, "query"):
        raise AuthorizationError("invalid_request", "Only response_mode=query is supported")
    requested = (_single(params, "scope") or "").split()
    # OIDC Core §3.1.2.1: "OpenID Connect requests MUST contain the openid scope value."
    if "openid" not in requested:
        raise AuthorizationError("invalid_scope", "scope must include openid")
    # RFC 6749 §3.3: scopes the client may not have are dropped, not refused.
    auth.scope = client.get_allowed_scope(" ".join(requested))
    if "openid" not in auth.scope.split():
        raise AuthorizationError("invalid_scope", "This client may not use the openid scope")
    auth.nonce = _single(params, "nonce") or ""
    if len(auth.nonce) > NONCE_MAX_LENGTH:
        raise AuthorizationError("invalid_request", f"nonce is longer than {NONCE_MAX_LENGTH} characters")
    _validate_pkce(params, auth)
    prompt = set((_single(params, "prompt") or "").split())
    # OIDC Core §3.1.2.1: none "MUST NOT" be combined with any other value.
    if "none" in prompt and len(prompt) > 1:
        raise AuthorizationError("invalid_request", "prompt=none cannot be combined with other values")
    if PROMPT_CREATE in prompt and not registration_open():
        # Prompt Create 1.0 §4.1: an OP that does not support `create` answers invalid_request.
        raise AuthorizationError("invalid_request", "prompt=create is not supported: registration is closed")
    auth.prompt = prompt & set(supported_prompt_values())
    max_age = _single(params, "max_age")
    if max_age is not None:
        if not max_age.isdigit() or len(max_age) > 10:
            raise AuthorizationError("invalid_request", "max_age must be a non-negative integer")
        auth.max_age = int(max_age)
    hint = _single(params, "id_token_hint")
    if hint:
        # OIDC Core §3.1.2.1: an id_token this issuer signed; an expired one is fine.
        try:
            auth.hint_sub = verify_hint(hint).sub
        except InvalidHint as error:
            raise AuthorizationError("invalid_request", str(error)) from error
    # login_hint, display, ui_locales, claims_locales and acr_values are accepted (OIDC Core
    # §3.1.2.1: OPTIONAL); login_hint prefills the sign-in page, ui_locales chooses the language of
    # the pages (`authorize`). Unknown parameters are ignored (RFC 6749 §3.1).
    return auth


def _validate_pkce(params: QueryDict, auth: AuthorizationRequest) -> None:
    challenge = _single(params, "code_challenge")
    method = _single(params, "code_challenge_method")
    if not challenge:
        if method:
            raise AuthorizationError("invalid_request", "code_challenge_method without code_challenge")
        # RFC 9700 §2.1.1: public clients MUST use PKCE.
        if auth.client.is_public:
            raise AuthorizationError("invalid_request", "code_challenge (PKCE, S256) is required for public clients")
        return
    # RFC 7636 §4.3: an absent method means plain; RFC 9700 §2.1.1: plain SHOULD NOT be used. S256 only.
    if not pkce.is_supported_method(method):
        raise AuthorizationError("invalid_request", "code_challenge_method must be S256")
    if not pkce.is_valid_challenge(challenge):
        raise AuthorizationError("invalid_request", "code_challenge is not an S256 challenge (RFC 7636 §4.2)")
    auth.code_challenge = challenge


def _next_url(request: HttpRequest, params: QueryDict) -> str:
    """This request as a URL on the issuer, without what asked for the sign-in (or it would ask again)."""
    kept = params.copy()
    for name in ("prompt", "max_age"):
        kept.pop(name, None)
    return f"{reverse('authorize')}?{kept.urlencode()}"


def authorize(request: HttpRequest, params: QueryDict, *, consent: str | None = None) -> HttpResponse:
    """Answer the authentication request `params`; `consent` is the consent page's decision, if any."""
    # The pages of this request, and those of the sign-in it may need (through `next`), in the
    # client's `ui_locales` (OIDC Core §3.1.2.1).
    follow_ui_locales(request, params.get("ui_locales"))
    found = _client_and_redirect(request, params)
    if isinstance(found, HttpResponse):
        return found
    client, redirect_uri = found
    state = params.get("state")
    try:
        auth = _validate(params, client, redirect_uri)
        return _answer(request, params, auth, consent)
    except AuthorizationError as error:
        return authorization_redirect(
            redirect_uri, {"error": error.error, "error_description": error.description, "state": state},
        )
    except ClientRemoved:
        return _unknown_client(request)


def _answer(request: HttpRequest, params: QueryDict, auth: AuthorizationRequest, consent: str | None) -> HttpResponse:
    if PROMPT_CREATE in auth.prompt:
        # Prompt Create 1.0 §4.1: the registration page, which brings the browser back to this
        # request (without the prompt) once the account is activated and signed in.
        return HttpResponseRedirect(browser.page_url("register", _next_url(request, params)))
    now = timezone.now()
    session = browser.current_op_session(request)
    login = browser.needs_login(session, max_age=auth.max_age, prompt_login="login" in auth.prompt, now=now)
    # OIDC Core §3.1.2.1: a hint naming someone else than the signed-in user needs that user to sign in.
    if session is not None and auth.hint_sub is not None and auth.hint_sub != str(session.user_id):
        login = True
    if login:
        if "none" in auth.prompt:
            # OIDC Core §3.1.2.6: prompt=none never shows UI.
            raise AuthorizationError("login_required", "The user is not signed in")
        return HttpResponseRedirect(browser.signin_url(_next_url(request, params)))
    assert session is not None
    if consent is not None and consent != CONSENT_APPROVE:
        # RFC 6749 §4.1.2.1: the resource owner denied the request.
        raise AuthorizationError("access_denied", "The user denied the request")
    if consent is None and _needs_consent(session, auth):
        if "none" in auth.prompt:
            raise AuthorizationError("consent_required", "The user has not consented to this client")
        return _consent_page(request, params, auth)
    if consent == CONSENT_APPROVE:
        _remember_consent(session, auth, now)
    # Sealed, not stored (idp/oauth/codes.py): this writes nothing. A client removed by another
    # process within CLIENT_CACHE_SECONDS still gets a code, which nothing can redeem: /token
    # finds no client to authenticate.
    code = codes.issue_code(
        client=auth.client, session=session, redirect_uri=auth.redirect_uri, scope=auth.scope,
        nonce=auth.nonce, code_challenge=auth.code_challenge, auth_time=session.auth_time, now=now,
    )
    # RFC 6749 §4.1.2, RFC 9207 §2.
    return authorization_redirect(auth.redirect_uri, {"code": code, "state": auth.state})


def _remember_consent(session: LoginSession, auth: AuthorizationRequest, now: datetime) -> None:
    try:
        Consent.objects.update_or_create(
            user_id=session.user_id, client=auth.client, defaults={"scope": auth.scope, "given_at": now},
        )
    except IntegrityError as error:
        # A client removed by another process while this one still had it cached: its rows are
        # gone, so nothing referring to it can be written.
        client_cache.clients.forget(auth.client.client_id)
        if Client.objects.filter(pk=auth.client.pk).exists():
            raise
        raise ClientRemoved() from error


def _needs_consent(session: LoginSession, auth: AuthorizationRequest) -> bool:
    if auth.client.trusted:
        return False
    if "consent" in auth.prompt:
        return True
    given = Consent.objects.filter(user_id=session.user_id, client=auth.client).first()
    return given is None or not given.covers(auth.scope)


# What each scope lets the client read (OIDC Core §5.4), as the consent page says it; `openid` is
# the page's own sentence ("asks to know who you are").
SCOPE_DESCRIPTIONS = {
    "profile": gettext_lazy("Your name and username"),
    "email": gettext_lazy("Your email address"),
}


def _consent_page(request: HttpRequest, params: QueryDict, auth: AuthorizationRequest) -> HttpResponse:
    kept = params.copy()
    kept.pop("prompt", None)  # the answer is the consent; asking again would loop
    context = {
        "client_name": auth.client.name,
        "scopes": [SCOPE_DESCRIPTIONS.get(scope, scope) for scope in auth.scope.split() if scope != "openid"],
        "authorization_request": kept.urlencode(),
        # The language switcher comes back to this same request by GET, even when it came by POST.
        "language_next": f"{reverse('authorize')}?{params.urlencode()}",
    }
    return render(request, "kunci/oauth/consent.html", context)


@method_decorator([never_cache, csrf_exempt], name="dispatch")
class AuthorizeView(View):
    """GET or POST (OIDC Core §3.1.2.1: both MUST be supported) an authentication request.

    Not CSRF-protected: a client's own page sends the POST form, and the request carries no
    decision of the user's; the consent decision has its own protected form (ConsentView).
    """

    def get(self, request: HttpRequest) -> HttpResponse:
        return authorize(request, request.GET)

    def post(self, request: HttpRequest) -> HttpResponse:
        return authorize(request, request.POST)


@method_decorator([never_cache, csrf_protect], name="dispatch")
class ConsentView(View):
    """POST the consent page's decision: the original request is validated again, then answered."""

    def post(self, request: HttpRequest) -> HttpResponse:
        params = QueryDict(request.POST.get("authorization_request", ""), mutable=False)
        decision = request.POST.get("decision")
        return authorize(request, params, consent=decision if decision == CONSENT_APPROVE else "deny")

