"""Section 8: password hashing, its cost per hash and what parallel logins do to the issuer's other endpoints.

`hashing_cost_section()` runs this file as a worker process per Argon2 variant (`--worker cost`), so that
each peak RSS is that variant's alone. `hashing_concurrency_section()` starts a real issuer per variant
(gunicorn as every benchmark serves, `bench/servers.py`), and measures a normal client's JWKS latency
alone, then while 100 logins for 100 different users arrive at once, and the workers' peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from bench.report import Table, median  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench correct horse battery staple"

# Argon2id variants: (label, memory KiB, time cost, lanes). The first is Kunci's (idp/hashers.py); the
# others are Django's default and OWASP's first listed equivalent (Password Storage Cheat Sheet).
COST_VARIANTS = {
    "kunci": "Kunci `Argon2idPasswordHasher`: m=19,456 KiB, t=2, p=1 (OWASP)",
    "owasp-47": "OWASP alternative: m=47,104 KiB, t=1, p=1",
    "django": "Django's default `Argon2PasswordHasher`: m=102,400 KiB, t=2, p=8",
}


# --- the bench process side --------------------------------------------------------------------


def _cost_worker(variant: str, hashes: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="kunci-bench-") as var:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KUNCI_", "DJANGO_")) and k != "DATABASE_URL"}
        env["KUNCI_VAR_DIR"] = var
        result = subprocess.run([sys.executable, str(Path(__file__)), "--worker", "cost", "--variant", variant,
                                 "--hashes", str(hashes)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    line = next((l for l in result.stdout.splitlines() if l.startswith("BENCH_JSON ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"hashing worker ({variant}) failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return json.loads(line.removeprefix("BENCH_JSON "))


def hashing_cost_section(smoke: bool) -> list[Table]:
    hashes = 3 if smoke else 20
    results = {name: _cost_worker(name, hashes) for name in COST_VARIANTS}
    table = Table("Password hashing: one Argon2id hash, one thread",
                  ["hasher", "ms/hash (median)", "range", "peak RSS growth", "÷ Kunci's ms"])
    base = median(results["kunci"]["ms"])
    for name, label in COST_VARIANTS.items():
        ms = results[name]["ms"]
        table.add(label, f"{median(ms):.1f}", f"{min(ms):.1f}-{max(ms):.1f}",
                  f"{results[name]['peak_growth_kb'] / 1024:.1f} MiB", f"{median(ms) / base:.2f}")
    table.notes.append(
        f"{hashes} hashes per variant, each variant in its own process (`bench/hashing.py --worker cost`); peak RSS "
        "growth is the process's maximum RSS after hashing less its RSS before, so it is one hash's working memory. "
        "Wall time: Django's p=8 spreads its lanes over both cores."
    )
    return [table]


def _worker_pids(master: int) -> list[int]:
    try:
        with open(f"/proc/{master}/task/{master}/children") as handle:
            return [int(pid) for pid in handle.read().split()]
    except OSError:
        return []


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _probe_jwks(url: str, stop: threading.Event, latencies: list[float], failures: list[str]) -> None:
    """Fetch the JWKS over a fresh connection each time, as a relying party that restarts does."""
    while not stop.is_set():
        started = time.perf_counter()
        try:
            answer = requests.get(url + "/.well-known/jwks.json", timeout=30)
            if answer.status_code != 200:
                failures.append(str(answer.status_code))
        except requests.RequestException as e:
            failures.append(type(e).__name__)
        latencies.append((time.perf_counter() - started) * 1000)


WARM_USERS = 4


def _measure(url: str, pids: list[int], users: int, baseline_seconds: float) -> dict:
    # Warm both workers' login path (imports, the signing key, connections) before the idle RSS.
    for n in range(WARM_USERS):
        requests.post(url + "/api/login", json={"username": f"warm{n}", "password": PASSWORD}, timeout=60)
    baseline: list[float] = []
    failures: list[str] = []
    stop = threading.Event()
    probe = threading.Thread(target=_probe_jwks, args=(url, stop, baseline, failures))
    probe.start()
    stop.wait(baseline_seconds)
    stop.set()
    probe.join()
    rss_before = max(_status_kb(pid, "VmRSS") for pid in pids)

    loaded: list[float] = []
    statuses: list[int] = []
    barrier = threading.Barrier(users + 1)

    def log_in(n: int) -> None:
        barrier.wait()
        try:
            answer = requests.post(url + "/api/login", json={"username": f"user{n}", "password": PASSWORD}, timeout=120)
            statuses.append(answer.status_code)
        except requests.RequestException:
            statuses.append(0)

    logins = [threading.Thread(target=log_in, args=(n,)) for n in range(users)]
    for thread in logins:
        thread.start()
    stop = threading.Event()
    probe = threading.Thread(target=_probe_jwks, args=(url, stop, loaded, failures))
    probe.start()
    started = time.perf_counter()
    barrier.wait()
    for thread in logins:
        thread.join()
    wall = time.perf_counter() - started
    stop.set()
    probe.join()
    return {
        "baseline": baseline, "loaded": loaded, "statuses": statuses, "wall": wall, "failures": failures,
        "rss_before_kb": rss_before, "peak_kb": max(_status_kb(pid, "VmHWM") for pid in pids),
    }


# (label, settings module, extra environment)
CONCURRENCY_VARIANTS = {
    "kunci": ("Kunci: Argon2id m=19 MiB t=2 p=1, 2 hashing slots per process, no wait for a slot", "settings.idp", {}),
    "long-wait": ("the same, `KUNCI_PASSWORD_HASHING_WAIT=0.5`: a long queue for a slot", "settings.idp",
                  {"KUNCI_PASSWORD_HASHING_WAIT": "0.5"}),
    "unbounded": ("Kunci's parameters, no bound (100 slots)", "settings.idp", {"KUNCI_PASSWORD_HASHING_SLOTS": "100"}),
    "before": ("before: Django's default Argon2 (m=100 MiB, p=8), no bound", "bench.hashing_settings", {}),
}


def _create_users(deployment, settings: str, users: int) -> None:
    # One hash shared by every row: the salt is in it, so each user's check costs a full hash.
    code = (
        "from django.contrib.auth import get_user_model; from django.contrib.auth.hashers import make_password;"
        f"h = make_password({PASSWORD!r}); U = get_user_model();"
        f"U.objects.bulk_create([U(username=name, password=h) for name in [*(f'user{{n}}' for n in range({users})), "
        f"*(f'warm{{n}}' for n in range({WARM_USERS}))]])"
    )
    deployment.manage("shell", "-c", code, settings=settings)


def _run_variant(name: str, users: int, baseline_seconds: float) -> dict:
    from bench.issuer import _pg_admin, _pg_base_url, pg_available
    from bench.servers import start_gunicorn
    from tests.e2e.servers import Deployment

    label, settings, extra = CONCURRENCY_VARIANTS[name]
    database = f"kunci_bench_{uuid.uuid4().hex[:12]}" if pg_available() else None
    with tempfile.TemporaryDirectory(prefix="kunci-bench-") as tmp:
        var = Path(tmp)
        overrides = dict(extra)
        if database:
            _pg_admin(f'CREATE DATABASE "{database}"')
            overrides["DATABASE_URL"] = _pg_base_url().rsplit("/", 1)[0] + "/" + database
        deployment = Deployment.create(var, **overrides)
        server = None
        try:
            deployment.manage("migrate", "--noinput", "-v", "0", settings=settings)
            deployment.manage("ensure_keys", settings=settings)
            _create_users(deployment, settings, users)
            server = start_gunicorn("issuer", settings, deployment.env, var, health="/.well-known/jwks.json")
            pids = _worker_pids(server.process.pid) or [server.process.pid]
            result = _measure(server.url, pids, users, baseline_seconds)
        finally:
            if server is not None:
                server.stop()
            if database:
                _pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    result["database"] = "PostgreSQL" if database else "SQLite"
    return result


def hashing_concurrency_section(smoke: bool) -> list[Table]:
    users, baseline_seconds = (10, 1.0) if smoke else (100, 5.0)
    results = {name: _run_variant(name, users, baseline_seconds) for name in CONCURRENCY_VARIANTS}
    table = Table(
        f"Password hashing under load: JWKS from a normal client while {users} logins for {users} users arrive at once",
        ["issuer", "JWKS p99 ms, alone", "JWKS p99 ms, during logins", "÷ alone", "JWKS max ms", "logins",
         "logins' wall s", "worker peak RSS"],
    )
    for name, (label, _, _) in CONCURRENCY_VARIANTS.items():
        r = results[name]
        alone, during = _percentile(r["baseline"], 0.99), _percentile(r["loaded"], 0.99)
        counts = ", ".join(f"{r['statuses'].count(s)} × {s or 'error'}" for s in sorted(set(r["statuses"])))
        table.add(label, f"{alone:.1f}", f"{during:.1f}", f"{during / alone:.1f}", f"{max(r['loaded']):.0f}", counts,
                  f"{r['wall']:.1f}", f"{r['peak_kb'] / 1024:.0f} MiB (idle {r['rss_before_kb'] / 1024:.0f} MiB)")
    kunci = results["kunci"]
    failures = sum(len(r["failures"]) for r in results.values())
    table.notes.append(
        f"Each variant is its own issuer on a fresh {kunci['database']} database, gunicorn `--workers 2 --threads 4` "
        f"(`bench/servers.py`). A normal client fetches the JWKS on a fresh connection, back to back, for "
        f"{baseline_seconds:g} s alone, then for as long as the logins take; {users} threads post one correct login "
        "each, released together. A 503 is `server_busy` with Retry-After (the bound, no retry here). Peak RSS is the "
        f"largest worker's VmHWM. JWKS probe failures: {failures}."
    )
    return [table]


# --- the worker side ---------------------------------------------------------------------------


def worker_cost(variant: str, hashes: int) -> dict:
    import django
    from django.conf import settings

    settings.configure(KUNCI_IDP={})
    django.setup()
    from django.contrib.auth.hashers import Argon2PasswordHasher

    from idp.hashers import Argon2idPasswordHasher

    hasher = {
        "kunci": Argon2idPasswordHasher,
        "owasp-47": type("OWASP47", (Argon2PasswordHasher,), {"memory_cost": 47104, "time_cost": 1, "parallelism": 1}),
        "django": Argon2PasswordHasher,
    }[variant]()
    salt = hasher.salt()
    hasher._load_library()  # imported before the baseline, so that only the hashing itself grows the peak
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ms = []
    for _ in range(hashes):
        started = time.perf_counter()
        hasher.encode(PASSWORD, salt)
        ms.append((time.perf_counter() - started) * 1000)
    return {"ms": ms, "peak_growth_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", choices=["cost"], required=True)
    parser.add_argument("--variant", choices=list(COST_VARIANTS), required=True)
    parser.add_argument("--hashes", type=int, default=20)
    args = parser.parse_args()
    print("BENCH_JSON " + json.dumps(worker_cost(args.variant, args.hashes)))


if __name__ == "__main__":
    main()
