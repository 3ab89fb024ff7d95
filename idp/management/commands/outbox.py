"""`manage.py outbox`: what the outbox holds (pending, failing, dead), and retrying dead rows."""
from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Q

from idp import outbox
from idp.outbox.models import OutboxMessage, OutboxState


class Command(BaseCommand):
    help = "Show the outbox's pending, failing and dead rows; `outbox retry ID…` (or --dead) retries dead ones."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", nargs="?", choices=["list", "retry"], default="list")
        parser.add_argument("ids", nargs="*", type=int, help="rows to retry")
        parser.add_argument("--dead", action="store_true", help="with retry: every dead row")
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.add_argument("--limit", type=int, default=50, help="rows listed per state (default 50)")

    def handle(self, *args: Any, action: str, ids: list[int], dead: bool, limit: int, **options: Any) -> None:
        if action == "retry":
            if not ids and not dead:
                raise CommandError("name the dead rows to retry, or pass --dead for all of them")
            count = outbox.retry_dead(None if dead else ids)
            self.stdout.write(f"{count} dead row(s) pending again")
            return
        counts = OutboxMessage.objects.aggregate(
            pending=Count("id", filter=Q(state=OutboxState.PENDING, attempts=0)),
            failing=Count("id", filter=Q(state=OutboxState.PENDING, attempts__gt=0)),
            dead=Count("id", filter=Q(state=OutboxState.DEAD)),
            delivered=Count("id", filter=Q(state=OutboxState.DELIVERED)),
        )
        rows = {
            "failing": OutboxMessage.objects.filter(state=OutboxState.PENDING, attempts__gt=0),
            "dead": OutboxMessage.objects.filter(state=OutboxState.DEAD),
            "pending": OutboxMessage.objects.filter(state=OutboxState.PENDING, attempts=0),
        }
        listed = {name: [_row(m) for m in query.order_by("id")[:limit]] for name, query in rows.items()}
        if options["json"]:
            self.stdout.write(json.dumps({"counts": counts, **listed}, indent=2))
            return
        self.stdout.write(" ".join(f"{name}={count}" for name, count in counts.items()))
        for name, entries in listed.items():
            for entry in entries:
                self.stdout.write(
                    f"{name:8} #{entry['id']} {entry['kind']} attempts={entry['attempts']} "
                    f"created={entry['created_at']} next={entry['available_at']} {entry['last_error']}".rstrip()
                )


def _row(message: OutboxMessage) -> dict[str, Any]:
    return {
        "id": message.id, "kind": message.kind, "attempts": message.attempts, "refusals": message.refusals,
        "created_at": message.created_at.isoformat(), "available_at": message.available_at.isoformat(),
        "give_up_at": message.give_up_at.isoformat(), "last_error": message.last_error,
    }
