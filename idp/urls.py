"""The issuer's routes. Each API path answers with and without a trailing slash, never redirecting.

The admin at /admin/ is Django's, with its own trailing-slash URLs.
"""
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView

from idp import discovery, health, views
from idp.accounts import api as accounts_api

# API clients get the JSON errors shared with the relying party (one error contract for every
# service); a browser opening a page gets an HTML page (idp/error_pages.py). The issuer's 500 view
# answers a database or cache outage with 503 instead.
handler400 = "idp.error_pages.bad_request"
handler403 = "idp.error_pages.permission_denied"
handler404 = "idp.error_pages.not_found"
handler500 = "idp.error_pages.server_error"  # logs under the issuer's name

class SchemaView(SpectacularAPIView):
    authentication_classes: list = []
    permission_classes: list = []


urlpatterns = [
    re_path(r"^healthz/?$", health.LivenessView.as_view(), name="healthz"),
    re_path(r"^readyz/?$", health.ReadinessView.as_view(), name="readyz"),
    re_path(r"^api/schema/?$", SchemaView.as_view(), name="schema"),
    re_path(r"^api/login/?$", views.LoginView.as_view(), name="login"),
    re_path(r"^api/login/refresh/?$", views.RefreshView.as_view(), name="refresh"),
    re_path(r"^api/logout/?$", views.LogoutView.as_view(), name="logout"),
    re_path(r"^api/logout/all/?$", views.LogoutEverywhereView.as_view(), name="logout-everywhere"),
    re_path(r"^api/me/?$", views.MeView.as_view(), name="me"),
    re_path(r"^api/users/?$", views.UserListView.as_view(), name="users"),
    # Accounts (idp/accounts/api.py): registration, password reset and change.
    re_path(r"^api/register/?$", accounts_api.RegisterView.as_view(), name="api-register"),
    re_path(r"^api/register/resend/?$", accounts_api.ResendActivationView.as_view(), name="api-register-resend"),
    re_path(r"^api/password/reset/?$", accounts_api.PasswordResetView.as_view(), name="api-password-reset"),
    re_path(r"^api/password/change/?$", accounts_api.PasswordChangeView.as_view(), name="api-password-change"),
    re_path(r"^\.well-known/jwks\.json/?$", discovery.JWKSView.as_view(), name="jwks"),
    re_path(
        r"^\.well-known/openid-configuration/?$",
        discovery.OpenIDConfigurationView.as_view(),
        name="openid-configuration",
    ),
    # The pages for people: sign in and out, register, activate, reset a password, the account (idp/accounts/).
    path("", include("idp.accounts.urls")),
    # The language switcher's form on every page posts here (settings/languages.py).
    re_path(r"^language/?$", set_language, name="set_language"),
    # The OpenID Provider's endpoints: authorize, token, userinfo, revoke, introspect, end session (idp/oauth/).
    path("", include("idp.oauth.urls")),
    path("admin/", admin.site.urls),
]
