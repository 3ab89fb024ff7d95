"""RP-Initiated Logout 1.0: a client sends the browser here to sign the user out of Kunci.

- `id_token_hint` (§2) must be an id_token Kunci signed; an expired one is accepted (§4), another
  issuer's or a forged one is refused with a page, never followed.
- `post_logout_redirect_uri` (§3) must equal, exactly, one the client registered; the client is
  the hint's `aud` or the `client_id` parameter (they must agree). `state` is returned with it.
- With a valid hint for this browser's session (or no session here), the OP session ends at once,
  through `end_session`. Otherwise the user confirms on a page first (§2: the OP SHOULD ask), so
  that no link can sign anyone out.
- `ui_locales` (§2) chooses the language of these pages (idp/accounts/languages.py); the
  confirmation form carries it to the page after.
"""
from __future__ import annotations

from authlib.common.urls import add_params_to_uri
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from idp import sessions
from idp.accounts import browser
from idp.accounts.languages import follow_ui_locales
from idp.error_pages import error_page
from idp.models import LoginSession, SessionEnd
from idp.oauth.id_token_hint import Hint, InvalidHint, verify_hint
from idp.oauth.models import Client


class LogoutRefused(Exception):
    def __init__(self, detail: str, code: str) -> None:
        super().__init__(detail)
        self.detail, self.code = detail, code


def _client(params: QueryDict, hint: Hint | None) -> Client | None:
    client_id = params.get("client_id") or None
    if hint is not None and client_id is not None and hint.client_id != client_id:
        raise LogoutRefused(_("client_id does not match the id_token_hint's audience."), "invalid_request")
    client_id = client_id or (hint.client_id if hint else None)
    if client_id is None:
        return None
    client = Client.objects.filter(client_id=client_id[:64]).first()
    if client is None:
        raise LogoutRefused(_("The application that sent you here is not registered with Kunci."), "invalid_client")
    return client


def _redirect_target(params: QueryDict, client: Client | None) -> str | None:
    uri = params.get("post_logout_redirect_uri")
    if not uri:
        return None
    # RP-Initiated Logout 1.0 §3: it "MUST have been previously registered"; exact match.
    if client is None or not client.check_post_logout_redirect_uri(uri):
        raise LogoutRefused(
            _("The address to return to after signing out is not registered, so you were not sent there."),
            "invalid_post_logout_redirect_uri",
        )
    return uri


def _done(request: HttpRequest, target: str | None, state: str | None) -> HttpResponse:
    if target is None:
        return render(request, "kunci/accounts/signed_out.html")
    # §3: "state" is passed back to the RP exactly when the request had one.
    return HttpResponseRedirect(add_params_to_uri(target, [("state", state)] if state else []))


def _refused(request: HttpRequest, refused: LogoutRefused) -> HttpResponse:
    return error_page(request, 400, _("Cannot sign out from here"), refused.detail, refused.code)


@method_decorator([never_cache, csrf_exempt], name="dispatch")
class EndSessionView(View):
    """GET or POST (§2) the logout request of a client."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._answer(request, request.GET)

    def post(self, request: HttpRequest) -> HttpResponse:
        return self._answer(request, request.POST)

    def _answer(self, request: HttpRequest, params: QueryDict) -> HttpResponse:
        follow_ui_locales(request, params.get("ui_locales"))
        raw_hint = params.get("id_token_hint")
        try:
            hint = None
            if raw_hint:
                try:
                    hint = verify_hint(raw_hint)
                except InvalidHint as error:
                    raise LogoutRefused(
                        _("The sign-out request did not come with a token of Kunci's."), "invalid_id_token_hint"
                    ) from error
            client = _client(params, hint)
            target = _redirect_target(params, client)
        except LogoutRefused as refused:
            return _refused(request, refused)
        state = params.get("state")
        current = browser.current_op_session(request)
        if hint is not None and hint.sid and (current is None or current.sid == hint.sid):
            # The client proved which session it signs out of: end it without asking.
            if current is not None:
                browser.sign_out(request, SessionEnd.RP_LOGOUT)
            else:
                ended = LoginSession.objects.filter(sid=hint.sid, user_id=hint.sub, ended_at__isnull=True).first()
                if ended is not None:
                    sessions.end_session(ended, SessionEnd.RP_LOGOUT)
            return _done(request, target, state)
        context = {
            "signed_in": current is not None,
            "client_name": client.name if client else None,
            "client_id": client.client_id if client else None,
            "post_logout_redirect_uri": target,
            "state": state,
            "ui_locales": params.get("ui_locales"),
        }
        return render(request, "kunci/oauth/end_session.html", context)


@method_decorator([never_cache, csrf_protect], name="dispatch")
class EndSessionConfirmView(View):
    """POST the confirmation page's form (CSRF-protected): sign out, then return to the client if it asked."""

    def post(self, request: HttpRequest) -> HttpResponse:
        follow_ui_locales(request, request.POST.get("ui_locales"))
        try:
            client = _client(request.POST, None)
            target = _redirect_target(request.POST, client)
        except LogoutRefused as refused:
            return _refused(request, refused)
        browser.sign_out(request, SessionEnd.RP_LOGOUT)
        return _done(request, target, request.POST.get("state"))
