"""The demo walkthrough in a real browser: sign in at app1 on the issuer's page, app2 without a password, sign out."""
from __future__ import annotations

import json

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.browser import WAIT_SECONDS, page_text
from tests.e2e.conftest import PASSWORD
from tests.e2e.servers import free_port, start_relying_party


def _register(deployment, name: str, port: int) -> dict:
    """Register a demo app as `make run` does: a trusted, confidential client; return its credentials."""
    base = f"http://127.0.0.1:{port}"
    added = deployment.manage(
        "clients", "add", name, "--redirect-uri", f"{base}/oidc/callback",
        "--post-logout-redirect-uri", f"{base}/", "--trusted", "--accepts-shared-audience", "--json",
    )
    return json.loads(added.stdout)


@pytest.fixture(scope="module")
def apps(deployment, issuer):
    """app1 and app2, registered at the issuer and started on the ports their redirect URIs name."""
    servers = []
    try:
        for name in ("walk-app1", "walk-app2"):
            port = free_port()
            credentials = _register(deployment, name, port)
            servers.append(
                start_relying_party(
                    deployment, name, issuer.url, port=port,
                    KUNCI_RP_CLIENT_ID=credentials["client_id"],
                    KUNCI_RP_CLIENT_SECRET=credentials["client_secret"],
                )
            )
        yield servers
    finally:
        for server in servers:
            server.stop()


def _click(browser, label: str) -> None:
    [button] = [b for b in browser.find_elements(By.CSS_SELECTOR, "button[type=submit]") if b.text == label]
    button.click()


def _wait_for(browser, predicate, what: str) -> None:
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: predicate(driver), message=f"{what}: {browser.current_url}")


def test_chromium_signs_in_at_app1_gets_into_app2_without_a_password_and_signs_out(issuer, apps, browser):
    app1, app2 = apps

    # app1: "Sign in with Kunci" leads to the issuer's own sign-in page.
    browser.get(f"{app1.url}/")
    _click(browser, "Sign in with Kunci")
    _wait_for(browser, lambda d: d.current_url.startswith(f"{issuer.url}/signin"), "the issuer's sign-in page")
    assert "walk-app1" in page_text(browser)  # the page names the client
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    _wait_for(browser, lambda d: d.current_url.startswith(f"{app1.url}/") and "Sign out" in page_text(d), "back at app1")
    assert "admin" in page_text(browser)

    # app2: the same browser session at the issuer, so no password is asked.
    browser.get(f"{app2.url}/")
    _click(browser, "Sign in with Kunci")
    _wait_for(browser, lambda d: d.current_url.startswith(f"{app2.url}/") and "Sign out" in page_text(d), "signed in at app2")
    assert "admin" in page_text(browser)
    assert browser.find_elements(By.NAME, "password") == []

    # Sign out of app1 through RP-Initiated Logout: the issuer's session ends, app1 shows it.
    browser.get(f"{app1.url}/")
    _click(browser, "Sign out")
    _wait_for(browser, lambda d: "Sign in with Kunci" in page_text(d) and d.current_url.startswith(f"{app1.url}/"), "signed out at app1")

    # The issuer's session is gone: signing in at app1 again asks for the password.
    _click(browser, "Sign in with Kunci")
    _wait_for(browser, lambda d: d.current_url.startswith(f"{issuer.url}/signin"), "asked to sign in again")
    assert browser.find_elements(By.NAME, "password")
