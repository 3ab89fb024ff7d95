"""Self-service registration in headless Chromium, from the sign-in page to signing out everywhere.

The issuer is open to registration and mails through a real `run_outbox` worker to an aiosmtpd
server on a loopback port (`mail_stack` and `smtp` in tests/e2e/conftest.py): the activation link
the browser opens is the one that crossed SMTP.
"""
from __future__ import annotations

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.browser import WAIT_SECONDS, page_text
from tests.e2e.servers import sessions_of
from tests.e2e.smtp import link_in, to

EMAIL = "dana@example.com"
USERNAME = "dana"
PASSWORD = "e2e registration passphrase"


def _click(browser, label: str) -> None:
    """Press the button that reads `label`, once the page shows it."""
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda driver: driver.find_elements(By.XPATH, f"//button[normalize-space()={label!r}]"), message=page_text(browser)
    )[0].click()


def _wait_for_url(browser, url: str) -> None:
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: driver.current_url == url, message=browser.current_url)


def test_chromium_registers_activates_from_the_mail_signs_in_and_signs_out_everywhere(mail_stack, smtp, browser):
    issuer, _worker, deployment = mail_stack

    browser.get(f"{issuer.url}/signin")
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda driver: driver.find_elements(By.LINK_TEXT, "Create an account"), message=page_text(browser)
    )[0].click()
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: driver.find_elements(By.NAME, "password_again"))
    assert browser.current_url == f"{issuer.url}/register", browser.current_url
    for name, value in (("email", EMAIL), ("username", USERNAME), ("password", PASSWORD), ("password_again", PASSWORD)):
        browser.find_element(By.NAME, name).send_keys(value)
    _click(browser, "Create the account")
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: "Check your email" in page_text(driver))
    assert EMAIL in page_text(browser)

    link = link_in(smtp.wait_for(to(EMAIL)), "/activate")
    browser.get(link)
    _click(browser, "Activate my account")
    _wait_for_url(browser, f"{issuer.url}/signin")
    assert "Your account is activated" in page_text(browser)

    # A second session, of the JSON API: signing out everywhere must end it too.
    api_login = requests.post(f"{issuer.url}/api/login", json={"username": USERNAME, "password": PASSWORD}, timeout=30)
    assert api_login.status_code == 200, api_login.text
    refresh = api_login.json()["refresh"]

    browser.find_element(By.NAME, "username").send_keys(USERNAME)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    _click(browser, "Sign in")
    _wait_for_url(browser, f"{issuer.url}/signed-in")
    browser.get(f"{issuer.url}/account")
    # The page's last form: the profile and the sessions above it have been read whole.
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda driver: driver.find_elements(By.CSS_SELECTOR, "form[action='/account/signout-everywhere'] button")
    )
    assert browser.find_element(By.ID, "account-username").text == USERNAME
    assert EMAIL in browser.find_element(By.CSS_SELECTOR, "dl.profile").text
    entries = browser.find_elements(By.CSS_SELECTOR, "li.session")
    assert len(entries) == 2, page_text(browser)
    assert "(this browser)" in entries[0].text and "Browser" in entries[0].text
    assert "JSON API" in entries[1].text

    _click(browser, "Sign out everywhere")

    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: "signed out of Kunci everywhere" in page_text(driver))
    browser.get(f"{issuer.url}/account")
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda driver: driver.current_url.startswith(f"{issuer.url}/signin?"), message=browser.current_url
    )
    refused = requests.post(f"{issuer.url}/api/login/refresh", json={"refresh": refresh}, timeout=30)
    assert refused.status_code == 401 and refused.json()["code"] == "token_blacklisted"
    sessions = sessions_of(deployment, USERNAME)
    assert sorted(session["origin"] for session in sessions) == ["api", "browser"]
    assert all(session["ended"] and session["reason"] == "logout_everywhere" for session in sessions), sessions
