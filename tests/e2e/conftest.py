"""Fixtures that start real servers; every e2e test is marked `e2e`."""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.e2e.browser import Chromium
from tests.e2e.oidc_client import NodeClient
from tests.e2e.servers import Deployment, Server, start_issuer, start_outbox_worker
from tests.e2e.smtp import MailServer

PASSWORD = "e2e correct horse battery staple"


def pytest_collection_modifyitems(items):
    # Skip at collection, so that a test whose tools are missing starts no servers either.
    missing = {"browser": Chromium.find().missing, "node_client": NodeClient.missing()}
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
        for fixture, reason in missing.items():
            if reason and fixture in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    deployment = Deployment.create(tmp_path_factory.mktemp("kunci"))
    yield deployment
    deployment.destroy()


def start_issuer_with_admin(deployment: Deployment, **env: str) -> Server:
    """Start an issuer with `env` and create its superuser `admin` (password PASSWORD)."""
    server = start_issuer(deployment, **env)
    deployment.manage(
        "createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com",
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
    )
    return server


@pytest.fixture(scope="module")
def issuer(deployment):
    server = start_issuer_with_admin(deployment, KUNCI_SIGNING_KEY_CACHE_SECONDS="0")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def smtp() -> Iterator[MailServer]:
    """A real SMTP server (aiosmtpd) on a loopback port that keeps every message it receives."""
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mail_stack(tmp_path_factory, smtp) -> Iterator[tuple[Server, Server, Deployment]]:
    """An issuer open to registration and its `run_outbox` worker, which mails through `smtp`."""
    deployment = Deployment.create(
        tmp_path_factory.mktemp("accounts"),
        KUNCI_EMAIL_URL=smtp.url, KUNCI_REGISTRATION="1",
        # Retries of a failed delivery within a second, so a test of an SMTP outage waits little.
        KUNCI_OUTBOX_RETRY_CAP="1",
    )
    issuer = start_issuer(deployment)
    worker = start_outbox_worker(deployment)
    yield issuer, worker, deployment
    worker.stop()
    issuer.stop()
    deployment.destroy()


@pytest.fixture
def node_client() -> Callable[..., NodeClient]:
    """Return a factory of openid-client v6 relying parties: node_client(issuer_url, client_id, client_secret=None).

    Skips, saying what to install, when node or the npm package is missing.
    """
    problem = NodeClient.missing()
    if problem:
        pytest.skip(problem)
    return NodeClient.for_client


@pytest.fixture
def browser(tmp_path, monkeypatch) -> Iterator:
    """A headless Chromium (Selenium WebDriver) with a fresh profile, quit after the test.

    Skips, saying what to install, when Debian's chromium or chromium-driver is missing.
    """
    chromium = Chromium.find()
    if chromium.missing:
        pytest.skip(chromium.missing)
    # Selenium Manager is never needed (both paths are explicit); should anything call it, offline.
    monkeypatch.setenv("SE_OFFLINE", "true")
    monkeypatch.setenv("SE_AVOID_STATS", "true")
    driver = chromium.start(tmp_path / "chromium-profile", tmp_path / "chromedriver.log")
    yield driver
    driver.quit()
