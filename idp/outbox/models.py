"""The outbox table: one row per piece of background work, written in the transaction that caused it."""
from __future__ import annotations

from django.db import models


class OutboxState(models.TextChoices):
    PENDING = "pending", "pending"
    DELIVERED = "delivered", "delivered"
    # Given up on (too old, or refused too often): kept, shown, and retried only by an operator.
    DEAD = "dead", "dead"


class OutboxMessage(models.Model):
    """One delivery to make: `kind` names its handler (OUTBOX_HANDLERS), `payload` its arguments.

    A pending row is due at `available_at`. Claiming a row moves `available_at` a lease ahead and
    stamps `claim`: if the worker dies, the row is simply due again when the lease runs out, and a
    late worker's report is ignored because its claim is no longer the row's.
    """

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=64)
    payload = models.JSONField()
    state = models.CharField(max_length=16, choices=OutboxState.choices, default=OutboxState.PENDING)
    created_at = models.DateTimeField()
    available_at = models.DateTimeField()
    # After this the row is dead instead of being retried again.
    give_up_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    # Attempts the target answered with a refusal (e.g. an HTTP 4xx), as opposed to being unreachable.
    refusals = models.PositiveIntegerField(default=0)
    claim = models.CharField(max_length=64, blank=True, default="")
    last_error = models.CharField(max_length=500, blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "idp_outbox"
        indexes = [
            # The workers' claim: due pending rows, oldest first.
            models.Index(
                fields=["available_at"], name="idp_outbox_due",
                condition=models.Q(state=OutboxState.PENDING),
            ),
            models.Index(fields=["state", "id"], name="idp_outbox_state"),
        ]
        verbose_name = "outbox message"

    def __str__(self) -> str:
        return f"{self.kind} #{self.id} ({self.state})"
