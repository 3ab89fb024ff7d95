"""The account page: the signed-in user's profile and open sessions, signing them out, changing the password.

Every page needs a browser signed in to an open OP session; any other request goes to the
sign-in page, which brings it back here. Each action is a POST form with a CSRF token and no
JavaScript. Sessions end only through idp/sessions.py (`end_session`, `end_all_sessions`), so
each ending records its reason and ends the session's grants. Every answer is
`Cache-Control: no-store` (never_cache); framing is refused globally (X-Frame-Options, CSP).
"""
from __future__ import annotations

from typing import Any

from django.contrib import auth, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from idp import sessions
from idp.accounts import browser
from idp.accounts.forms import AccountPasswordChangeForm, EndSessionForm
from idp.accounts.session_list import open_sessions
from idp.accounts.views import FORM_ERROR_STATUS, password_check_unavailable
from idp.error_pages import error_page
from idp.exceptions import LoginThrottled, PasswordRefused
from idp.hashers import PasswordHashingBusy
from idp.models import LoginSession, SessionEnd


@method_decorator([never_cache, csrf_protect], name="dispatch")
class AccountPage(View):
    """A page of the signed-in browser; `self.op_session` is its open OP session."""

    op_session: LoginSession

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        session = browser.current_op_session(request)
        if session is None:
            # A form posted after the session ended comes back to the page, not to the action.
            back = request.path if request.method == "GET" else reverse("account")
            return HttpResponseRedirect(browser.signin_url(back))
        self.op_session = session
        return super().dispatch(request, *args, **kwargs)


class AccountView(AccountPage):
    """The profile, the open sessions with a sign-out button each, and sign out everywhere."""

    def get(self, request: HttpRequest) -> HttpResponse:
        rows = open_sessions(request.user, current_sid=self.op_session.sid, now=timezone.now())
        return render(request, "kunci/accounts/account.html", {"account": request.user, "sessions": rows})


class AccountAction(AccountPage):
    """A form's target on the account page; a GET (a link, a reload) shows the page instead."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponseRedirect(reverse("account"))


class EndSessionView(AccountAction):
    """POST `sid`: end that session of the user's; the browser's own signs the browser out."""

    def post(self, request: HttpRequest) -> HttpResponse:
        form = EndSessionForm(request.POST)
        if not form.is_valid():
            return error_page(request, 400, gettext("Bad request"), gettext("No session was named."), "bad_request")
        # Another user's sid is not found either: nothing tells it apart from one that never was.
        session = LoginSession.objects.filter(sid=form.cleaned_data["sid"], user_id=request.user.pk).first()
        if session is None:
            return error_page(request, 404, gettext("Session not found"),
                              gettext("You have no session by that name."), "session_not_found")
        if session.sid == self.op_session.sid:
            browser.sign_out(request)
            return render(request, "kunci/accounts/signed_out.html")
        if sessions.end_session(session, SessionEnd.LOGOUT):
            messages.success(request, gettext("That session is signed out."))
        return HttpResponseRedirect(reverse("account"))


class EndAllSessionsView(AccountAction):
    """POST: end every session of the user, this browser's included."""

    def post(self, request: HttpRequest) -> HttpResponse:
        sessions.end_all_sessions(request.user, SessionEnd.LOGOUT_EVERYWHERE)
        auth.logout(request)
        return render(request, "kunci/accounts/signed_out.html", {"everywhere": True})


@method_decorator(sensitive_post_parameters("old_password", "new_password1", "new_password2"), name="post")
class PasswordChangeView(AccountPage):
    """GET: the form. POST: change the password; every other session ends, this browser stays signed in."""

    template_name = "kunci/accounts/password_change.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._page(request, AccountPasswordChangeForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = AccountPasswordChangeForm(request.POST)
        if not form.is_valid():
            return self._page(request, form, status=FORM_ERROR_STATUS)
        try:
            # OWASP ASVS V3.3.3: the other sessions end with the old password, and every client's
            # grant in them; this browser stays signed in under a new session key.
            browser.change_password(request, form.cleaned_data["old_password"], form.cleaned_data["new_password1"])
        except PasswordRefused:
            form.refuse_old_password()
            return self._page(request, form, status=FORM_ERROR_STATUS)
        except ValidationError as refused:
            form.add_error("new_password2", refused)
            return self._page(request, form, status=FORM_ERROR_STATUS)
        except (LoginThrottled, PasswordHashingBusy) as e:
            return password_check_unavailable(request, e)
        messages.success(request, gettext("Your password was changed. Your other sessions are signed out."))
        return HttpResponseRedirect(reverse("account"))

    def _page(self, request: HttpRequest, form: AccountPasswordChangeForm, status: int = 200) -> HttpResponse:
        return render(request, self.template_name, {"form": form}, status=status)
