"""The keyring's one table: every signing key with its state and its sealed private half."""
from __future__ import annotations

from django.db import models
from django.db.models import Q


class KeyState(models.TextChoices):
    NEXT = "next", "next"
    ACTIVE = "active", "active"
    RETIRED = "retired", "retired"
    REVOKED = "revoked", "revoked"


PUBLISHED_STATES = (KeyState.NEXT, KeyState.ACTIVE, KeyState.RETIRED)


class SigningKey(models.Model):
    # RFC 7638 thumbprint of the public key: 43 base64url characters for SHA-256.
    kid = models.CharField(max_length=64, primary_key=True)
    state = models.CharField(max_length=8, choices=KeyState.choices, db_index=True)
    key_size = models.PositiveIntegerField()
    public_jwk = models.JSONField()
    # AES-GCM under the KEK; emptied when the key is revoked, and the row deleted when purged.
    sealed_private_key = models.BinaryField(null=True, editable=False)
    created_at = models.DateTimeField()
    activated_at = models.DateTimeField(null=True)
    retired_at = models.DateTimeField(null=True)
    revoked_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["state"], condition=Q(state="active"), name="keys_exactly_one_active"
            ),
            models.UniqueConstraint(
                fields=["state"], condition=Q(state="next"), name="keys_at_most_one_next"
            ),
        ]

    def __repr__(self) -> str:
        # Never render the sealed private key, not even in a debugger or a traceback.
        return f"<SigningKey {self.kid} {self.state}>"

    __str__ = __repr__
