"""The sign-in and sign-out pages, and the small page a browser lands on when signed in.

The sign-in page links to registration (while it is open) and to the password reset, each
carrying `next`, so that a browser sent here by an authorization request gets back to it.

No JavaScript; CSRF-protected forms (Django's CsrfViewMiddleware); framing is refused by
`X-Frame-Options: DENY` and the CSP's `frame-ancestors 'none'`, both global (settings/base.py).
"""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from idp.accounts import browser
from idp.accounts.forms import SignInForm
from idp.accounts.languages import follow_ui_locales
from idp.accounts.redirects import client_for, login_hint_of, safe_next, ui_locales_of
from idp.accounts.registration import registration_open
from idp.error_pages import busy_page, error_page, retry_later
from idp.exceptions import AccountInactive, CredentialsRefused, LoginThrottled
from idp.hashers import PasswordHashingBusy
from idp.login import check_password_login

# A form sent back with errors (a refused password included) is a 400: the request could not be
# honoured as sent. The page is the same either way, so nothing tells an unknown user apart.
FORM_ERROR_STATUS = 400
REFUSED = gettext_lazy("Unable to sign in with that username and password.")
ACCOUNT_INACTIVE = gettext_lazy(
    "This account is not activated yet. Open the link in the email sent when you registered, or ask for a new one."
)


@method_decorator([never_cache, csrf_protect], name="dispatch")
class SignInView(View):
    """GET: the form. POST: check the password like /api/login, sign the browser in, go to `next`."""

    template_name = "kunci/accounts/signin.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        next_url = safe_next(request.GET.get("next"))
        follow_ui_locales(request, ui_locales_of(next_url))
        # OIDC Core §3.1.2.1: the authorization request's login_hint prefills the username.
        initial = {"next": next_url or "", "username": login_hint_of(next_url)}
        return self._page(request, SignInForm(initial=initial), next_url)

    @method_decorator(sensitive_post_parameters("password"))
    def post(self, request: HttpRequest) -> HttpResponse:
        form = SignInForm(request.POST)
        next_url = safe_next(request.POST.get("next") or request.GET.get("next"))
        follow_ui_locales(request, ui_locales_of(next_url))
        if not form.is_valid():
            return self._page(request, form, next_url, status=FORM_ERROR_STATUS)
        try:
            user = check_password_login(request, form.cleaned_data["username"], form.cleaned_data["password"])
        except (LoginThrottled, PasswordHashingBusy) as e:
            return password_check_unavailable(request, e)
        except CredentialsRefused:
            form.add_error(None, REFUSED)
            return self._page(request, form, next_url, status=FORM_ERROR_STATUS)
        except AccountInactive as e:
            # Only whoever has the password learns this: the owner, who is told what to do next.
            form.add_error(None, ValidationError(ACCOUNT_INACTIVE, code=e.code))
            return self._page(request, form, next_url, status=FORM_ERROR_STATUS, error_code=e.code)
        browser.sign_in(request, user, now=timezone.now())
        return HttpResponseRedirect(next_url or reverse("signed-in"))

    def _page(
        self, request: HttpRequest, form: SignInForm, next_url: str | None, status: int = 200, error_code: str = ""
    ) -> HttpResponse:
        client = client_for(next_url)
        context = {
            "form": form, "client_name": client.name if client else None, "error_code": error_code,
            "register_url": browser.page_url("register", next_url) if registration_open() else None,
            "resend_url": browser.page_url("register-resend", next_url)
            if error_code == AccountInactive.code and registration_open() else None,
        }
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


def password_check_unavailable(request: HttpRequest, error: LoginThrottled | PasswordHashingBusy) -> HttpResponse:
    """Answer a password that could not be checked: 429 while throttled, 503 with every hashing slot taken."""
    if isinstance(error, LoginThrottled):
        detail = ngettext(
            "Too many failed sign-ins. Try again in %(wait)d second.",
            "Too many failed sign-ins. Try again in %(wait)d seconds.",
            error.wait,
        ) % {"wait": error.wait}
        return retry_later(error_page(request, 429, _("Too many attempts"), detail, error.code), error.wait)
    return busy_page(request)
