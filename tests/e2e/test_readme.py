"""The README's walkthrough, run exactly as written against real servers."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.e2e.servers import ROOT, start_relying_party


def walkthrough() -> str:
    """Return the shell block between the README's walkthrough markers."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- walkthrough:start -->\s*```sh\n(.*?)```\s*<!-- walkthrough:end -->", text, re.S)
    assert block, "README.md has no walkthrough block"
    return block.group(1)


def test_the_readme_walkthrough_works_as_written(issuer, deployment):
    deployment.manage("demo_user", KUNCI_DEMO="1")
    apps = [start_relying_party(deployment, name, issuer.url) for name in ("app1", "app2")]
    script = walkthrough().replace("var/", f"{deployment.var_dir}/")
    script = script.replace("http://127.0.0.1:8000", issuer.url)
    script = script.replace("http://127.0.0.1:8082", apps[0].url).replace("http://127.0.0.1:8083", apps[1].url)

    try:
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60)
    finally:
        for app in apps:
            app.stop()

    assert result.returncode == 0, result.stderr
    me, app1, app2, status, challenge, logout, refused = result.stdout.strip().split("\n", 6)
    assert '"username":"demo"' in me
    assert '"app":"app1"' in app1 and '"app":"app2"' in app2
    assert json.loads(app1)["sub"] == json.loads(app2)["sub"] == json.loads(me)["sub"]
    assert status.startswith("HTTP/1.1 401")
    assert 'error="invalid_token"' in challenge
    assert '"code":"logged_out"' in logout
    assert refused.startswith("HTTP/1.1 401")
    assert '"code":"token_blacklisted"' in refused
    assert Path(deployment.var_dir / "demo-credentials").stat().st_mode & 0o077 == 0
