"""The OpenID Provider's protocol endpoints; each answers with and without a trailing slash."""
from django.urls import re_path

from idp.oauth.endpoints.authorize import AuthorizeView, ConsentView
from idp.oauth.endpoints.end_session import EndSessionConfirmView, EndSessionView
from idp.oauth.endpoints.introspect import IntrospectView
from idp.oauth.endpoints.revoke import RevokeView
from idp.oauth.endpoints.token import TokenView
from idp.oauth.endpoints.userinfo import UserInfoView

urlpatterns = [
    re_path(r"^authorize/?$", AuthorizeView.as_view(), name="authorize"),
    re_path(r"^authorize/consent/?$", ConsentView.as_view(), name="authorize-consent"),
    re_path(r"^token/?$", TokenView.as_view(), name="token"),
    re_path(r"^userinfo/?$", UserInfoView.as_view(), name="userinfo"),
    re_path(r"^revoke/?$", RevokeView.as_view(), name="revoke"),
    re_path(r"^introspect/?$", IntrospectView.as_view(), name="introspect"),
    re_path(r"^logout/?$", EndSessionView.as_view(), name="end-session"),
    re_path(r"^logout/confirm/?$", EndSessionConfirmView.as_view(), name="end-session-confirm"),
]
