"""A real headless Chromium for the end-to-end tests: Debian's `chromium` driven by its `chromedriver`.

Both come from Debian's packages (`apt-get install chromium chromium-driver`; `.ci/run` installs them
when missing). Selenium is given both paths explicitly, so Selenium Manager never runs and never
tries to download a browser or a driver. `KUNCI_CHROMIUM` and `KUNCI_CHROMEDRIVER` point the tests at
other binaries (e.g. `KUNCI_CHROMIUM=/nonexistent` shows the skip path).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

INSTALL_HINT = "apt-get install chromium chromium-driver"
# Generous for a loaded 2-core machine; polling ends as soon as the condition holds.
WAIT_SECONDS = 30


@dataclass(frozen=True)
class Chromium:
    """Where the browser and its driver are, or why the browser tests cannot run."""

    browser: str | None
    driver: str | None
    missing: str | None

    @classmethod
    def find(cls) -> "Chromium":
        browser, browser_problem = _executable("KUNCI_CHROMIUM", "chromium")
        driver, driver_problem = _executable("KUNCI_CHROMEDRIVER", "chromedriver")
        if browser_problem:
            return cls(browser, driver, f"Chromium is not installed ({browser_problem}): {INSTALL_HINT}")
        if driver_problem:
            return cls(browser, driver, f"chromedriver is not installed ({driver_problem}): {INSTALL_HINT}")
        return cls(browser, driver, None)

    def describe(self) -> str:
        """One line for pytest's header: what the browser tests will use, or why they skip."""
        if self.missing:
            return f"browser tests: skipped, {self.missing}"
        version = subprocess.run([self.driver, "--version"], capture_output=True, text=True, timeout=30).stdout
        return f"browser tests: {self.browser} with {' '.join(version.split()[:2]) or self.driver}"

    def start(self, profile_dir: Path, log_path: Path) -> "WebDriver":
        """Start headless Chromium with a fresh profile in `profile_dir`; the caller quits it."""
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = self.browser
        for argument in (
            "--headless=new",
            # /dev/shm is small in containers; Chromium's renderers crash on it without this.
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile_dir}",
            "--window-size=1280,900",
            # The machine reaches no network but loopback: no sync, updates or metrics calls.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
        ):
            options.add_argument(argument)
        if os.geteuid() == 0:
            # Chromium refuses to start its sandbox as root.
            options.add_argument("--no-sandbox")
        # An explicit driver path: Selenium skips Selenium Manager entirely (see DriverFinder).
        service = Service(executable_path=self.driver, log_output=str(log_path))
        driver = webdriver.Chrome(service=service, options=options)
        driver.set_page_load_timeout(WAIT_SECONDS)
        return driver


def _executable(variable: str, name: str) -> tuple[str | None, str | None]:
    """Return (path, None) for an executable file, or (None, what is wrong)."""
    configured = os.environ.get(variable)
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured, None
        return None, f"{variable}={configured} is not an executable file"
    found = shutil.which(name)
    if found:
        return found, None
    return None, f"no `{name}` on PATH"


def page_text(driver: "WebDriver") -> str:
    """The text a person sees on the current page, once the document has a body.

    A page being replaced (a form just submitted) can take its body away between finding it and
    reading it: Chromium then answers a stale element or "Node ... does not belong to the
    document". The read is retried until it succeeds or WAIT_SECONDS pass.
    """
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # Wrapped in a list, so that an empty page is an answer rather than a reason to wait on.
    read = WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=(WebDriverException,)).until(
        lambda driver: [driver.find_element(By.TAG_NAME, "body").text]
    )
    return read[0]
