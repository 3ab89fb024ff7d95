"""The outbox: written with its cause, delivered at least once, retried with backoff, given up visibly."""
from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.test import Client as BrowserClient

from idp import outbox
from idp.outbox.models import OutboxMessage, OutboxState
from idp.outbox.worker import Worker, backoff
from tests.conftest import run_concurrently
from tests.idp.outbox.conftest import T0, Clock

pytestmark = pytest.mark.django_db


def test_a_row_commits_with_its_cause_and_a_rollback_sends_nothing(test_handler: list) -> None:
    with transaction.atomic():
        outbox.enqueue("test", {"n": 1})
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.enqueue("test", {"n": 2})
        raise RuntimeError("the change that caused it failed")

    assert list(OutboxMessage.objects.values_list("payload", flat=True)) == [{"n": 1}]
    assert Worker().drain() == 1
    assert test_handler == [{"n": 1}]


def test_a_kind_without_a_handler_is_refused_at_enqueue() -> None:
    with pytest.raises(ValueError, match="no outbox handler for 'nope'"):
        outbox.enqueue("nope", {})
    assert not OutboxMessage.objects.exists()


def test_a_delivered_row_is_marked_and_not_delivered_again(clock: Clock, test_handler: list) -> None:
    message = outbox.enqueue("test", {"n": 1}, now=T0)
    worker = Worker(clock=clock)

    assert worker.drain() == 1
    assert worker.drain() == 0
    message.refresh_from_db()
    assert (message.state, message.attempts, message.delivered_at, message.last_error) == (
        OutboxState.DELIVERED, 1, T0, "",
    )
    assert test_handler == [{"n": 1}]


def test_a_failure_is_retried_after_a_jittered_backoff(clock: Clock, test_handler: list) -> None:
    message = outbox.enqueue("test", {"outcome": "fail"}, now=T0)
    worker = Worker(clock=clock, rng=lambda: 0.0)

    assert worker.drain() == 1
    message.refresh_from_db()
    assert message.state == OutboxState.PENDING
    assert message.attempts == 1
    assert message.last_error == "ConnectionError: connection refused"
    # base 0.5 s × 2^0, scaled by the jitter's lowest factor, 0.5.
    assert message.available_at == T0 + timedelta(seconds=0.25)

    clock.advance(0.2)
    assert worker.drain() == 0, "not due yet"
    clock.advance(0.1)
    message.payload = {"outcome": "ok"}
    message.save(update_fields=["payload"])
    assert worker.drain() == 1
    message.refresh_from_db()
    assert (message.state, message.attempts) == (OutboxState.DELIVERED, 2)
    assert test_handler == [{"outcome": "ok"}]


@pytest.mark.parametrize(
    ("attempts", "rng", "expected"),
    [(1, 0.0, 0.25), (1, 1.0, 0.5), (2, 0.0, 0.5), (5, 0.0, 4.0), (6, 0.999999, 10.0), (10_000, 0.0, 5.0)],
)
def test_backoff_doubles_up_to_the_cap_with_jitter(attempts: int, rng: float, expected: float) -> None:
    assert backoff(attempts, rng=lambda: rng) == pytest.approx(expected, rel=1e-5)


def test_refusals_make_a_dead_row_after_the_limit(clock: Clock, settings: Any) -> None:
    message = outbox.enqueue("test", {"outcome": "refuse"}, now=T0)
    worker = Worker(clock=clock)
    for attempt in range(1, 4):
        assert worker.drain() == 1
        message.refresh_from_db()
        assert (message.attempts, message.refusals) == (attempt, attempt)
        clock.advance(20)

    assert message.state == OutboxState.DEAD
    assert message.last_error == "Refused: HTTP 400 from the target"
    assert worker.drain() == 0


def test_a_failing_row_is_dead_after_its_maximum_age_but_gets_one_attempt_first(clock: Clock) -> None:
    failing = outbox.enqueue("test", {"outcome": "fail"}, now=T0)
    never_tried = outbox.enqueue("test", {"outcome": "fail"}, now=T0)
    worker = Worker(clock=clock)
    assert worker.claim(1) == [failing]
    worker.deliver(failing)

    clock.advance(86400)
    assert worker.drain() == 1, "the row never tried gets its attempt"
    failing.refresh_from_db()
    never_tried.refresh_from_db()
    assert failing.state == OutboxState.DEAD
    assert (never_tried.state, never_tried.attempts) == (OutboxState.DEAD, 1)


def test_a_row_whose_worker_died_is_taken_over_after_the_lease(clock: Clock, test_handler: list) -> None:
    message = outbox.enqueue("test", {"n": 1}, now=T0)
    dead = Worker(name="dead", clock=clock)
    [claimed] = dead.claim(10)

    assert Worker(name="other", clock=clock).drain() == 0, "leased to the first worker"
    clock.advance(30)
    survivor = Worker(name="survivor", clock=clock)
    assert survivor.drain() == 1
    message.refresh_from_db()
    assert message.state == OutboxState.DELIVERED
    assert message.claim.startswith("survivor/")
    assert message.attempts == 2

    # The first worker wakes up and reports a failure: the row is no longer its own.
    claimed.payload = {"outcome": "fail"}
    dead.deliver(claimed)
    message.refresh_from_db()
    assert (message.state, message.last_error) == (OutboxState.DELIVERED, "")


def test_the_outbox_command_lists_by_state_and_retries_dead_rows(clock: Clock, capsys: Any) -> None:
    dead = outbox.enqueue("test", {"outcome": "refuse"}, now=T0)
    OutboxMessage.objects.filter(pk=dead.pk).update(state=OutboxState.DEAD, attempts=3, last_error="Refused: 400")
    failing = outbox.enqueue("test", {}, now=T0)
    OutboxMessage.objects.filter(pk=failing.pk).update(attempts=2)
    outbox.enqueue("test", {}, now=T0)

    call_command("outbox", "--json")
    listing = json.loads(capsys.readouterr().out)
    assert listing["counts"] == {"pending": 1, "failing": 1, "dead": 1, "delivered": 0}
    assert [row["id"] for row in listing["dead"]] == [dead.pk]
    assert listing["dead"][0]["last_error"] == "Refused: 400"

    call_command("outbox", "retry", str(dead.pk), str(failing.pk))
    assert capsys.readouterr().out.strip() == "1 dead row(s) pending again"
    dead.refresh_from_db()
    assert (dead.state, dead.attempts, dead.refusals) == (OutboxState.PENDING, 0, 0)


def test_the_outbox_command_needs_rows_to_retry() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--dead"):
        call_command("outbox", "retry")


def test_run_outbox_once_drains_and_reports(capsys: Any, test_handler: list) -> None:
    for n in range(3):
        outbox.enqueue("test", {"n": n})
    call_command("run_outbox", "--once")
    assert capsys.readouterr().out.strip() == "3 outbox message(s) handled"
    assert sorted(p["n"] for p in test_handler) == [0, 1, 2]


def test_the_admin_shows_rows_read_only_and_retries_dead_ones_for_staff_who_may_change() -> None:
    User = get_user_model()
    admin = User.objects.create_superuser("root", "root@example.com", "pw-for-the-admin-test")
    viewer = User.objects.create_user("viewer", "viewer@example.com", "pw-for-the-admin-test", is_staff=True)
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_outboxmessage"))
    dead = outbox.enqueue("test", {"to": "someone"})
    OutboxMessage.objects.filter(pk=dead.pk).update(state=OutboxState.DEAD)

    browser = BrowserClient()
    browser.force_login(viewer)
    page = browser.get("/admin/idp/outboxmessage/")
    assert page.status_code == 200
    assert b"Retry selected dead rows" not in page.content
    assert browser.get("/admin/idp/outboxmessage/add/").status_code == 403

    browser.force_login(admin)
    answer = browser.post(
        "/admin/idp/outboxmessage/", {"action": "retry", "_selected_action": [dead.pk]}, follow=True,
    )
    assert answer.status_code == 200
    assert b"1 dead row(s) will be delivered again." in answer.content
    dead.refresh_from_db()
    assert dead.state == OutboxState.PENDING


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_claim_disjoint_rows() -> None:
    ids = {outbox.enqueue("test", {"n": n}).pk for n in range(40)}

    def claim_all(name: str) -> list[int]:
        worker, claimed = Worker(name=name), []
        while rows := worker.claim(3):
            claimed.extend(row.pk for row in rows)
        return claimed

    first, second = run_concurrently([lambda: claim_all("a"), lambda: claim_all("b")])
    assert not set(first) & set(second)
    assert set(first) | set(second) == ids


@pytest.mark.django_db(transaction=True)
def test_a_running_worker_delivers_new_work_soon_after_the_commit(test_handler: list) -> None:
    worker = Worker(concurrency=2)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        for n in range(5):
            with transaction.atomic():
                outbox.enqueue("test", {"n": n})
        deadline = time.monotonic() + 10
        while len(test_handler) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        worker.stop()
        thread.join(timeout=10)
    assert not thread.is_alive(), "stop() ends the loop"
    assert sorted(p["n"] for p in test_handler) == [0, 1, 2, 3, 4]
    assert set(OutboxMessage.objects.values_list("state", flat=True)) == {OutboxState.DELIVERED}
