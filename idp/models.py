"""Kunci's users, and login sessions: the family of refresh tokens that one login started, named by `sid`."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower

# The client registry and its authorization codes live in their own package and belong to this app (label `idp`).
from idp.oauth.models import AuthorizationCode, Client  # noqa: F401


class KunciUserManager(UserManager):
    def get_by_email(self, email: str) -> "User | None":
        """Return the user whose email is `email`, compared case-insensitively, or None."""
        return self.filter(email__iexact=email.strip()).first() if email.strip() else None


class User(AbstractUser):
    """A person who signs in at Kunci. An email address names at most one account, in any case.

    Service accounts may have no email; every non-empty email is unique regardless of case, so
    "Alice@Example.com" and "alice@example.com" can never be two accounts (signing in by email,
    and later password resets and registration, rely on it).
    """

    objects = KunciUserManager()

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            models.UniqueConstraint(
                Lower("email"), name="idp_user_email_ci_unique", condition=~models.Q(email=""),
                violation_error_message="A user with that email address already exists.",
            ),
        ]


class SessionEnd(models.TextChoices):
    LOGOUT = "logout", "logout"
    LOGOUT_EVERYWHERE = "logout_everywhere", "logout everywhere"
    REUSE = "reuse", "refresh token reuse"


class LoginSession(models.Model):
    sid = models.CharField(max_length=32, primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="login_sessions")
    created_at = models.DateTimeField()
    # When the session's newest refresh token expires: past it the session is over for good.
    expires_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, choices=SessionEnd.choices, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "ended_at"], name="idp_session_user_open")]

    def __str__(self) -> str:
        return f"session {self.sid} of user {self.user_id}"


class RefreshRotation(models.Model):
    """One rotation of a refresh token: the token presented, the successor issued for it, and
    whether the issuer ever answered with that successor.

    The rotated token's reuse is judged from this row (RFC 9700 §4.14.2, see idp/sessions.py): a
    retry is honoured only while the successor was never answered and never used.
    """

    token = models.OneToOneField(
        "token_blacklist.OutstandingToken", primary_key=True, on_delete=models.CASCADE, related_name="rotation"
    )
    # The jti of the refresh token issued for `token`; a retry replaces it with a new one.
    successor_jti = models.CharField(max_length=255, unique=True)
    rotated_at = models.DateTimeField()
    # When the issuer answered a request with the successor; null while no client was ever sent it.
    answered_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"rotation of token {self.token_id} to {self.successor_jti}"
