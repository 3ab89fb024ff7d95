"""Start gunicorn servers for the HTTP benchmarks, every variant with the same server settings, and load them."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from tests.e2e.servers import Deployment, Server, start_server

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
CONNECTIONS = 16


def base_env(var_dir: Path) -> dict[str, str]:
    """Return a clean environment: no inherited KUNCI_/DJANGO_ settings, fresh secrets, plain HTTP."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUNCI_", "DJANGO_", "BENCH_")) and k != "DATABASE_URL"}
    env.update({
        "KUNCI_VAR_DIR": str(var_dir),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "KUNCI_HTTPS": "0",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def start_gunicorn(name: str, settings: str, env: dict[str, str], var_dir: Path, health: str = "/api/health") -> Server:
    """Start `settings.wsgi` under `settings` on a free loopback port, as every variant is served."""
    # The e2e tests' server runner, with the benchmark's settings: two workers (the machine's
    # cores), four threads each, no access log.
    return start_server(Deployment(var_dir=var_dir, env=env), name, settings, health, workers=2, threads=4, access_log=False)


def load_tool() -> str:
    return "wrk" if shutil.which("wrk") else "python"


def run_load(url: str, path: str, tokens_file: Path, seconds: float, connections: int = CONNECTIONS) -> dict:
    """Load `url + path` from a separate process for `seconds`; return requests, req/s, p50/p99, failures."""
    if load_tool() == "wrk":
        command = ["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
                   "-s", str(ROOT / "bench" / "load.lua"), url, "--", path, str(tokens_file)]
    else:
        command = [PYTHON, str(ROOT / "bench" / "loadgen.py"), url, path, str(tokens_file), str(seconds), str(connections)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    line = next((l for l in result.stdout.splitlines() if l.startswith("BENCH_JSON ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"load generator failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    data["failed"] = data["non200"] + data["socket_errors"]
    data["per_second"] = sorted((int(s), int(c)) for s, c in data["per_second"])
    return data
