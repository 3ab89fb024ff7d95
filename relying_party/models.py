"""Local users for LOCAL_USERS: each (issuer, subject) is linked to one Django user, made on first sight."""
from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, models, transaction

from relying_party.exceptions import TokenInvalid, UserInactive
from relying_party.verifier import VerifiedToken


class ExternalIdentityManager(models.Manager):
    def user_for(self, token: VerifiedToken) -> Any:
        """Return the local user linked to the token's (iss, sub), creating both on first sight."""
        issuer, subject = token.claims["iss"], token.claims["sub"]
        if max(len(issuer), len(subject)) > 255 or "\x00" in issuer + subject:
            # Refused here rather than by the database, which would answer with a 500.
            raise TokenInvalid("Token's iss or sub cannot name a local user")
        link = self.select_related("user").filter(issuer=issuer, subject=subject).first()
        for fallback in (False, True):
            if link is not None:
                break
            try:
                with transaction.atomic():
                    user = _new_local_user(token, fallback=fallback)
                    link = self.create(issuer=issuer, subject=subject, user=user)
            except IntegrityError:
                # Either the same identity raced us (its link now exists), or another identity
                # holds the same username, or the same email where the user model keeps emails
                # unique (then the suffixed name and no email are ours).
                link = self.select_related("user").filter(issuer=issuer, subject=subject).first()
        if link is None:
            raise TokenInvalid("Token's subject cannot be linked to a local user")
        if not link.user.is_active:
            raise UserInactive()
        return link.user


class ExternalIdentity(models.Model):
    """One issuer's user, seen here: keyed by (iss, sub), never by username, which may be reused."""

    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identity"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ExternalIdentityManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="relying_party_unique_issuer_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} @ {self.issuer}"


def _new_local_user(token: VerifiedToken, *, fallback: bool = False) -> Any:
    """Make the local user for `token`; `fallback` takes the suffixed username and leaves out the email."""
    user_model = get_user_model()
    field = user_model._meta.get_field(user_model.USERNAME_FIELD)
    limit = field.max_length or 150
    wanted = token.claims.get("username")
    wanted = wanted.replace("\x00", "") if isinstance(wanted, str) else ""
    if not wanted:
        wanted = token.claims["sub"]
    username = wanted[:limit]
    if fallback or user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).exists():
        # A local account (or another issuer's user) has this name; the suffix is stable per (iss, sub).
        suffix = hashlib.sha256(f"{token.claims['iss']}|{token.claims['sub']}".encode()).hexdigest()[:10]
        username = f"{wanted[: limit - 11]}-{suffix}"
    user = user_model(**{user_model.USERNAME_FIELD: username})
    email = token.claims.get("email")
    if isinstance(email, str) and hasattr(user, "email") and not fallback:
        user.email = email.replace("\x00", "")[:254]
    # The issuer holds the password; nobody can log in here with one.
    user.set_unusable_password()
    user.save()
    return user


class RevokedSession(models.Model):
    """A session ended by a back-channel logout: one `sid`, or every session of a `sub` up to a moment.

    The database store of relying_party/revocation_stores.py: every worker of the app reads the rows
    added since its last read, by id. Times are seconds since the epoch, as in the tokens.
    """

    kind = models.CharField(max_length=3, choices=[("sid", "session"), ("sub", "user")])
    value = models.CharField(max_length=255)
    # The logout token's iat: a row ends the tokens issued at or before it (a "sid" row, up to the
    # LEEWAY after it; relying_party/revocations.py).
    logged_out_at = models.FloatField()
    # No token it could refuse is valid after this; the row is purged then.
    expires_at = models.FloatField(db_index=True)

    class Meta:
        verbose_name = "revoked session"

    def __str__(self) -> str:
        return f"{self.kind} {self.value}"


class LogoutTokenUse(models.Model):
    """A logout token this app has taken, by the digest of its `iss` and `jti`, kept until it expires."""

    jti_digest = models.CharField(max_length=64, unique=True)
    expires_at = models.FloatField(db_index=True)

    def __str__(self) -> str:
        return self.jti_digest
