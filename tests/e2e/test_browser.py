"""A real headless Chromium against the live issuer: the public documents render and read as JSON."""
from __future__ import annotations

import json
import struct

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.browser import WAIT_SECONDS, page_text


def _json_document(browser, url: str) -> dict:
    """Open `url` in the browser and parse the JSON it shows."""
    browser.get(url)
    # Chromium shows a JSON response as text in a <pre> (its JSON viewer may add a toolbar around it).
    pre = WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: driver.find_elements(By.TAG_NAME, "pre"))
    return json.loads(pre[0].text)


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/.well-known/jwks.json"])
def test_chromium_reads_the_public_documents_as_json(issuer, browser, path):
    document = _json_document(browser, issuer.url + path)

    if path.endswith("openid-configuration"):
        assert document["issuer"] == issuer.url
        assert document["jwks_uri"] == f"{issuer.url}/.well-known/jwks.json"
    else:
        assert document["keys"], document
        assert all(key["kty"] == "RSA" and key["kid"] and "d" not in key for key in document["keys"])


def test_chromium_renders_the_discovery_document_into_a_screenshot(issuer, browser, tmp_path):
    browser.get(f"{issuer.url}/.well-known/openid-configuration")
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: issuer.url in page_text(driver))

    screenshot = tmp_path / "discovery.png"
    assert browser.save_screenshot(str(screenshot))

    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    viewport = browser.execute_script("return [window.innerWidth, window.innerHeight]")
    assert (width, height) == tuple(viewport)
