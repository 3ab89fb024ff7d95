"""Section 11: how soon the demo apps refuse a logged-out session's access token, on the stack of `make run`.

Each variant (SQLite; PostgreSQL when reachable) starts the demo stack on a fresh database
(tests/e2e/demo_stack.py `DemoStack`: the issuer, one `manage.py run_outbox`, app1 and app2 on
gunicorn with two workers each, registered by `demo_clients`). A trial signs in at /api/login, pins
a keep-alive connection to each of the four app workers (each has accepted the token once), calls
/api/logout, and from its answer asks every worker in turn until each answers 401 `session_ended`.

The outage row, once per variant: app2 is stopped, a session logs out, app2 stays down for
OUTAGE_SECONDS and is started again on its port; the clock runs from its launch, and from its first
answer, until both its workers refuse the token.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

from bench.issuer import _pg_base_url, pg_available
from bench.report import Table, median
from tests.e2e.demo_stack import DemoStack, WorkerProbe, wait_until_refused
from tests.e2e.servers import Deployment

TARGET = 1.0  # seconds from /api/logout's answer until every worker of both apps refuses the token
OUTAGE_SECONDS = 30.0
RETRY_CAP = 10.0  # KUNCI_OUTBOX_RETRY_CAP's default
DEADLINE = 30.0


def logout_section(smoke: bool) -> list[Table]:
    trials = 3 if smoke else 50
    outage = 2.0 if smoke else OUTAGE_SECONDS
    variants = ["sqlite"] + (["postgres"] if pg_available() else [])
    trials_table = Table(
        f"Logout to refusal at both demo apps (2 workers each): {trials} trials",
        ["database", "trials", "median (s)", "p90 (s)", "max (s)", f"within {TARGET:g} s"],
    )
    outage_table = Table(
        f"app2 down for {outage:g} s during a logout, then started again",
        ["database", "launch to refusal (s)", "first answer to refusal (s)", f"within the retry cap ({RETRY_CAP:g} s) + 1 s"],
    )
    for db in variants:
        with _deployment(db) as deployment:
            stack = DemoStack(deployment)
            try:
                seconds = sorted(_trial(stack) for _ in range(trials))
                trials_table.add(db, trials, f"{median(seconds):.3f}", f"{seconds[int(0.9 * (trials - 1))]:.3f}",
                                 f"{seconds[-1]:.3f}", f"{sum(s <= TARGET for s in seconds)} of {trials}")
                launched, answering = _outage(stack, outage)
                outage_table.add(db, f"{launched:.2f}", f"{answering:.2f}",
                                 "yes" if answering <= RETRY_CAP + 1 else "**no**")
            finally:
                stack.stop()
    trials_table.notes.append(
        "The clock starts when /api/logout has answered and stops when the last of the four workers (two of app1, two of "
        "app2) answers 401 `session_ended`; the four pinned connections are asked in turn, so each figure includes up "
        "to one round of four local requests. The path: the logout commits an outbox row per app; `run_outbox` picks it "
        "up (SQLite: its 50 ms poll; PostgreSQL: `NOTIFY`), signs a logout token and POSTs it; the app worker that takes "
        "it stores the ended `sid` and refuses at once; the other worker reads the store every REVOCATION_REFRESH (0.5 s)."
    )
    if not pg_available():
        trials_table.notes.append("PostgreSQL was not reachable: its row is missing.")
    outage_table.notes.append(
        "The delivery to app2 fails while it is down (connection refused) and is retried with backoff doubling from "
        f"0.5 s up to KUNCI_OUTBOX_RETRY_CAP ({RETRY_CAP:g} s, with jitter); \"first answer\" is when app2's health "
        "endpoint answered again."
    )
    return [trials_table, outage_table]


@contextlib.contextmanager
def _deployment(db: str) -> Iterator[Deployment]:
    """Yield a fresh Deployment on `db` ("sqlite" or "postgres") under a temporary directory; destroy it after."""
    database = {"DATABASE_URL": _pg_base_url()} if db == "postgres" else {}
    with tempfile.TemporaryDirectory(prefix="kunci-bench-logout-") as var, mock.patch.dict(os.environ, database):
        if not database:
            os.environ.pop("DATABASE_URL", None)
        deployment = Deployment.create(Path(var))
        try:
            yield deployment
        finally:
            deployment.destroy()


def _trial(stack: DemoStack) -> float:
    """Log a fresh session out; return the seconds until every worker of both apps refuses its token."""
    tokens = stack.login()
    probes = stack.probes(tokens["access"])
    try:
        stack.logout(tokens)
        return wait_until_refused(probes, tokens["access"], timeout=DEADLINE)
    finally:
        for probe in probes:
            probe.close()


def _outage(stack: DemoStack, seconds: float) -> tuple[float, float]:
    """Stop app2, log out, keep it down `seconds`, start it again; return the refusal time from its launch and from its first answer."""
    tokens = stack.login()
    stack.stop_app("app2")
    stack.logout(tokens)
    time.sleep(seconds)
    launched = time.monotonic()
    app2 = stack.start_app("app2")
    answering = time.monotonic()
    probe = WorkerProbe(app2, tokens["access"])
    try:
        wait_until_refused([probe], tokens["access"], timeout=DEADLINE)
    finally:
        probe.close()
    refused = time.monotonic()
    return refused - launched, refused - answering
