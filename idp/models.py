"""Kunci's users; OP sessions (one sign-in, named by `sid`) and the grants under them, each with its refresh tokens."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models, transaction
from django.db.models.functions import Lower

# The client registry and its redeemed authorization codes live in their own package and belong to this app (label `idp`).
from idp.oauth.models import Client, Consent, RedeemedCode  # noqa: F401
from idp.outbox.models import OutboxMessage  # noqa: F401


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

    # OpenID Connect Core §5.1: `updated_at`, "time the End-User's information was last updated";
    # every save through the model (admin, accounts pages, manage.py) moves it.
    updated_at = models.DateTimeField(auto_now=True)
    # Registered and not yet activated through the emailed link (idp/accounts/registration.py).
    # Only such an account can be activated: one an administrator deactivated never can, since
    # an account that has been active is never awaiting activation again (`save`).
    awaiting_activation = models.BooleanField(default=False)

    objects = KunciUserManager()

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            models.UniqueConstraint(
                Lower("email"), name="idp_user_email_ci_unique", condition=~models.Q(email=""),
                violation_error_message="A user with that email address already exists.",
            ),
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save the user; an inactive user's open sessions end, in the same transaction.

        An active user no longer awaits activation, however it became active (the activation
        link, or an administrator ticking "active").

        A save override rather than a signal: the rule belongs to the model that owns `is_active`,
        and the save and the ending commit or roll back together (Django wraps only a multi-table
        save in a transaction; post_save runs outside one). Every path that deactivates through the
        model (the admin, `manage.py`, the accounts pages) passes here; a bulk
        `QuerySet.update(is_active=False)` does not, and its users' tokens are still refused
        (authentication and refresh check `is_active`), but their sessions stay open until then.
        """
        if self.is_active and self.awaiting_activation:
            self.awaiting_activation = False
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "awaiting_activation"}
        with transaction.atomic():
            super().save(*args, **kwargs)
            if not self.is_active:
                # Imported here: sessions imports these models.
                from idp.sessions import end_all_sessions

                end_all_sessions(self, SessionEnd.USER_DEACTIVATED)


class SessionEnd(models.TextChoices):
    """Why a session or a grant ended; every end goes through idp/sessions.py `end_session`/`end_grant`."""

    LOGOUT = "logout", "logout"
    LOGOUT_EVERYWHERE = "logout_everywhere", "logout everywhere"
    REUSE = "reuse", "refresh token reuse"
    RP_LOGOUT = "rp_logout", "RP-initiated logout"
    CODE_REPLAY = "code_replay", "authorization code replay"
    ADMIN = "admin", "ended by an administrator"
    USER_DEACTIVATED = "user_deactivated", "user deactivated"
    USER_DELETED = "user_deleted", "user deleted"
    REPLACED = "replaced", "another user signed in"
    # RFC 7009: the client revoked a token of the grant at /revoke.
    REVOKED = "revoked", "token revoked by the client"
    PASSWORD_RESET = "password_reset", "password reset"
    PASSWORD_CHANGED = "password_changed", "password changed"


class SessionOrigin(models.TextChoices):
    """How a session was started: the JSON API's /api/login, or the sign-in page in a browser."""

    API = "api", "JSON API"
    BROWSER = "browser", "browser sign-in"


class LoginSession(models.Model):
    """The OP session: one sign-in of a user, named by `sid`, from the JSON API or a browser.

    The grants under it (one per client, and the JSON API's own) hold the refresh tokens; ending
    the session ends them all (idp/sessions.py `end_session`).
    """

    sid = models.CharField(max_length=32, primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="login_sessions")
    created_at = models.DateTimeField()
    # When the password was last checked for this session (OpenID Connect Core §2 `auth_time`):
    # the sign-in, or a later re-authentication asked for by `prompt=login` or `max_age`.
    auth_time = models.DateTimeField()
    origin = models.CharField(max_length=10, choices=SessionOrigin.choices, default=SessionOrigin.API)
    # When the session's newest refresh token expires: past it the session is over for good.
    expires_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, choices=SessionEnd.choices, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "ended_at"], name="idp_session_user_open")]

    def __str__(self) -> str:
        return f"session {self.sid} of user {self.user_id}"


class Grant(models.Model):
    """What one client (or, with no client, the JSON API) was given under one OP session.

    Each grant holds its own refresh-token family (GrantRefreshToken). A session has at most one
    open grant per client and one open grant of the JSON API; a grant that ended (an authorization
    code replay ends only its grant) stays as a record, and the client's next sign-in under the
    same session opens a new one.
    """

    session = models.ForeignKey(LoginSession, on_delete=models.CASCADE, related_name="grants", db_column="sid")
    # Null for the JSON API's own grant (/api/login).
    client = models.ForeignKey(Client, on_delete=models.CASCADE, null=True, blank=True, related_name="grants")
    # The scopes granted, space-separated (RFC 6749 §3.3); empty for the JSON API.
    scope = models.TextField(blank=True)
    created_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, choices=SessionEnd.choices, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session", "client"], condition=models.Q(ended_at__isnull=True, client__isnull=False),
                name="idp_grant_one_open_per_client",
            ),
            # A UNIQUE over (session, client) never compares NULLs: the JSON API's grant needs its own.
            models.UniqueConstraint(
                fields=["session"], condition=models.Q(ended_at__isnull=True, client__isnull=True),
                name="idp_grant_one_open_api_grant",
            ),
        ]

    def __str__(self) -> str:
        return f"grant {self.pk} of {self.session_id} to {self.client_id or 'the JSON API'}"


class GrantRefreshToken(models.Model):
    """Which grant a refresh token (simplejwt's OutstandingToken) belongs to: its family."""

    token = models.OneToOneField(
        "token_blacklist.OutstandingToken", primary_key=True, on_delete=models.CASCADE, related_name="grant_link"
    )
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="refresh_tokens")

    def __str__(self) -> str:
        return f"refresh token {self.token_id} of grant {self.grant_id}"


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
