"""The issuer borrows from the relying party only its error contract and its pure verifier.

idp may import `relying_party.errors`, `relying_party.exceptions` and `relying_party.verifier`, and
nothing that reads relying-party settings or fetches keys (the JWKS cache and its `requests`).
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {"relying_party.errors", "relying_party.exceptions", "relying_party.verifier"}
# The relying party's modules that read its settings, hold its process state or fetch keys.
FORBIDDEN = ["relying_party.authentication", "relying_party.conf", "relying_party.jwks", "relying_party.state"]


def _run(script: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def test_the_issuers_code_imports_only_the_allowed_relying_party_modules():
    found = set()
    for path in (ROOT / "idp").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("relying_party"):
                names = [node.module] if node.module != "relying_party" else [f"relying_party.{a.name}" for a in node.names]
                found.update((str(path.relative_to(ROOT)), name) for name in names)
            elif isinstance(node, ast.Import):
                found.update((str(path.relative_to(ROOT)), a.name) for a in node.names if a.name.startswith("relying_party"))
    assert {name for _, name in found} <= ALLOWED, sorted(found)


def test_importing_the_issuer_loads_no_relying_party_settings_state_or_jwks_cache():
    result = _run(
        f"""
        import sys
        import django

        django.setup()
        import idp.authentication, idp.errors, idp.sessions, idp.urls, idp.verification, idp.views

        print("loaded:", sorted(name for name in sys.modules if name in {FORBIDDEN!r}))
        """,
        DJANGO_SETTINGS_MODULE="settings.test",
    )
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout, result.stdout


def test_the_verifier_is_pure_it_loads_neither_django_nor_requests():
    result = _run(
        """
        import sys
        import relying_party.verifier

        print("loaded:", sorted(name for name in sys.modules if name.split(".")[0] in ("django", "requests", "rest_framework")))
        """
    )
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout, result.stdout
