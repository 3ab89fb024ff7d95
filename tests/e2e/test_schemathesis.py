"""Schemathesis fuzzes the live issuer from its own OpenAPI schema: no input may cause a 5xx."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests

from tests.e2e.conftest import PASSWORD


def test_schemathesis_finds_no_server_error_on_the_live_issuer(issuer):
    login = requests.post(f"{issuer.url}/api/login", json={"username": "admin", "password": PASSWORD}, timeout=10)
    access = login.json()["access"]

    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("st")), "run", f"{issuer.url}/api/schema",
            "--checks", "not_a_server_error",
            "--max-examples", "30",
            "--seed", "20261123",
            "--header", f"Authorization: Bearer {access}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    assert "Traceback" not in issuer.log()
