"""The issuer's routes. Each path answers with and without a trailing slash, never redirecting."""
from django.urls import re_path
from drf_spectacular.views import SpectacularAPIView

from idp import discovery, health, views

# The JSON error views are shared with the relying party: one error contract for every service.
# The issuer's 500 view answers a database or cache outage with 503 instead.
handler400 = "relying_party.errors.bad_request"
handler403 = "relying_party.errors.permission_denied"
handler404 = "relying_party.errors.not_found"
handler500 = "idp.errors.server_error"  # logs under the issuer's name

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
    re_path(r"^\.well-known/jwks\.json/?$", discovery.JWKSView.as_view(), name="jwks"),
    re_path(
        r"^\.well-known/openid-configuration/?$",
        discovery.OpenIDConfigurationView.as_view(),
        name="openid-configuration",
    ),
]
