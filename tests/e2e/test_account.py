"""The account page on the live issuer, in headless Chromium: see every session, sign out everywhere."""
from __future__ import annotations

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.browser import WAIT_SECONDS, page_text
from tests.e2e.conftest import PASSWORD


def test_chromium_sees_every_session_and_signs_out_everywhere(issuer, browser):
    api_login = requests.post(f"{issuer.url}/api/login", json={"username": "admin", "password": PASSWORD}, timeout=30)
    assert api_login.status_code == 200, api_login.text
    refresh = api_login.json()["refresh"]

    browser.get(f"{issuer.url}/signin?next=/account")
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: driver.current_url == f"{issuer.url}/account",
                                               message=browser.current_url)
    # The page's last form: the list of sessions above it has been read whole.
    everywhere = WebDriverWait(browser, WAIT_SECONDS).until(
        lambda driver: driver.find_elements(By.CSS_SELECTOR, "form[action='/account/signout-everywhere'] button")
    )[0]

    entries = browser.find_elements(By.CSS_SELECTOR, "li.session")
    assert len(entries) == 2, page_text(browser)
    current, api = entries  # the browser's own session is listed first
    assert "(this browser)" in current.text and "(this browser)" not in api.text
    assert "JSON API" in api.text and api.find_element(By.CSS_SELECTOR, ".apps").text == "API"
    assert browser.find_element(By.ID, "account-username").text == "admin"

    everywhere.click()

    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: "signed out of Kunci everywhere" in page_text(driver))
    refused = requests.post(f"{issuer.url}/api/login/refresh", json={"refresh": refresh}, timeout=30)
    assert refused.status_code == 401 and refused.json()["code"] == "token_blacklisted"
    browser.get(f"{issuer.url}/account")
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: "/signin" in driver.current_url, message=browser.current_url)
