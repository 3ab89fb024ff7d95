"""Cookie mode over real HTTP: a demo-mode issuer on loopback, `requests.Session` as the browser's cookie jar."""
from __future__ import annotations

import copy
import subprocess

import pytest
import requests

from tests.e2e.conftest import PASSWORD, start_issuer_with_admin
from tests.e2e.servers import start_relying_party
from tests.e2e.test_readme import walkthrough

ACCESS, REFRESH, CSRF = "kunci_access", "kunci_refresh", "kunci_csrftoken"


@pytest.fixture(scope="module")
def demo_issuer(deployment):
    # Demo mode, as `make run`: the token cookies go without Secure to 127.0.0.1, so that a cookie
    # jar sends them back over plain HTTP.
    server = start_issuer_with_admin(deployment, KUNCI_DEMO="1")
    yield server
    server.stop()


def cookie_login(url: str) -> requests.Session:
    browser = requests.Session()
    response = browser.post(f"{url}/api/login", json={"username": "admin", "password": PASSWORD, "cookie": True}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["code"] == "logged_in" and "access" not in response.json()
    return browser


def csrf_header(browser: requests.Session) -> dict[str, str]:
    return {"X-CSRFToken": browser.cookies[CSRF]}


def sent_cookies(response: requests.Response) -> set[str]:
    """The names of the cookies the request of `response` carried."""
    header = response.request.headers.get("Cookie", "")
    return {pair.split("=", 1)[0].strip() for pair in header.split(";") if pair.strip()}


def test_cookie_mode_login_me_refresh_logout_and_the_old_cookies_refused(demo_issuer):
    url = demo_issuer.url
    browser = cookie_login(url)
    jar = {cookie.name: cookie for cookie in browser.cookies}
    assert (jar[ACCESS].path, jar[REFRESH].path) == ("/", "/api/login/refresh")
    assert all(jar[name].has_nonstandard_attr("HttpOnly") and not jar[name].secure for name in (ACCESS, REFRESH))

    me = browser.get(f"{url}/api/me", headers=csrf_header(browser), timeout=10)
    assert me.status_code == 200 and me.json()["username"] == "admin"
    # The refresh cookie's Path keeps it off every other endpoint.
    assert ACCESS in sent_cookies(me) and REFRESH not in sent_cookies(me)

    without_header = browser.post(f"{url}/api/logout/all", timeout=10)
    assert without_header.status_code == 403
    assert without_header.json()["code"] == "csrf_failed"

    before = jar[REFRESH].value
    refreshed = browser.post(f"{url}/api/login/refresh", headers=csrf_header(browser), timeout=10)
    assert refreshed.status_code == 200 and refreshed.json()["code"] == "refreshed"
    assert REFRESH in sent_cookies(refreshed)
    assert browser.cookies[REFRESH] != before
    assert browser.get(f"{url}/api/me", timeout=10).status_code == 200

    stale = requests.Session()
    stale.cookies = copy.deepcopy(browser.cookies)
    logout = browser.post(f"{url}/api/logout", headers=csrf_header(browser), timeout=10)
    assert logout.status_code == 200 and logout.json()["code"] == "logged_out"
    assert ACCESS not in browser.cookies and REFRESH not in browser.cookies

    me_after = stale.get(f"{url}/api/me", timeout=10)
    refresh_after = stale.post(f"{url}/api/login/refresh", headers=csrf_header(stale), timeout=10)
    assert (me_after.status_code, me_after.json()["code"]) == (401, "session_ended")
    assert (refresh_after.status_code, refresh_after.json()["code"]) == (401, "token_blacklisted")
    assert "Traceback" not in demo_issuer.log()


def test_a_reused_refresh_cookie_ends_the_session_over_http(demo_issuer):
    url = demo_issuer.url
    thief = cookie_login(url)
    client = requests.Session()
    client.cookies = copy.deepcopy(thief.cookies)

    assert client.post(f"{url}/api/login/refresh", headers=csrf_header(client), timeout=10).status_code == 200
    reuse = thief.post(f"{url}/api/login/refresh", headers=csrf_header(thief), timeout=10)

    assert (reuse.status_code, reuse.json()["code"]) == (401, "token_reused")
    assert client.get(f"{url}/api/me", timeout=10).json()["code"] == "session_ended"


def test_a_relying_party_with_access_cookie_name_accepts_the_issuers_cookie(deployment, demo_issuer):
    app = start_relying_party(deployment, "cookieapp", demo_issuer.url, KUNCI_RP_ACCESS_COOKIE_NAME=ACCESS)
    try:
        browser = cookie_login(demo_issuer.url)
        # The same host on another port: browsers (and this jar) send the issuer's cookie along.
        whoami = browser.get(f"{app.url}/api/whoami", timeout=30)
    finally:
        app.stop()

    assert whoami.status_code == 200, whoami.text
    assert whoami.json()["app"] == "cookieapp"
    assert "cookieapp_csrftoken" in whoami.cookies


def test_the_readme_cookie_walkthrough_works_as_written(deployment, demo_issuer):
    deployment.manage("demo_user")
    script = walkthrough("cookie-walkthrough").replace("var/", f"{deployment.var_dir}/")
    script = script.replace("http://127.0.0.1:8000", demo_issuer.url)

    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    login, me, refused, refreshed, logout, me_after, refresh_after = result.stdout.strip().split("\n")
    assert '"code":"logged_in"' in login and '"access"' not in login
    assert '"username":"demo"' in me
    assert '"code":"csrf_failed"' in refused
    assert '"code":"refreshed"' in refreshed
    assert '"code":"logged_out"' in logout
    assert '"code":"session_ended"' in me_after
    assert '"code":"token_blacklisted"' in refresh_after
