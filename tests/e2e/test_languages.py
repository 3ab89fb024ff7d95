"""The issuer's pages in headless Chromium: a client's ui_locales=ko shows Korean, and the switcher changes it."""
from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.browser import WAIT_SECONDS

REDIRECT_URI = "http://127.0.0.1:9/callback"  # never reached: the test stops at the sign-in page


@pytest.fixture(scope="module")
def client_id(deployment, issuer) -> str:
    added = deployment.manage("clients", "add", "Korean shop", "--redirect-uri", REDIRECT_URI, "--json")
    return json.loads(added.stdout)["client_id"]


def _heading(browser) -> str:
    return browser.find_element(By.TAG_NAME, "h1").text


def test_chromium_opens_the_sign_in_page_in_the_clients_ui_locales_and_switches_to_english(issuer, client_id, browser):
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI, "scope": "openid",
             "state": "s-1", "ui_locales": "ko-KR en"}

    # Chromium's own Accept-Language is English: ui_locales wins over it (OIDC Core §3.1.2.1).
    browser.get(f"{issuer.url}/authorize?{urlencode(query)}")

    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: "/signin" in driver.current_url, message=browser.current_url)
    assert browser.execute_script("return navigator.language").startswith("en")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ko"
    assert _heading(browser) == "로그인"
    assert browser.find_element(By.CSS_SELECTOR, "label[for=id_username]").text == "사용자 이름 또는 이메일"
    assert "Korean shop 서비스를 계속 이용하려면 로그인하십시오" in browser.find_element(By.CLASS_NAME, "client").text
    signin_url = browser.current_url

    # The switcher is a plain form: its English button posts, and the same page comes back in English.
    browser.find_element(By.CSS_SELECTOR, "form.languages button[value=en]").click()

    # The old page's heading may go stale while the new one loads.
    WebDriverWait(browser, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda driver: _heading(driver) == "Sign in", message=browser.current_url
    )
    assert browser.current_url == signin_url
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert browser.get_cookie("kunci_language")["value"] == "en"
