"""The outbox: Kunci's one mechanism for background work (back-channel logout, email).

Work is a row written by `enqueue` **in the transaction of the change that causes it**: a crash
after the commit loses nothing (the row is there for a worker), and a rollback sends nothing (the
row is gone with the change). `manage.py run_outbox` (idp/outbox/worker.py) delivers the rows
outside any transaction, retries failures with capped exponential backoff and jitter, takes over
the rows of a worker that died when their lease runs out, and keeps what it gave up on as a dead
row that `manage.py outbox` and the admin show and can retry.

Why not Celery, RQ or django-tasks: each of them either enqueues after the commit (a crash between
the commit and the enqueue loses the job; enqueueing before the commit sends work for a change
that may roll back) or leaves a job whose worker was killed stuck as running, and none keeps a
given-up job where an operator sees it. A relay to such a queue for very large deployments is one
more handler: its `deliver` enqueues the payload there.

A handler is a function `deliver(payload: dict) -> None`, named by dotted path in
`KUNCI_IDP["OUTBOX_HANDLERS"][kind]`. It returns when the work is done, raises `Refused` when the
target refused it (retried `OUTBOX_MAX_REFUSALS` times, then dead), and raises anything else for
a failure worth retrying until the row is `OUTBOX_MAX_AGE` old.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from idp.conf import idp_settings
from idp.outbox.models import OutboxMessage, OutboxState

# PostgreSQL's channel; a NOTIFY sent in a transaction is delivered when it commits, and not at all
# if it rolls back, exactly like the row.
CHANNEL = "kunci_outbox"


class Refused(Exception):
    """The target answered and refused the delivery; retrying may not help (e.g. an HTTP 4xx)."""


def enqueue(kind: str, payload: dict[str, Any], *, now: datetime | None = None) -> OutboxMessage:
    """Write one delivery of `kind` with `payload`, in the caller's transaction, and wake the workers.

    `payload` must be JSON and hold no secret: it is stored, and shown to staff in the admin.
    Build what is secret (a token, a signed link) when delivering.
    """
    if kind not in idp_settings.OUTBOX_HANDLERS:
        raise ValueError(f"no outbox handler for {kind!r}: add it to KUNCI_IDP['OUTBOX_HANDLERS']")
    now = now or timezone.now()
    with transaction.atomic():
        message = OutboxMessage.objects.create(
            kind=kind, payload=payload, created_at=now, available_at=now,
            give_up_at=now + timedelta(seconds=idp_settings.OUTBOX_MAX_AGE),
        )
        _wake_workers()
    return message


def retry_dead(ids: list[int] | None = None, *, now: datetime | None = None) -> int:
    """Make dead rows (those in `ids`, or all) pending again, due now, with a fresh age; return how many."""
    now = now or timezone.now()
    rows = OutboxMessage.objects.filter(state=OutboxState.DEAD)
    if ids is not None:
        rows = rows.filter(id__in=ids)
    with transaction.atomic():
        count = rows.update(
            state=OutboxState.PENDING, available_at=now, attempts=0, refusals=0, claim="",
            give_up_at=now + timedelta(seconds=idp_settings.OUTBOX_MAX_AGE),
        )
        if count:
            _wake_workers()
    return count


def _wake_workers() -> None:
    """On PostgreSQL, notify the listening workers when the caller's transaction commits.

    SQLite has no notifications: its workers poll every OUTBOX_POLL_INTERVAL.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])
