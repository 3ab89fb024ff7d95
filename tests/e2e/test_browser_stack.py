"""The browser stack on real servers: static files through WhiteNoise, the admin, CSP, cookie names."""
from __future__ import annotations

import re

import pytest
import requests

from tests.e2e.conftest import PASSWORD
from tests.e2e.servers import start_relying_party

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture(scope="module")
def app1(deployment, issuer):
    server = start_relying_party(deployment, "app1", issuer.url)
    yield server
    server.stop()


@pytest.mark.parametrize("path, content_type", [
    ("/static/admin/css/base.css", "text/css"),
    ("/static/admin/js/theme.js", "text/javascript"),
    ("/static/kunci/kunci.css", "text/css"),
])
def test_the_issuer_serves_static_files_without_collectstatic(issuer, path, content_type):
    response = requests.get(issuer.url + path, timeout=10)

    assert response.status_code == 200, response.text[:200]
    assert response.headers["Content-Type"].startswith(content_type)
    assert "max-age" in response.headers["Cache-Control"]
    assert response.content


def test_a_relying_party_serves_the_shared_stylesheet(app1):
    response = requests.get(f"{app1.url}/static/kunci/kunci.css", timeout=10)

    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/css")


def test_an_unknown_static_file_is_a_404(issuer):
    assert requests.get(f"{issuer.url}/static/admin/css/nope.css", timeout=10).status_code == 404


def test_a_superuser_signs_in_to_the_admin_over_http_and_its_css_loads(issuer):
    browser = requests.Session()
    login = browser.get(f"{issuer.url}/admin/login/?next=/admin/", headers={"Accept": BROWSER}, timeout=10)
    token = browser.cookies["kunci_csrftoken"]

    response = browser.post(
        f"{issuer.url}/admin/login/?next=/admin/",
        data={"username": "admin", "password": PASSWORD, "next": "/admin/", "csrfmiddlewaretoken": token},
        headers={"Accept": BROWSER, "Referer": f"{issuer.url}/admin/login/"},
        timeout=30,
    )

    assert response.status_code == 200 and response.url == f"{issuer.url}/admin/"
    assert "kunci_session" in browser.cookies and "sessionid" not in browser.cookies
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    for href in re.findall(r'href="(/static/[^"]+\.css)"', login.text + response.text):
        assert requests.get(issuer.url + href, timeout=10).status_code == 200, href


def test_a_browser_gets_an_html_404_and_an_api_client_json_from_the_live_issuer(issuer):
    page = requests.get(f"{issuer.url}/no/such/page", headers={"Accept": BROWSER}, timeout=10)
    api = requests.get(f"{issuer.url}/no/such/page", timeout=10)

    assert page.status_code == 404 and page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert api.status_code == 404 and api.json() == {"detail": "Not found.", "code": "not_found"}


def test_a_relying_party_answers_with_the_csp_too(app1):
    response = requests.get(f"{app1.url}/api/health", timeout=10)

    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
