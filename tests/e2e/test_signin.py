"""The sign-in page on the live issuer: over plain HTTP with `requests`, and in headless Chromium."""
from __future__ import annotations

import re

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.browser import WAIT_SECONDS, page_text
from tests.e2e.conftest import PASSWORD
from tests.e2e.servers import sessions_of

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_a_browser_signs_in_and_out_over_http(issuer, deployment):
    browser = requests.Session()
    browser.headers["Accept"] = BROWSER
    form = browser.get(f"{issuer.url}/signin", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)

    signed_in = browser.post(
        f"{issuer.url}/signin",
        data={"username": "admin", "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{issuer.url}/signin"},
        timeout=30,
    )

    assert form.status_code == 200 and form.headers["X-Frame-Options"] == "DENY"
    assert "kunci_csrftoken" in browser.cookies
    assert signed_in.status_code == 200 and signed_in.url == f"{issuer.url}/signed-in"
    assert signed_in.history[0].status_code == 302
    assert "kunci_session" in browser.cookies and "sessionid" not in browser.cookies
    assert "admin" in signed_in.text
    [session] = [s for s in sessions_of(deployment, "admin") if not s["ended"]]
    assert session["origin"] == "browser"

    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', signed_in.text).group(1)
    signed_out = browser.post(
        f"{issuer.url}/signout", data={"csrfmiddlewaretoken": token},
        headers={"Referer": f"{issuer.url}/signed-in"}, timeout=10,
    )

    assert signed_out.status_code == 200 and "signed out" in signed_out.text
    [ended] = [s for s in sessions_of(deployment, "admin") if s["sid"] == session["sid"]]
    assert ended["ended"] and ended["reason"] == "logout"


def test_chromium_signs_in_on_the_page_and_out_again(issuer, deployment, browser):
    browser.get(f"{issuer.url}/signin")
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: "/signin" not in driver.current_url, message=browser.current_url)
    assert browser.current_url == f"{issuer.url}/signed-in", page_text(browser)
    assert "You are signed in to Kunci as admin" in page_text(browser)
    assert browser.get_cookie("kunci_session")["httpOnly"] is True
    open_sessions = [s for s in sessions_of(deployment, "admin") if not s["ended"] and s["origin"] == "browser"]
    assert len(open_sessions) == 1

    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: "You have signed out" in page_text(driver))
    assert not [s for s in sessions_of(deployment, "admin") if not s["ended"] and s["origin"] == "browser"]
