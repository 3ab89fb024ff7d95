"""The demo relying party's routes. Each path answers with and without a trailing slash, never redirecting."""
from django.urls import re_path

from relying_party import views

handler400 = "relying_party.errors.bad_request"
handler403 = "relying_party.errors.permission_denied"
handler404 = "relying_party.errors.not_found"
handler500 = "relying_party.errors.server_error"

urlpatterns = [
    re_path(r"^api/whoami/?$", views.WhoAmIView.as_view(), name="whoami"),
    re_path(r"^api/health/?$", views.HealthView.as_view(), name="health"),
    re_path(r"^healthz/?$", views.HealthView.as_view(), name="healthz"),
    re_path(r"^readyz/?$", views.ReadyView.as_view(), name="readyz"),
]
