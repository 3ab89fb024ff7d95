"""The README's walkthrough, run exactly as written against real servers."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.e2e.demo_stack import DemoStack
from tests.e2e.servers import ROOT, Deployment


def walkthrough(name: str = "walkthrough") -> str:
    """Return the shell block between the README's `name` markers."""
    text = (ROOT / "README.md").read_text()
    block = re.search(rf"<!-- {name}:start -->\s*```sh\n(.*?)```\s*<!-- {name}:end -->", text, re.S)
    assert block, f"README.md has no {name} block"
    return block.group(1)


def test_the_readme_walkthrough_works_as_written(tmp_path):
    # The stack of `make run`: demo_clients registers both apps, run_outbox tells them of logouts.
    deployment = Deployment.create(tmp_path)
    stack = DemoStack(deployment)
    script = walkthrough().replace("var/", f"{deployment.var_dir}/")
    script = script.replace("http://127.0.0.1:8000", stack.issuer.url)
    script = script.replace("http://127.0.0.1:8082", stack.apps["app1"].url).replace("http://127.0.0.1:8083", stack.apps["app2"].url)

    try:
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60)
    finally:
        stack.stop()
        deployment.destroy()

    assert result.returncode == 0, result.stderr
    me, app1, app2, status, challenge, logout, ended1, ended2, refused = result.stdout.strip().split("\n", 8)
    assert '"username":"demo"' in me
    assert '"app":"app1"' in app1 and '"app":"app2"' in app2
    assert json.loads(app1)["sub"] == json.loads(app2)["sub"] == json.loads(me)["sub"]
    assert status.startswith("HTTP/1.1 401")
    assert 'error="invalid_token"' in challenge
    assert '"code":"logged_out"' in logout
    # Back-channel logout reached both apps: the session's access token is refused.
    for ended in (ended1, ended2):
        body, status_code = ended.rsplit(" ", 1)
        assert (status_code, json.loads(body)["code"]) == ("401", "session_ended")
    assert refused.startswith("HTTP/1.1 401")
    assert '"code":"token_blacklisted"' in refused
    assert Path(deployment.var_dir / "demo-credentials").stat().st_mode & 0o077 == 0


def accounts_block() -> str:
    """Return the shell block between the README's accounts markers."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- accounts:start -->\s*```sh\n(.*?)```\s*<!-- accounts:end -->", text, re.S)
    assert block, "README.md has no accounts block"
    return block.group(1)


def test_the_readme_registration_walkthrough_works_as_written_in_demo_mode(tmp_path):
    import requests

    from tests.e2e.servers import Deployment, start_issuer, start_outbox_worker

    deployment = Deployment.create(tmp_path, KUNCI_DEMO="1")
    issuer = start_issuer(deployment)
    worker = start_outbox_worker(deployment)
    script = accounts_block().replace("var/", f"{deployment.var_dir}/").replace("http://127.0.0.1:8000", issuer.url)
    # As a person would: the mail is read once it has arrived (the worker writes it within moments).
    mail_dir = deployment.var_dir / "mail"
    script = script.replace("grep -m1", f"for _ in $(seq 200); do ls {mail_dir}/* >/dev/null 2>&1 && break; sleep 0.05; done\ngrep -m1")

    try:
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60)
        registered, inactive, link = result.stdout.strip().split("\n")
        page = requests.get(link, headers={"Accept": "text/html"}, timeout=30)
    finally:
        worker.stop()
        issuer.stop()
        deployment.destroy()

    assert result.returncode == 0, result.stderr
    assert json.loads(registered)["code"] == "registration_requested"
    assert json.loads(inactive)["code"] == "account_inactive"
    assert link.startswith(f"{issuer.url}/activate?uid=") and "&token=" in link
    assert page.status_code == 200 and "Activate my account" in page.text
