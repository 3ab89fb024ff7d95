"""Section 7: slow clients. A normal client's latency while hundreds of connections trickle requests.

The issuer and a demo app are served as `make serve` serves them (gunicorn, 2 worker processes
running waitress with 4 threads each). One normal client measures JWKS, `/api/me` and `/api/whoami`
and logs in, first alone (the baseline) and then while slow-header and slow-body connections are
held open against the same server, in the same run. The figure is the ratio of the two p99s.
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import requests

from bench.report import Table, verdict
from tests.e2e.servers import Deployment, start_issuer, start_relying_party
from tests.e2e.slowclients import SlowClients

PASSWORD = "bench correct horse battery staple"
LIMIT = 3.0  # p99 under slow clients at most 3 x the baseline's


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _measure(call: Callable[[], requests.Response], seconds: float) -> tuple[list[float], int]:
    """Call `call` back to back for `seconds`; return the latencies (s) and how many were not 200."""
    latencies, failures = [], 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            ok = call().status_code == 200
        except requests.RequestException:
            ok = False
        latencies.append(time.perf_counter() - started)
        failures += not ok
    return latencies, failures


def slow_clients_section(smoke: bool) -> list[Table]:
    held = 10 if smoke else 200
    seconds = 2 if smoke else 30
    logins = 3 if smoke else 20
    table = Table(
        f"A normal client while {held} slow-header and {held} slow-body connections are held open",
        ["server", "endpoint", "baseline p99 (ms)", "under slow clients p99 (ms)", "ratio", "failed", "target"],
        notes=[
            f"Each endpoint is called back to back by one keep-alive client for {seconds / 3:.0f} s per phase; "
            f"the slow clients send one header line, or one body byte, every second for the whole loaded "
            f"phase ({seconds:.0f} s). `logins` counts {logins} password logins per phase. Servers: gunicorn "
            "`--workers 2 --threads 4` with Kunci's waitress worker, as `make serve`.",
        ],
    )
    with tempfile.TemporaryDirectory(prefix="kunci-bench-slow-") as var:
        deployment = Deployment.create(Path(var))
        issuer = start_issuer(deployment, workers=2, threads=4)
        app = None
        try:
            deployment.manage(
                "createsuperuser", "--noinput", "--username", "bench", "--email", "bench@example.test",
                DJANGO_SUPERUSER_PASSWORD=PASSWORD,
            )
            app = start_relying_party(deployment, "bench-app", issuer.url, workers=2, threads=4)
            client = requests.Session()
            credentials = {"username": "bench", "password": PASSWORD}
            access = client.post(f"{issuer.url}/api/login", json=credentials, timeout=10).json()["access"]
            bearer = {"Authorization": f"Bearer {access}"}
            probes = [
                (issuer, [
                    ("JWKS", lambda: client.get(f"{issuer.url}/.well-known/jwks.json", timeout=10)),
                    ("/api/me", lambda: client.get(f"{issuer.url}/api/me", headers=bearer, timeout=10)),
                ]),
                (app, [("/api/whoami", lambda: client.get(f"{app.url}/api/whoami", headers=bearer, timeout=10))]),
            ]
            for server, endpoints in probes:
                for _, call in endpoints:  # warm up: first requests pay for imports and the JWKS fetch
                    _measure(call, 0.5)
                def phase() -> dict[str, tuple[list[float], int]]:
                    results = {name: _measure(call, seconds / 3) for name, call in endpoints}
                    if server is issuer:
                        answers = [
                            client.post(f"{issuer.url}/api/login", json=credentials, timeout=30).status_code
                            for _ in range(logins)
                        ]
                        results["logins"] = ([], sum(status != 200 for status in answers))
                    return results

                baseline = phase()
                parts = urlsplit(server.url)
                with SlowClients(parts.hostname, parts.port, headers=held, bodies=held, path="/api/login"):
                    loaded = phase()
                for name, (latencies, failed) in loaded.items():
                    if name == "logins":
                        table.add(server.name, f"{logins} logins", "", "", "", f"{failed} (baseline {baseline[name][1]})",
                                  "met (all succeed)" if failed == 0 else "**missed** (all succeed)")
                        continue
                    base = _p99(baseline[name][0])
                    under = _p99(latencies)
                    ratio = under / base
                    table.add(
                        server.name, name, f"{base * 1000:.1f}", f"{under * 1000:.1f}", f"{ratio:.2f}",
                        f"{failed} of {len(latencies)}", verdict(ratio, LIMIT),
                    )
        finally:
            if app is not None:
                app.stop()
            issuer.stop()
            deployment.destroy()
    return [table]
