"""The demo relying party's routes. Each path answers with and without a trailing slash, never redirecting."""
from django.urls import path, re_path
from django.views.i18n import set_language

from relying_party import backchannel, views, web

handler400 = "relying_party.errors.bad_request"
handler403 = "relying_party.errors.permission_denied"
handler404 = "relying_party.errors.not_found"
handler500 = "relying_party.errors.server_error"

urlpatterns = [
    # Browser sign-in (relying_party/web.py). The issuer holds `/oidc/callback` and `/` as this app's
    # redirect URIs (manage.py demo_clients), built here with reverse().
    path("", web.home, name="home"),
    re_path(r"^oidc/login/?$", web.login, name="oidc-login"),
    re_path(r"^oidc/callback/?$", web.callback, name="oidc-callback"),
    re_path(r"^oidc/whoami/?$", web.whoami, name="oidc-whoami"),
    re_path(r"^oidc/logout/?$", web.logout, name="oidc-logout"),
    # OpenID Connect Back-Channel Logout 1.0: the issuer holds this as the app's backchannel_logout_uri.
    re_path(r"^backchannel-logout/?$", backchannel.logout, name="backchannel-logout"),
    # The language switcher's form on every page posts here (settings/languages.py).
    re_path(r"^language/?$", set_language, name="set_language"),
    re_path(r"^api/whoami/?$", views.WhoAmIView.as_view(), name="whoami"),
    re_path(r"^api/health/?$", views.HealthView.as_view(), name="health"),
    re_path(r"^healthz/?$", views.HealthView.as_view(), name="healthz"),
    re_path(r"^readyz/?$", views.ReadyView.as_view(), name="readyz"),
]
