"""The pages' routes; each answers with and without a trailing slash, like the API's."""
from django.urls import re_path

from idp.accounts import views

urlpatterns = [
    re_path(r"^signin/?$", views.SignInView.as_view(), name="signin"),
    re_path(r"^signout/?$", views.SignOutView.as_view(), name="signout"),
    re_path(r"^signed-in/?$", views.SignedInView.as_view(), name="signed-in"),
]
