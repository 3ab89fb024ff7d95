"""Section 10: back-channel logout through the outbox: nothing lost, how fast it drains, per worker.

Each variant (SQLite with one `manage.py run_outbox`; PostgreSQL with one, then two) runs on a fresh
database: two receivers (tests/e2e/servers.py `LogoutReceiver`, loopback HTTP servers that record
every POST) are registered as clients that accept the shared audience, the workers are started and
ready, and then 1,000 sessions end in one transaction: 2,000 outbox rows commit at once. The clock
runs from that commit until no row is pending; the receivers' records are then checked for every
(client, sid) pair: lost = pairs never received, duplicates = repeats (delivery is at least once).

`backchannel_section()` runs in the bench process and starts this file as a worker (`--worker
backchannel`) with bench/issuer.py's `run_worker`; the worker starts the outbox processes itself.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.issuer import _setup, pg_available, run_worker  # noqa: E402
from bench.report import Table  # noqa: E402

RECEIVERS = 2


# --- the bench process side --------------------------------------------------------------------


def backchannel_section(smoke: bool) -> list[Table]:
    logouts = 20 if smoke else 1000
    variants = [("sqlite", 1)] + ([("postgres", 1), ("postgres", 2)] if pg_available() else [])
    table = Table(
        f"Back-channel logout: {logouts:,} logouts × {RECEIVERS} receivers through the outbox",
        ["database", "workers", "deliveries expected", "received (distinct)", "lost", "duplicates", "dead",
         "drain time (s)", "deliveries/s", "per worker (deliveries/s)", "ending + enqueue (ms/logout)"],
    )
    for db, workers in variants:
        data = run_worker(db, "backchannel", "--logouts", str(logouts), "--workers", str(workers), script=Path(__file__))
        rate = data["expected"] / data["drain_s"]
        table.add(db, workers, f"{data['expected']:,}", f"{data['distinct']:,}", data["lost"], data["duplicates"],
                  data["dead"], f"{data['drain_s']:.2f}", f"{rate:.0f}", f"{rate / workers:.0f}",
                  f"{data['end_ms']:.2f}")
    table.notes.append(
        f"{logouts:,} sessions of one user end in one transaction (`end_session`, which writes one outbox row per "
        f"client); the drain time runs from that commit until no row is pending. Each worker is a `manage.py "
        "run_outbox` process with the default OUTBOX_CONCURRENCY (8 delivery threads); each delivery reads the "
        "client, signs a fresh RS256 logout token, POSTs it over a new loopback connection through the SSRF guard "
        "(KUNCI_BACKCHANNEL_ALLOWED_NETWORKS=127.0.0.1/32) and records the outcome. The two receivers are Python "
        "`ThreadingHTTPServer`s in one process on the same 2 cores as the workers and the database."
    )
    if not pg_available():
        table.notes.append("PostgreSQL was not reachable: its rows are missing.")
    return [table]


# --- the worker side ---------------------------------------------------------------------------


def worker_backchannel(logouts: int, workers: int) -> dict:
    user = _setup()
    import jwt
    from django.db import transaction
    from django.utils import timezone

    from idp import sessions
    from idp.models import SessionEnd, SessionOrigin
    from idp.oauth.models import Client
    from idp.outbox.models import OutboxMessage, OutboxState
    from tests.e2e.servers import Deployment, LogoutReceiver, start_outbox_worker

    receivers = [LogoutReceiver() for _ in range(RECEIVERS)]
    for n, receiver in enumerate(receivers):
        client = Client(name=f"receiver{n}", redirect_uris=[f"{receiver.url}/cb"], accepts_shared_audience=True,
                        backchannel_logout_uri=f"{receiver.url}/backchannel-logout")
        client.set_new_secret()
        client.save()
    deployment = Deployment(var_dir=Path(os.environ["KUNCI_VAR_DIR"]), env=dict(os.environ))
    processes = [
        start_outbox_worker(deployment, f"bench-worker{n}", KUNCI_BACKCHANNEL_ALLOWED_NETWORKS="127.0.0.1/32")
        for n in range(workers)
    ]
    try:
        opened = [sessions.open_session(user, origin=SessionOrigin.API, now=timezone.now()) for _ in range(logouts)]
        started = time.perf_counter()
        with transaction.atomic():
            for session in opened:
                sessions.end_session(session, SessionEnd.LOGOUT)
        committed = time.perf_counter()
        deadline = committed + 900
        while OutboxMessage.objects.filter(state=OutboxState.PENDING).exists():
            if time.perf_counter() > deadline:
                raise RuntimeError("the outbox did not drain within 900 s")
            time.sleep(0.02)
        drained = time.perf_counter()
    finally:
        for process in processes:
            process.stop()
    expected = {(client_id, session.sid) for session in opened for client_id in Client.objects.values_list("client_id", flat=True)}
    received = []
    for receiver in receivers:
        for delivery in receiver.wait_until(lambda deliveries: True):
            claims = jwt.decode(delivery.form["logout_token"][0], options={"verify_signature": False})
            received.append((claims["aud"], claims["sid"]))
        receiver.stop()
    return {
        "expected": len(expected),
        "distinct": len(set(received) & expected),
        "lost": len(expected - set(received)),
        "duplicates": len(received) - len(set(received)),
        "dead": OutboxMessage.objects.filter(state=OutboxState.DEAD).count(),
        "drain_s": drained - committed,
        "end_ms": (committed - started) * 1000 / logouts,
        "logs": [process.log()[-2000:] for process in processes],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", choices=["backchannel"], required=True)
    parser.add_argument("--logouts", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    print("BENCH_JSON " + json.dumps(worker_backchannel(args.logouts, args.workers)))


if __name__ == "__main__":
    main()
