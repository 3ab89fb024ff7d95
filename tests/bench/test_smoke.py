"""The benchmark scripts keep working: `bench/run.py --smoke` runs its cheapest sections and prints tables.

Nothing here measures or asserts performance; the figures of a smoke run mean nothing.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_smoke(*sections: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KUNCI_"))}
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", *sections],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def test_smoke_run_of_the_in_process_sections_exits_0_and_prints_markdown_tables():
    result = run_smoke("verify", "jwks")

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("## Kunci benchmarks")
    assert re.search(r"^Machine: \d+ cores, .+, Python 3\.", result.stdout, re.MULTILINE)
    assert re.search(r"^\| variant \| median µs \|", result.stdout, re.MULTILINE)
    assert re.search(r"^\|---(\|---)+\|$", result.stdout, re.MULTILINE)
    assert "Traceback" not in result.stdout


def test_an_unknown_section_is_refused_with_a_usage_error():
    result = run_smoke("no-such-section")

    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_smoke_run_of_the_openid_provider_section_drives_the_real_endpoints_and_prints_its_ratios():
    result = run_smoke("oidc")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "## 9. OpenID Provider" in result.stdout
    assert re.search(r"^\| sqlite \| code exchange at /token: rate ÷ /api/login/refresh rate \| \d+\.\d+ \|",
                     result.stdout, re.MULTILINE)
    assert re.search(r"^\| sqlite \| /userinfo: cost ÷ /api/me cost \| \d+\.\d+ \|", result.stdout, re.MULTILINE)
    # The baselines that say what an SSO /authorize costs at the least: the request floor, its one statement.
    assert re.search(r"^\| sqlite \| baseline: GET /healthz .+ \| 0 \|$", result.stdout, re.MULTILINE)
    assert re.search(r"^\| sqlite \| baseline: the SSO /authorize's OP session and code alone .+ \| 1 \|$", result.stdout, re.MULTILINE)
    assert re.search(r"^\| sqlite \| GET /authorize, browser already signed in \(SSO\) .+ \| 1 \|$", result.stdout, re.MULTILINE)
    assert "Traceback" not in result.stdout


def test_smoke_run_of_the_back_channel_section_delivers_every_logout_through_real_workers():
    result = run_smoke("backchannel")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "## 10. Back-channel logout through the outbox" in result.stdout
    # database | workers | expected | received (distinct) | lost | ...: every delivery arrived.
    assert re.search(r"^\| sqlite \| 1 \| 40 \| 40 \| 0 \|", result.stdout, re.MULTILINE)
    assert "Traceback" not in result.stdout
