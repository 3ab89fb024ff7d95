"""The issuer's browser stack: cookies per service, CSP and framing, the admin, and HTML error pages."""
from __future__ import annotations

import json
import logging
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.admin.utils import display_for_field
from django.core.exceptions import PermissionDenied
from django.test import Client, override_settings
from django.urls import path
from django.utils.html import conditional_escape

from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from idp.models import LoginSession, SessionEnd
from idp.urls import handler400, handler403, handler404, handler500  # noqa: F401 (this URLconf's handlers)
from idp.urls import urlpatterns as issuer_patterns
from keys.models import SigningKey
from tests.conftest import PASSWORD
from tests.keys.private_material import leaked, private_material
from tests.relying_party.test_error_logging import errors, failing_django_view
from tests.relying_party.test_settings import run_python

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


def forbidden_view(request):
    raise PermissionDenied


urlpatterns = [
    *issuer_patterns,
    path("fail/django", failing_django_view),
    path("forbidden", forbidden_view),
]


@pytest.fixture
def superuser(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("admin", "admin@example.com", PASSWORD)


@pytest.fixture
def admin_client(superuser) -> Client:
    """A browser signed in to the admin through its login form, CSRF checks on."""
    client = Client(enforce_csrf_checks=True)
    page = client.get("/admin/login/?next=/admin/")
    token = page.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "admin", "password": PASSWORD, "next": "/admin/", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302 and response["Location"] == "/admin/", response.content[:300]
    return client


class _InlineFinder(HTMLParser):
    """Collect inline scripts, inline event handlers and style attributes: what the CSP forbids."""

    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.lang: str | None = None
        self.has_main = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "html":
            self.lang = names.get("lang")
        self.has_main = self.has_main or tag == "main"
        if tag == "script" and "src" not in names and names.get("type") != "application/json":
            self.inline.append(f"<script> without src: {attrs}")
        if tag == "style":
            self.inline.append("<style> element")
        self.inline += [f"{tag} {name}=" for name in names if name == "style" or name.startswith("on")]


def parse(html: bytes) -> _InlineFinder:
    finder = _InlineFinder()
    finder.feed(html.decode())
    return finder


# --- Cookies: each service its own names -------------------------------------------------------

def test_the_issuer_names_its_own_session_csrf_and_language_cookies():
    assert settings.SESSION_COOKIE_NAME == "kunci_session"
    assert settings.CSRF_COOKIE_NAME == "kunci_csrftoken"
    assert settings.LANGUAGE_COOKIE_NAME == "kunci_language"


def _rp_cookie_settings(tmp_path, name: str, **env: str) -> dict:
    code = (
        "import json, settings.rp as s; print(json.dumps({n: getattr(s, n) for n in ("
        "'SESSION_COOKIE_NAME', 'CSRF_COOKIE_NAME', 'LANGUAGE_COOKIE_NAME', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE',"
        "'LANGUAGE_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', 'LANGUAGE_COOKIE_HTTPONLY', 'SESSION_COOKIE_SAMESITE',"
        "'CSRF_COOKIE_SAMESITE', 'LANGUAGE_COOKIE_SAMESITE', 'MIDDLEWARE',"
        "'SECURE_CSP', 'INSTALLED_APPS')}))"
    )
    result = run_python(code, tmp_path, KUNCI_RP_NAME=name, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_demo_service_has_cookie_names_of_its_own(tmp_path):
    app1 = _rp_cookie_settings(tmp_path, "app1")
    app2 = _rp_cookie_settings(tmp_path, "app2")

    keys = ("SESSION_COOKIE_NAME", "CSRF_COOKIE_NAME", "LANGUAGE_COOKIE_NAME")
    assert tuple(app1[key] for key in keys) == ("app1_session", "app1_csrftoken", "app1_language")
    assert tuple(app2[key] for key in keys) == ("app2_session", "app2_csrftoken", "app2_language")
    names = [getattr(settings, key) for key in keys] + [app[key] for app in (app1, app2) for key in keys]
    assert len(set(names)) == 9


def test_a_relying_party_has_the_browser_stack_and_the_same_csp(tmp_path):
    app = _rp_cookie_settings(tmp_path, "app1")

    for name in ("django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles"):
        assert name in app["INSTALLED_APPS"]
    assert "django.contrib.admin" not in app["INSTALLED_APPS"]
    # The issuer's own: its body limit, and CORS (the demo apps are called only by their own pages).
    issuer_only = {"idp.errors.RequestBodyLimitMiddleware", "idp.cors.CorsMiddleware"}
    assert app["MIDDLEWARE"] == [m for m in settings.MIDDLEWARE if m not in issuer_only]
    assert app["SECURE_CSP"] == settings.SECURE_CSP


def test_outside_demo_every_services_cookies_are_secure_httponly_and_lax(tmp_path):
    app = _rp_cookie_settings(tmp_path, "app1", KUNCI_DEMO="", DJANGO_SECRET_KEY="x" * 50)

    assert app["SESSION_COOKIE_SECURE"] is True and app["CSRF_COOKIE_SECURE"] is True and app["LANGUAGE_COOKIE_SECURE"] is True
    assert app["SESSION_COOKIE_HTTPONLY"] is True and app["LANGUAGE_COOKIE_HTTPONLY"] is True
    assert app["SESSION_COOKIE_SAMESITE"] == app["CSRF_COOKIE_SAMESITE"] == app["LANGUAGE_COOKIE_SAMESITE"] == "Lax"


def test_the_admin_sign_in_sets_the_issuers_cookies_httponly_and_lax(superuser):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/admin/login/")
    csrf = page.cookies["kunci_csrftoken"]

    response = client.post("/admin/login/", {"username": "admin", "password": PASSWORD, "csrfmiddlewaretoken": csrf.value})

    assert response.status_code == 302
    session = response.cookies["kunci_session"]
    assert session["httponly"] and session["samesite"] == "Lax" and csrf["samesite"] == "Lax"
    assert "sessionid" not in response.cookies and "csrftoken" not in page.cookies


# --- Framing and content security ---------------------------------------------------------------

def _assert_csp_and_framing(response, x_frame_options: bool = True) -> None:
    policy = response["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";")}
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["default-src"] == ["'self'"]
    assert "script-src" not in directives and "style-src" not in directives  # default-src: no inline
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    if x_frame_options:
        assert response["X-Frame-Options"] == "DENY"


def test_html_pages_carry_a_csp_that_forbids_framing_and_inline_script(admin_client):
    for url in ("/admin/login/", "/admin/", "/no/such/page"):
        response = (Client() if url == "/admin/login/" else admin_client).get(url, HTTP_ACCEPT=BROWSER)
        assert response["Content-Type"].startswith("text/html"), url
        _assert_csp_and_framing(response)


def test_the_pages_use_no_inline_script_or_style_so_the_csp_breaks_nothing(admin_client):
    for url in ("/admin/", "/admin/idp/user/", "/admin/idp/user/add/", "/admin/keys/signingkey/", "/no/such/page"):
        response = admin_client.get(url, HTTP_ACCEPT=BROWSER)
        assert parse(response.content).inline == [], url


def test_a_view_that_sets_its_own_policy_keeps_it(rf):
    from django.http import HttpResponse

    from settings.csp import ContentSecurityPolicyMiddleware

    def view(request):
        response = HttpResponse()
        response["Content-Security-Policy"] = "sandbox"
        return response

    assert ContentSecurityPolicyMiddleware(view)(rf.get("/"))["Content-Security-Policy"] == "sandbox"


def test_json_responses_keep_their_content_type_and_framing_header(db):
    response = Client().get("/.well-known/openid-configuration")

    assert response["Content-Type"] == "application/json"
    assert response["X-Frame-Options"] == "DENY"


# --- The admin ------------------------------------------------------------------------------------

def test_a_superuser_signs_in_to_the_admin_and_sees_every_model(admin_client):
    response = admin_client.get("/admin/")

    assert response.status_code == 200
    for url in ("/admin/idp/user/", "/admin/idp/loginsession/", "/admin/keys/signingkey/"):
        assert url.encode() in response.content


def test_a_wrong_password_at_the_admin_is_refused(superuser):
    client = Client()
    response = client.post("/admin/login/", {"username": "admin", "password": "wrong"})

    assert response.status_code == 200  # the form again, with its error
    assert client.get("/admin/").status_code == 302


def test_the_admin_sign_in_is_under_the_login_throttle_shared_with_the_api(superuser, keyring):
    from idp.conf import idp_settings

    client = Client()
    for _ in range(idp_settings.LOGIN_FAILURES_PER_USERNAME_IP):
        refused = client.post("/admin/login/", {"username": "admin", "password": "wrong"})
        assert b"Too many failed sign-ins" not in refused.content

    throttled = client.post("/admin/login/", {"username": "admin", "password": PASSWORD})
    api = Client().post("/api/login", {"username": "admin", "password": PASSWORD}, content_type="application/json")

    assert throttled.status_code == 200 and b"Too many failed sign-ins. Try again in" in throttled.content
    assert client.get("/admin/").status_code == 302  # not signed in
    assert api.status_code == 429


def test_a_right_password_of_a_user_who_is_not_staff_does_not_count_as_a_failure(user):
    from idp.conf import idp_settings

    client = Client()
    for _ in range(idp_settings.LOGIN_FAILURES_PER_USERNAME_IP + 1):
        response = client.post("/admin/login/", {"username": "alice", "password": PASSWORD})
        assert b"Too many failed sign-ins" not in response.content
        assert b"staff account" in response.content


def test_the_user_admin_finds_users_by_username_and_email(admin_client, user):
    by_email = admin_client.get("/admin/idp/user/", {"q": "ALICE@example.com"})
    by_name = admin_client.get("/admin/idp/user/", {"q": "alic"})

    assert b"alice@example.com" in by_email.content and b"alice@example.com" in by_name.content


def test_the_user_admin_refuses_an_email_another_account_has_in_another_case(admin_client, user):
    page = admin_client.get("/admin/idp/user/add/")
    token = page.cookies.get(settings.CSRF_COOKIE_NAME) or admin_client.cookies[settings.CSRF_COOKIE_NAME]

    response = admin_client.post(
        "/admin/idp/user/add/",
        {"username": "alice2", "email": "Alice@Example.com", "usable_password": "true",
         "password1": "another long passphrase 42", "password2": "another long passphrase 42",
         "csrfmiddlewaretoken": token.value},
    )

    assert response.status_code == 200
    assert b"A user with that email address already exists." in response.content


@pytest.fixture
def login_session(login, user) -> LoginSession:
    login(user)
    return LoginSession.objects.get(user=user)


def test_login_sessions_are_listed_read_only(admin_client, login_session):
    changelist = admin_client.get("/admin/idp/loginsession/")
    change = admin_client.get(f"/admin/idp/loginsession/{login_session.sid}/change/")

    assert changelist.status_code == 200 and login_session.sid.encode() in changelist.content
    assert change.status_code == 200
    assert b'name="_save"' not in change.content and b"deletelink" not in change.content
    # The one bulk action ends sessions; there is no "delete selected".
    assert b'value="end_sessions"' in changelist.content and b'value="delete_selected"' not in changelist.content


def test_staff_end_selected_sessions_through_the_session_ending_function(admin_client, login_session, login, user):
    login(user)
    other = LoginSession.objects.exclude(sid=login_session.sid).get()

    admin_client.get("/admin/idp/loginsession/")
    token = admin_client.cookies[settings.CSRF_COOKIE_NAME].value
    response = admin_client.post(
        "/admin/idp/loginsession/",
        {"action": "end_sessions", "_selected_action": [login_session.sid], "csrfmiddlewaretoken": token},
        follow=True,
    )

    assert response.status_code == 200 and b"1 session(s) ended." in response.content
    login_session.refresh_from_db()
    assert login_session.end_reason == SessionEnd.ADMIN and login_session.ended_at is not None
    assert login_session.grants.get().end_reason == SessionEnd.ADMIN
    live = OutstandingToken.objects.filter(grant_link__grant__session=login_session, blacklistedtoken__isnull=True)
    assert not live.exists()
    other.refresh_from_db()
    assert other.ended_at is None  # only the selected one


def test_staff_without_the_change_permission_on_sessions_cannot_end_them(login_session, db):
    viewer = get_user_model().objects.create_user("viewer", "viewer@example.com", PASSWORD, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_loginsession"))
    client = Client()
    client.force_login(viewer)

    changelist = client.get("/admin/idp/loginsession/")
    client.post("/admin/idp/loginsession/", {"action": "end_sessions", "_selected_action": [login_session.sid]})

    assert changelist.status_code == 200 and b'value="end_sessions"' not in changelist.content
    login_session.refresh_from_db()
    assert login_session.ended_at is None


def test_a_user_who_is_not_staff_cannot_reach_the_session_action(login_session, user):
    client = Client()
    client.force_login(user)

    response = client.post("/admin/idp/loginsession/", {"action": "end_sessions", "_selected_action": [login_session.sid]})

    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    login_session.refresh_from_db()
    assert login_session.ended_at is None


@pytest.mark.parametrize("method, url", [
    ("get", "/admin/idp/loginsession/add/"),
    ("post", "/admin/idp/loginsession/add/"),
    ("post", "/admin/idp/loginsession/{sid}/change/"),
    ("get", "/admin/idp/loginsession/{sid}/delete/"),
    ("post", "/admin/idp/loginsession/{sid}/delete/"),
])
def test_login_sessions_cannot_be_added_changed_or_deleted_in_the_admin(admin_client, login_session, method, url):
    token = admin_client.cookies[settings.CSRF_COOKIE_NAME].value
    before = list(LoginSession.objects.values())

    response = getattr(admin_client, method)(url.format(sid=login_session.sid), {"csrfmiddlewaretoken": token, "ended_at": "2030-01-01"})

    assert response.status_code == 403
    assert list(LoginSession.objects.values()) == before


def test_no_page_of_the_keys_admin_shows_private_key_material(admin_client, keyring):
    rows = SigningKey.objects.exclude(sealed_private_key=None).values_list("kid", "sealed_private_key")
    material = private_material(rows, settings.KUNCI_KEYS["KEY_ENCRYPTION_KEY"])
    urls = ["/admin/keys/signingkey/", "/admin/keys/signingkey/?state__exact=active", "/admin/keys/signingkey/?q=a"]
    for kid in keyring.values():
        urls += [f"/admin/keys/signingkey/{kid}/change/", f"/admin/keys/signingkey/{kid}/history/"]

    pages = {url: admin_client.get(url) for url in urls}

    for url, response in pages.items():
        assert response.status_code == 200, url
        text = response.content.decode()
        assert not leaked(text, material), url
        assert "sealed" not in text.lower() and "PRIVATE KEY" not in text, url
    for kid in keyring.values():
        assert kid in pages[f"/admin/keys/signingkey/{kid}/change/"].content.decode()


def test_the_private_material_check_would_see_the_sealed_field_if_the_admin_showed_it(keyring):
    key = SigningKey.objects.get(kid=keyring["active"])
    material = private_material([(key.kid, key.sealed_private_key)], settings.KUNCI_KEYS["KEY_ENCRYPTION_KEY"])
    shown = str(conditional_escape(display_for_field(key.sealed_private_key, SigningKey._meta.get_field("sealed_private_key"), "-")))

    assert leaked(shown, material)


def test_the_keys_admin_never_loads_the_sealed_private_key(admin_client, keyring):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        admin_client.get("/admin/keys/signingkey/")
        admin_client.get(f"/admin/keys/signingkey/{keyring['active']}/change/")

    keyring_queries = [q["sql"] for q in queries.captured_queries if "keys_signingkey" in q["sql"]]
    assert keyring_queries and not any("sealed_private_key" in sql for sql in keyring_queries)


@pytest.mark.parametrize("method, url", [
    ("get", "/admin/keys/signingkey/add/"),
    ("post", "/admin/keys/signingkey/{kid}/change/"),
    ("post", "/admin/keys/signingkey/{kid}/delete/"),
])
def test_keys_cannot_be_added_changed_or_deleted_in_the_admin(admin_client, keyring, method, url):
    token = admin_client.cookies[settings.CSRF_COOKIE_NAME].value
    before = list(SigningKey.objects.values_list("kid", "state"))

    response = getattr(admin_client, method)(url.format(kid=keyring["active"]), {"csrfmiddlewaretoken": token, "state": "revoked"})

    assert response.status_code == 403
    assert list(SigningKey.objects.values_list("kid", "state")) == before


# --- Errors: an HTML page for a browser, JSON for API clients ---------------------------------------

@pytest.fixture
def client(caplog) -> Client:
    caplog.set_level(logging.DEBUG, logger="kunci")
    with override_settings(ROOT_URLCONF=__name__, DEBUG=False):
        yield Client(raise_request_exception=False)


def _assert_html_page(response, status: int, title: str, x_frame_options: bool = True) -> None:
    assert response.status_code == status
    assert response["Content-Type"] == "text/html; charset=utf-8"
    page = parse(response.content)
    assert page.lang == "en" and page.has_main and page.inline == []
    assert f"<h1>{title}</h1>".encode() in response.content
    assert b"Kunci" in response.content
    _assert_csp_and_framing(response, x_frame_options)


@pytest.mark.parametrize("accept", [BROWSER, "text/html"])
def test_a_browser_opening_an_unknown_page_gets_an_html_404(client, accept):
    _assert_html_page(client.get("/no/such/page", HTTP_ACCEPT=accept), 404, "Page not found")


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "text/html, application/json", "application/problem+json, text/html"])
def test_api_clients_get_todays_json_404(client, accept):
    extra = {} if accept is None else {"HTTP_ACCEPT": accept}
    response = client.get("/no/such/page", **extra)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


@pytest.mark.parametrize("url", ["/api/nope", "/api", "/.well-known/nope", "/.well-known/jwks.json/extra"])
def test_api_paths_answer_json_even_to_a_browser(client, url):
    response = client.get(url, HTTP_ACCEPT=BROWSER)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_a_browser_gets_an_html_500_and_the_error_is_logged_once(client, caplog):
    response = client.get("/fail/django", HTTP_ACCEPT=BROWSER)

    _assert_html_page(response, 500, "Server error")
    assert b"something broke" not in response.content  # the exception's text stays in the log
    [record] = errors(caplog)
    assert record.name == "kunci.idp" and record.getMessage().startswith("unexpected RuntimeError in GET /fail/django")


def test_an_api_client_still_gets_the_json_500(client, caplog):
    response = client.get("/fail/django")

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error.", "code": "server_error"}
    assert len(errors(caplog)) == 1


def test_a_browser_gets_an_html_403_and_an_api_client_json(client):
    _assert_html_page(client.get("/forbidden", HTTP_ACCEPT=BROWSER), 403, "Permission denied")

    response = client.get("/forbidden", HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Permission denied.", "code": "permission_denied"}


def test_a_browser_gets_an_html_400_for_a_refused_host_and_an_api_client_json(client):
    # Refused by CommonMiddleware, before X-Frame-Options' middleware; the CSP still forbids framing.
    page = client.get("/no/such/page", HTTP_ACCEPT=BROWSER, HTTP_HOST="evil.example")
    _assert_html_page(page, 400, "Bad request", x_frame_options=False)

    response = client.get("/no/such/page", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json() == {"detail": "Bad request.", "code": "bad_request"}


def test_a_form_posted_without_its_csrf_token_gets_an_html_403_page(db):
    browser = Client(enforce_csrf_checks=True)

    response = browser.post("/admin/login/", {"username": "admin", "password": "x"}, HTTP_ACCEPT=BROWSER)

    _assert_html_page(response, 403, "Form expired")
    api = Client(enforce_csrf_checks=True).post("/admin/login/", {"username": "admin", "password": "x"})
    assert api.status_code == 403
    assert api.json() == {"detail": "Permission denied.", "code": "permission_denied"}


def test_markup_in_the_path_is_escaped_on_the_error_page(client):
    response = client.get('/<script>alert("x")</script><img src=x onerror=alert(1)>', HTTP_ACCEPT=BROWSER)

    _assert_html_page(response, 404, "Page not found")
    assert b"<script>alert" not in response.content and b"<img" not in response.content
    assert b"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in response.content


@pytest.mark.parametrize("accept", ["text/html; q=abc", ";;;, /, text/html", "text/html;q=0", "\u00e9/\u00e9"])
def test_a_malformed_accept_header_still_gets_a_404_never_a_500(client, accept):
    response = client.get("/no/such/page", HTTP_ACCEPT=accept)

    assert response.status_code == 404


def test_a_browser_gets_an_html_503_with_retry_after_during_a_database_outage(client, monkeypatch, caplog):
    from django import db
    from django.middleware.common import CommonMiddleware

    def unreachable(self, request):
        raise db.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(CommonMiddleware, "process_request", unreachable)

    response = client.get("/admin/", HTTP_ACCEPT=BROWSER)

    _assert_html_page(response, 503, "Try again soon", x_frame_options=False)
    assert response["Retry-After"] == "5"
    assert b"database_unavailable" in response.content and b"server closed" not in response.content
    assert errors(caplog) == []  # an outage is one WARNING line, not an unexpected error
