"""Fixtures that start real servers; every e2e test is marked `e2e`."""
from __future__ import annotations

import pytest

from tests.e2e.servers import Deployment, start_issuer

PASSWORD = "e2e correct horse battery staple"


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    deployment = Deployment.create(tmp_path_factory.mktemp("kunci"))
    yield deployment
    deployment.destroy()


@pytest.fixture(scope="module")
def issuer(deployment):
    server = start_issuer(deployment, KUNCI_SIGNING_KEY_CACHE_SECONDS="0")
    deployment.manage(
        "createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com",
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
    )
    yield server
    server.stop()
