"""The client registry's admin pages, driven through the ModelAdmin with a superuser's requests.

The pages run on an admin site of their own (tests/idp/oauth/admin_urls.py), so these tests need
neither the project's /admin/ route nor its templates: they assert on the responses, the context
the templates receive, the rendered form and the messages.
"""
from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.contrib.admin import sites
from django.contrib.auth import get_user_model
from django.contrib.messages.storage.cookie import CookieStorage
from django.db import connection
from django.test import RequestFactory

if not apps.is_installed("django.contrib.admin"):
    # The project's default admin site needs the admin app; until it is installed, a plain
    # AdminSite stands in for it, so that idp/oauth/admin.py's registration can be imported.
    sites.site = sites.AdminSite()

from idp.oauth.admin import ClientAdmin  # noqa: E402
from idp.oauth.models import AuthMethod, Client  # noqa: E402
from tests.idp.oauth.admin_urls import site  # noqa: E402

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.idp.oauth.admin_urls")]

URI = "https://app.example.com/callback"
SECRET_IN_MESSAGE = re.compile(r"New client secret for .+: ([A-Za-z0-9_-]+) \(shown only this once")


@pytest.fixture(autouse=True)
def _admin_log(monkeypatch):
    """Skip the admin's history log when django.contrib.admin (and its LogEntry table) is not installed."""
    if not apps.is_installed("django.contrib.admin"):
        for method in ("log_addition", "log_change", "log_deletion", "log_deletions"):
            monkeypatch.setattr(ClientAdmin, method, lambda *args, **kwargs: None)


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("admin", "admin@example.com", "unused")


@pytest.fixture
def model_admin() -> ClientAdmin:
    return site._registry[Client]


@pytest.fixture
def request_as(superuser):
    def _request(method: str, path: str, data: dict | None = None):
        factory = RequestFactory()
        request = factory.post(path, data or {}) if method == "POST" else factory.get(path, data or {})
        request.user = superuser
        request._messages = CookieStorage(request)
        request._dont_enforce_csrf_checks = True
        return request

    return _request


def form_data(**overrides) -> dict[str, str]:
    data = {
        "name": "App",
        "redirect_uris": f"{URI}\nhttp://127.0.0.1:8082/cb",
        "post_logout_redirect_uris": "https://app.example.com/",
        "backchannel_logout_uri": "",
        "token_endpoint_auth_method": AuthMethod.CLIENT_SECRET_BASIC,
        "allowed_scopes": "openid profile email",
        "trusted": "on",
        "_save": "Save",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def messages_of(request) -> list[str]:
    return [str(message) for message in request._messages]


def secret_in(request) -> str | None:
    found = [match.group(1) for text in messages_of(request) if (match := SECRET_IN_MESSAGE.search(text))]
    assert len(found) <= 1
    return found[0] if found else None


def make_client(name: str = "App", **fields) -> tuple[Client, str | None]:
    client = Client(name=name, redirect_uris=[URI], **fields)
    secret = None if client.is_public else client.set_new_secret()
    client.save()
    return client, secret


def rendered_change_form(response) -> str:
    """Return the change form's inputs and read-only values as the page would show them."""
    adminform = response.context_data["adminform"]
    parts = [adminform.form.as_div()]
    for fieldset in adminform:
        for line in fieldset:
            for field in line:
                if field.is_readonly:
                    parts.append(str(field.contents()))
    return "\n".join(parts)


def test_the_project_admin_registers_the_client_registry():
    import idp.admin  # noqa: F401

    assert isinstance(sites.site._registry[Client], ClientAdmin)


# list and search

def test_the_list_shows_clients_without_any_secret_column(model_admin, request_as):
    make_client("App")
    make_client("SPA", token_endpoint_auth_method=AuthMethod.NONE)

    response = model_admin.changelist_view(request_as("GET", "/admin/idp/client/"))

    assert response.status_code == 200
    assert [client.name for client in response.context_data["cl"].result_list] == ["App", "SPA"]
    assert not any("secret" in column for column in model_admin.list_display)


@pytest.mark.parametrize("query", ["spa", "SPA", "client_id"])
def test_the_list_searches_by_name_and_client_id(model_admin, request_as, query):
    make_client("App")
    spa, _ = make_client("SPA", token_endpoint_auth_method=AuthMethod.NONE)
    if query == "client_id":
        query = spa.client_id

    response = model_admin.changelist_view(request_as("GET", "/admin/idp/client/", {"q": query}))

    assert list(response.context_data["cl"].result_list) == [spa]


# create

def test_the_add_page_asks_for_the_registration_and_never_for_a_secret(model_admin, request_as):
    response = model_admin.add_view(request_as("GET", "/admin/idp/client/add/"))

    assert response.status_code == 200
    fields = list(response.context_data["adminform"].form.fields)
    assert fields == [
        "name", "redirect_uris", "post_logout_redirect_uris", "backchannel_logout_uri",
        "token_endpoint_auth_method", "allowed_scopes", "trusted", "accepts_shared_audience",
    ]


def test_adding_a_confidential_client_shows_its_new_secret_once_and_stores_only_the_digest(model_admin, request_as):
    request = request_as("POST", "/admin/idp/client/add/", form_data())

    response = model_admin.add_view(request)

    assert response.status_code == 302
    client = Client.objects.get(name="App")
    assert client.redirect_uris == [URI, "http://127.0.0.1:8082/cb"]
    assert client.post_logout_redirect_uris == ["https://app.example.com/"]
    assert client.allowed_scopes == ["openid", "profile", "email"]
    assert client.trusted and not client.accepts_shared_audience
    secret = secret_in(request)
    assert client.check_client_secret(secret)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {Client._meta.db_table} WHERE id = %s", [client.pk])
        assert all(secret not in str(value) for value in cursor.fetchone())


def test_adding_a_public_client_shows_no_secret(model_admin, request_as):
    request = request_as("POST", "/admin/idp/client/add/", form_data(token_endpoint_auth_method=AuthMethod.NONE))

    assert model_admin.add_view(request).status_code == 302
    assert secret_in(request) is None
    assert Client.objects.get(name="App").secret_digest == ""


def test_a_bad_registration_is_shown_on_the_form_with_the_reason(model_admin, request_as, monkeypatch):
    monkeypatch.delenv("KUNCI_DEMO", raising=False)
    request = request_as("POST", "/admin/idp/client/add/", form_data(redirect_uris="http://app.example.com/cb#x"))

    response = model_admin.add_view(request)

    assert response.status_code == 200
    assert response.context_data["adminform"].form.errors["redirect_uris"] == [
        "'http://app.example.com/cb#x' must not contain a fragment (RFC 6749 §3.1.2)."
    ]
    assert not Client.objects.exists() and messages_of(request) == []


def test_a_registration_without_redirect_uris_is_refused(model_admin, request_as):
    response = model_admin.add_view(request_as("POST", "/admin/idp/client/add/", form_data(redirect_uris="\n  \n")))

    assert response.status_code == 200
    assert response.context_data["adminform"].form.errors["redirect_uris"] == ["Register at least one redirect URI."]
    assert not Client.objects.exists()


# edit

def test_the_change_page_never_shows_the_secret_or_its_digest(model_admin, request_as):
    client, secret = make_client(post_logout_redirect_uris=["https://app.example.com/"])

    response = model_admin.change_view(request_as("GET", f"/admin/idp/client/{client.pk}/change/"), str(client.pk))

    assert response.status_code == 200
    page = rendered_change_form(response)
    assert client.client_id in page and URI in page and "https://app.example.com/" in page
    assert secret not in page and client.secret_digest not in page
    assert "secret_digest" not in response.context_data["adminform"].form.fields


def test_editing_keeps_the_secret_and_shows_none(model_admin, request_as):
    client, secret = make_client()
    request = request_as("POST", f"/admin/idp/client/{client.pk}/change/", form_data(name="Renamed"))

    assert model_admin.change_view(request, str(client.pk)).status_code == 302

    client.refresh_from_db()
    assert client.name == "Renamed" and client.redirect_uris == [URI, "http://127.0.0.1:8082/cb"]
    assert client.check_client_secret(secret)
    assert secret_in(request) is None


def test_issuing_a_new_secret_shows_it_once_and_the_old_one_stops_working(model_admin, request_as):
    client, old = make_client()
    request = request_as("POST", f"/admin/idp/client/{client.pk}/change/", form_data(issue_new_secret="on"))

    assert model_admin.change_view(request, str(client.pk)).status_code == 302

    client.refresh_from_db()
    new = secret_in(request)
    assert client.check_client_secret(new) and not client.check_client_secret(old)


def test_making_a_client_public_drops_its_secret(model_admin, request_as):
    client, old = make_client()
    request = request_as(
        "POST", f"/admin/idp/client/{client.pk}/change/", form_data(token_endpoint_auth_method=AuthMethod.NONE),
    )

    assert model_admin.change_view(request, str(client.pk)).status_code == 302

    client.refresh_from_db()
    assert client.is_public and client.secret_digest == "" and not client.check_client_secret(old)
    assert secret_in(request) is None


def test_making_a_public_client_confidential_issues_its_first_secret(model_admin, request_as):
    client, _ = make_client(token_endpoint_auth_method=AuthMethod.NONE)
    request = request_as(
        "POST", f"/admin/idp/client/{client.pk}/change/",
        form_data(token_endpoint_auth_method=AuthMethod.CLIENT_SECRET_POST),
    )

    assert model_admin.change_view(request, str(client.pk)).status_code == 302

    client.refresh_from_db()
    assert client.check_client_secret(secret_in(request))
