"""The registration pages: register, activate through the emailed link, ask for a new link.

Each works without JavaScript, with CSRF-protected forms, and answers 404 (the HTML page of an
unknown path) while registration is off. Opening an activation link only shows a button: a mail
scanner that follows links activates nothing; the button's POST does. `next`, a path on the issuer
(`safe_next`), travels from the registration form through the activation mail to the sign-in
page, so that `prompt=create` ends back in its authorization request.
"""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import password_validation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from idp.accounts import browser, links
from idp.accounts.forms import EmailForm, LinkForm, RegisterForm
from idp.accounts.limits import count_account_request
from idp.accounts.redirects import safe_next
from idp.accounts.registration import Registration, activate, register, registration_open, resend_activation
from idp.error_pages import busy_page, error_page, retry_later
from idp.exceptions import AccountRequestsThrottled, LinkInvalid
from idp.hashers import PasswordHashingBusy

# A form sent back with errors is a 400, as on the sign-in page.
FORM_ERROR_STATUS = 400


def throttled_page(request: HttpRequest, error: AccountRequestsThrottled) -> HttpResponse:
    """The 429 page of a form that would send mail too often to one address or from one network."""
    detail = ngettext(
        "Too many requests for this email address or from this network. Try again in %(wait)d second.",
        "Too many requests for this email address or from this network. Try again in %(wait)d seconds.",
        error.wait,
    ) % {"wait": error.wait}
    page = error_page(request, 429, _("Too many requests"), detail, error.code)
    return retry_later(page, error.wait)


def link_invalid_page(request: HttpRequest, *, resend: bool) -> HttpResponse:
    """The 400 page of an activation or reset link that is malformed, expired or used; it offers a new one."""
    return error_page(
        request, 400, _("This link does not work"),
        _("The link is incomplete, has expired or was already used."), LinkInvalid.code,
        retry_url=browser.page_url("register-resend" if resend else "password-reset"),
        retry_label=_("Get a new link") if resend else _("Get a new reset link"),
    )


class RegistrationPage(View):
    """A page that exists only while registration is open."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not registration_open():
            raise Http404
        return super().dispatch(request, *args, **kwargs)


@method_decorator([never_cache, csrf_protect], name="dispatch")
class RegisterView(RegistrationPage):
    """GET: the form. POST: register (idp/accounts/registration.py), then "check your mailbox", whatever the address."""

    def get(self, request: HttpRequest) -> HttpResponse:
        next_url = safe_next(request.GET.get("next"))
        return self._page(request, RegisterForm(initial={"next": next_url or ""}), next_url)

    @method_decorator(sensitive_post_parameters("password", "password_again"))
    def post(self, request: HttpRequest) -> HttpResponse:
        form = RegisterForm(request.POST)
        if not form.is_valid():
            return self._page(request, form, safe_next(request.POST.get("next")), status=FORM_ERROR_STATUS)
        data = form.cleaned_data
        next_url = safe_next(data["next"])
        try:
            count_account_request(request, data["email"])
            register(Registration(
                email=data["email"], password=data["password"], username=data["username"], name=data["name"],
                next_url=next_url,
            ))
        except AccountRequestsThrottled as e:
            return throttled_page(request, e)
        except PasswordHashingBusy:
            return busy_page(request)
        return _mail_sent(request, data["email"], next_url)

    def _page(self, request: HttpRequest, form: RegisterForm, next_url: str | None, status: int = 200) -> HttpResponse:
        context = {
            "form": form, "signin_url": browser.signin_url(next_url),
            "password_rules": password_validation.password_validators_help_texts(),
        }
        return render(request, "kunci/accounts/register.html", context, status=status)


@method_decorator([never_cache, csrf_protect], name="dispatch")
class ResendActivationView(RegistrationPage):
    """GET: the form. POST: a new activation mail if the address awaits activation, and the same page either way."""

    def get(self, request: HttpRequest) -> HttpResponse:
        form = EmailForm(initial={"next": safe_next(request.GET.get("next")) or ""})
        return render(request, "kunci/accounts/resend.html", {"form": form})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = EmailForm(request.POST)
        if not form.is_valid():
            return render(request, "kunci/accounts/resend.html", {"form": form}, status=FORM_ERROR_STATUS)
        email, next_url = form.cleaned_data["email"], safe_next(form.cleaned_data["next"])
        try:
            count_account_request(request, email)
        except AccountRequestsThrottled as e:
            return throttled_page(request, e)
        resend_activation(email, next_url=next_url)
        return _mail_sent(request, email, next_url)


def _mail_sent(request: HttpRequest, email: str, next_url: str | None) -> HttpResponse:
    context = {"email": email, "resend_url": browser.page_url("register-resend", next_url)}
    return render(request, "kunci/accounts/mail_sent.html", context)


@method_decorator([never_cache, csrf_protect], name="dispatch")
class ActivateView(RegistrationPage):
    """GET (the emailed link): a button, if the link is good. POST (the button): activate, then sign in."""

    def get(self, request: HttpRequest) -> HttpResponse:
        form = LinkForm(request.GET)
        valid = form.is_valid() and links.user_of_link(links.ACTIVATION, form.cleaned_data["uid"], form.cleaned_data["token"])
        if not valid:
            return link_invalid_page(request, resend=True)
        form = LinkForm(initial={**form.cleaned_data, "next": safe_next(form.cleaned_data["next"]) or ""})
        return render(request, "kunci/accounts/activate.html", {"form": form})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = LinkForm(request.POST)
        if not form.is_valid():
            return link_invalid_page(request, resend=True)
        try:
            activate(form.cleaned_data["uid"], form.cleaned_data["token"])
        except LinkInvalid:
            return link_invalid_page(request, resend=True)
        messages.success(request, _("Your account is activated. Sign in to continue."))
        return HttpResponseRedirect(browser.signin_url(safe_next(form.cleaned_data["next"])))

