"""The sign-in and sign-out pages, and the small page a browser lands on when signed in.

No JavaScript; CSRF-protected forms (Django's CsrfViewMiddleware); framing is refused by
`X-Frame-Options: DENY` and the CSP's `frame-ancestors 'none'`, both global (settings/base.py).
"""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from idp.accounts import browser
from idp.accounts.forms import SignInForm
from idp.accounts.redirects import client_for, login_hint_of, safe_next
from idp.error_pages import error_page
from idp.exceptions import CredentialsRefused, LoginThrottled
from idp.hashers import PasswordHashingBusy
from idp.login import check_password_login

# A form sent back with errors (a refused password included) is a 400: the request could not be
# honoured as sent. The page is the same either way, so nothing tells an unknown user apart.
FORM_ERROR_STATUS = 400
REFUSED = "Unable to sign in with that username and password."


@method_decorator([never_cache, csrf_protect], name="dispatch")
class SignInView(View):
    """GET: the form. POST: check the password like /api/login, sign the browser in, go to `next`."""

    template_name = "kunci/accounts/signin.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        next_url = safe_next(request.GET.get("next"))
        # OIDC Core §3.1.2.1: the authorization request's login_hint prefills the username.
        initial = {"next": next_url or "", "username": login_hint_of(next_url)}
        return self._page(request, SignInForm(initial=initial), next_url)

    @method_decorator(sensitive_post_parameters("password"))
    def post(self, request: HttpRequest) -> HttpResponse:
        form = SignInForm(request.POST)
        next_url = safe_next(request.POST.get("next") or request.GET.get("next"))
        if not form.is_valid():
            return self._page(request, form, next_url, status=FORM_ERROR_STATUS)
        try:
            user = check_password_login(request, form.cleaned_data["username"], form.cleaned_data["password"])
        except LoginThrottled as e:
            return _retry_later(
                error_page(request, 429, "Too many attempts",
                           f"Too many failed sign-ins. Try again in {e.wait} seconds.", e.code),
                e.wait,
            )
        except PasswordHashingBusy:
            return _retry_later(
                error_page(request, 503, "Try again soon", "Too many sign-ins in progress. Try again shortly.",
                           "server_busy"),
                1,
            )
        except CredentialsRefused:
            form.add_error(None, REFUSED)
            return self._page(request, form, next_url, status=FORM_ERROR_STATUS)
        browser.sign_in(request, user, now=timezone.now())
        return HttpResponseRedirect(next_url or reverse("signed-in"))

    def _page(self, request: HttpRequest, form: SignInForm, next_url: str | None, status: int = 200) -> HttpResponse:
        client = client_for(next_url)
        context = {"form": form, "client_name": client.name if client else None}
        return render(request, self.template_name, context, status=status)


@method_decorator([never_cache, csrf_protect], name="dispatch")
class SignOutView(View):
    """GET: ask to confirm (a link must not sign anyone out). POST: end the OP session and the browser's."""

    def get(self, request: HttpRequest) -> HttpResponse:
        session = browser.current_op_session(request)
        return render(request, "kunci/accounts/signout.html", {"signed_in": session is not None})

    def post(self, request: HttpRequest) -> HttpResponse:
        browser.sign_out(request)
        return render(request, "kunci/accounts/signed_out.html")


@method_decorator(never_cache, name="dispatch")
class SignedInView(View):
    """Where a sign-in with nowhere else to go lands: who is signed in, and a way to sign out."""

    def get(self, request: HttpRequest) -> HttpResponse:
        session = browser.current_op_session(request)
        if session is None:
            return HttpResponseRedirect(browser.signin_url(request.path))
        return render(request, "kunci/accounts/signed_in.html", {"session": session})


def _retry_later(response: HttpResponse, wait: int) -> HttpResponse:
    response["Retry-After"] = str(wait)  # RFC 9110 §10.2.3
    return response
