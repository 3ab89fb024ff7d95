"""The pages' routes; each answers with and without a trailing slash, like the API's."""
from django.urls import re_path

from idp.accounts import account, password_views, registration_views, views

urlpatterns = [
    re_path(r"^signin/?$", views.SignInView.as_view(), name="signin"),
    re_path(r"^signout/?$", views.SignOutView.as_view(), name="signout"),
    re_path(r"^signed-in/?$", views.SignedInView.as_view(), name="signed-in"),
    re_path(r"^account/?$", account.AccountView.as_view(), name="account"),
    re_path(r"^account/signout/?$", account.EndSessionView.as_view(), name="account-signout"),
    re_path(r"^account/signout-everywhere/?$", account.EndAllSessionsView.as_view(), name="account-signout-everywhere"),
    re_path(r"^account/password/?$", account.PasswordChangeView.as_view(), name="account-password"),
    re_path(r"^register/?$", registration_views.RegisterView.as_view(), name="register"),
    re_path(r"^register/resend/?$", registration_views.ResendActivationView.as_view(), name="register-resend"),
    re_path(r"^activate/?$", registration_views.ActivateView.as_view(), name="activate"),
    re_path(r"^password/reset/?$", password_views.PasswordResetView.as_view(), name="password-reset"),
    re_path(r"^password/reset/confirm/?$", password_views.PasswordResetConfirmView.as_view(), name="password-reset-confirm"),
]
