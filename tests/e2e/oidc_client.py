"""openid-client v6 (npm) as a standard relying party for the end-to-end tests.

Each call runs tests/e2e/node/oidc_client.mjs under node: one JSON request on stdin, one JSON answer
on stdout. The package is installed by `npm ci --prefix tests/e2e/node` (`make test` and `.ci/run` do
it when node is present). `KUNCI_NODE` names another node binary.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent / "node"
SCRIPT = PACKAGE_DIR / "oidc_client.mjs"
INSTALL_HINT = "npm ci --prefix tests/e2e/node"


class OpenIDClientError(Exception):
    """openid-client refused a response, or the server answered with an OAuth error."""

    def __init__(self, scenario: str, error: dict[str, Any]) -> None:
        self.scenario = scenario
        self.error = error
        # openid-client's code (e.g. OAUTH_JSON_ATTRIBUTE_COMPARISON); `oauth_error` is the server's.
        self.code: str | None = error.get("code")
        self.oauth_error: str | None = error.get("error")
        super().__init__(f"{scenario}: {error.get('name')} {self.code}: {error.get('message')} {json.dumps(error.get('cause'))}")


@dataclass(frozen=True)
class NodeClient:
    """Run openid-client scenarios against one issuer as one client."""

    node: str
    issuer: str
    client_id: str
    client_secret: str | None = None
    client_auth: str | None = None

    @staticmethod
    def missing() -> str | None:
        """Why openid-client cannot run here, or None when it can."""
        node = _node()
        if not node:
            configured = os.environ.get("KUNCI_NODE")
            where = f"KUNCI_NODE={configured} is not an executable file" if configured else "no `node` on PATH"
            return f"node is not installed ({where}): install Node.js 20, then {INSTALL_HINT}"
        if not (PACKAGE_DIR / "node_modules" / "openid-client" / "package.json").is_file():
            return f"openid-client is not installed in tests/e2e/node/node_modules: {INSTALL_HINT}"
        return None

    @classmethod
    def describe(cls) -> str:
        """One line for pytest's header: what the openid-client tests will use, or why they skip."""
        problem = cls.missing()
        if problem:
            return f"openid-client tests: skipped, {problem}"
        version = json.loads((PACKAGE_DIR / "node_modules" / "openid-client" / "package.json").read_text())["version"]
        return f"openid-client tests: openid-client {version} on {_node()}"

    @classmethod
    def for_client(cls, issuer: str, client_id: str, client_secret: str | None = None, client_auth: str | None = None) -> "NodeClient":
        node = _node()
        assert node, cls.missing()
        return cls(node, issuer, client_id, client_secret, client_auth)

    def run(self, scenario: str, **params: Any) -> dict[str, Any]:
        """Perform `scenario` (see oidc_client.mjs) and return its result; raise OpenIDClientError on a refusal."""
        request = {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "client_auth": self.client_auth,
            "scenario": scenario,
            "params": params,
        }
        completed = subprocess.run(
            [self.node, str(SCRIPT)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            cwd=PACKAGE_DIR,
            timeout=60,
        )
        try:
            answer = json.loads(completed.stdout)
        except json.JSONDecodeError:
            raise RuntimeError(
                f"oidc_client.mjs exited {completed.returncode} without a JSON answer:\n"
                f"stdout: {completed.stdout}\nstderr: {completed.stderr}"
            ) from None
        if answer["ok"]:
            return answer["result"]
        if completed.returncode == 2:
            raise ValueError(f"oidc_client.mjs refused the request: {answer['error']['message']}")
        raise OpenIDClientError(scenario, answer["error"])


def _node() -> str | None:
    configured = os.environ.get("KUNCI_NODE")
    if configured:
        return configured if os.path.isfile(configured) and os.access(configured, os.X_OK) else None
    return shutil.which("node")
