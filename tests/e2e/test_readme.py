"""The README's walkthrough, run exactly as written against real servers."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.e2e.servers import ROOT


def walkthrough() -> str:
    """Return the shell block between the README's walkthrough markers."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- walkthrough:start -->\s*```sh\n(.*?)```\s*<!-- walkthrough:end -->", text, re.S)
    assert block, "README.md has no walkthrough block"
    return block.group(1)


def test_the_readme_walkthrough_works_as_written(issuer, deployment):
    deployment.manage("demo_user", KUNCI_DEMO="1")
    script = walkthrough().replace("var/", f"{deployment.var_dir}/")
    script = script.replace("http://127.0.0.1:8000", issuer.url)

    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    me, logout, refused = result.stdout.strip().split("\n", 2)
    assert '"username":"demo"' in me
    assert '"code":"logged_out"' in logout
    assert refused.startswith("HTTP/1.1 401")
    assert '"code":"token_blacklisted"' in refused
    assert Path(deployment.var_dir / "demo-credentials").stat().st_mode & 0o077 == 0
