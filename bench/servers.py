"""Start gunicorn servers for the HTTP benchmarks, every variant with the same server settings, and load them."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# The same for every variant: two worker processes (the machine's cores), four threads each, no access log,
# and no control socket (gunicorn's default lives in $HOME, shared by every server).
GUNICORN_ARGS = ["--workers", "2", "--threads", "4", "--log-level", "warning", "--graceful-timeout", "2",
                 "--no-control-socket"]
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


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Gunicorn:
    name: str
    url: str
    process: subprocess.Popen
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_gunicorn(name: str, settings: str, env: dict[str, str], var_dir: Path, health: str = "/api/health") -> Gunicorn:
    """Start `settings.wsgi` under `settings` on a free loopback port; return once `health` answers."""
    port = free_port()
    log_path = var_dir / f"{name}-{port}.log"
    process = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "settings.wsgi:application", "--bind", f"127.0.0.1:{port}", *GUNICORN_ARGS],
        cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": settings},
        stdout=log_path.open("w"), stderr=subprocess.STDOUT,
    )
    server = Gunicorn(name, f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{server.log()}")
        try:
            if requests.get(server.url + health, timeout=1).status_code == 200:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{name} did not answer within 30 s:\n{server.log()}")


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
