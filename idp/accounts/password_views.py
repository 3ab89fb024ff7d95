"""The password-reset pages: ask for a link by email, then set a new password with it.

Asking shows the same page for every address (idp/accounts/passwords.py), throttled per address
and per network. Opening the emailed link shows the form, if the link is good; its POST sets the
password and ends every session of the user, then sends the browser to the sign-in page.
"""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from idp.accounts import browser
from idp.accounts.forms import EmailForm, LinkForm, SetPasswordForm
from idp.accounts.limits import count_account_request
from idp.accounts.passwords import request_password_reset, reset_password, user_of_reset_link
from idp.accounts.registration_views import FORM_ERROR_STATUS, link_invalid_page, throttled_page
from idp.error_pages import busy_page
from idp.exceptions import AccountRequestsThrottled, LinkInvalid
from idp.hashers import PasswordHashingBusy


@method_decorator([never_cache, csrf_protect], name="dispatch")
class PasswordResetView(View):
    """GET: the form. POST: a reset mail if the address has an account, and the same page either way."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "kunci/accounts/password_reset.html", {"form": EmailForm()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = EmailForm(request.POST)
        if not form.is_valid():
            return render(request, "kunci/accounts/password_reset.html", {"form": form}, status=FORM_ERROR_STATUS)
        email = form.cleaned_data["email"]
        try:
            count_account_request(request, email)
        except AccountRequestsThrottled as e:
            return throttled_page(request, e)
        request_password_reset(email)
        return render(request, "kunci/accounts/password_reset_sent.html", {"email": email})


@method_decorator([never_cache, csrf_protect], name="dispatch")
class PasswordResetConfirmView(View):
    """GET (the emailed link): the new-password form, if the link is good. POST: set it; every session ends."""

    template_name = "kunci/accounts/password_reset_confirm.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        link = LinkForm(request.GET)
        try:
            user = _user_of(link)
        except LinkInvalid:
            return link_invalid_page(request, resend=False)
        initial = {"uid": link.cleaned_data["uid"], "token": link.cleaned_data["token"]}
        return self._page(request, SetPasswordForm(initial=initial, user=user))

    @method_decorator(sensitive_post_parameters("password", "password_again"))
    def post(self, request: HttpRequest) -> HttpResponse:
        link = LinkForm(request.POST)
        try:
            form = SetPasswordForm(request.POST, user=_user_of(link))
            if not form.is_valid():
                return self._page(request, form, status=FORM_ERROR_STATUS)
            reset_password(link.cleaned_data["uid"], link.cleaned_data["token"], form.cleaned_data["password"])
        except LinkInvalid:
            return link_invalid_page(request, resend=False)
        except ValidationError as e:
            # The validators ran in the form with the same user; a refusal here is a race with a change.
            form.add_error("password", e)
            return self._page(request, form, status=FORM_ERROR_STATUS)
        except PasswordHashingBusy:
            return busy_page(request)
        messages.success(
            request, _("Your new password is set, and every session signed in with the old one has ended. Sign in with it.")
        )
        return HttpResponseRedirect(browser.signin_url())

    def _page(self, request: HttpRequest, form: SetPasswordForm, status: int = 200) -> HttpResponse:
        context = {"form": form, "password_rules": password_validation.password_validators_help_texts()}
        return render(request, self.template_name, context, status=status)


def _user_of(link: LinkForm) -> Any:
    """Return the user of the reset link whose parts `link` carries; raise LinkInvalid if it is not good."""
    if not link.is_valid():
        raise LinkInvalid()
    return user_of_reset_link(link.cleaned_data["uid"], link.cleaned_data["token"])
