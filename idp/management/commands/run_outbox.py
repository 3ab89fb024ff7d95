"""`manage.py run_outbox`: deliver the outbox until stopped, or `--once` what is due now."""
from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand

from idp.outbox.worker import Worker


class Command(BaseCommand):
    help = "Deliver the outbox (back-channel logouts, email). Several workers may run on PostgreSQL."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="deliver what is due now, then exit")
        parser.add_argument("--name", help="this worker's name in the rows it claims (default: random)")
        parser.add_argument("--concurrency", type=int, help="deliveries at once (default: OUTBOX_CONCURRENCY)")

    def handle(self, *args: Any, once: bool, name: str | None, concurrency: int | None, **options: Any) -> None:
        worker = Worker(name=name, concurrency=concurrency)
        if once:
            delivered = worker.drain()
            self.stdout.write(f"{delivered} outbox message(s) handled")
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: worker.stop())
        self.stdout.write(f"outbox worker {worker.name}: delivering (Ctrl-C stops)")
        self.stdout.flush()
        worker.run()
