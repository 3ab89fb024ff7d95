"""Login sessions: the family of refresh tokens that one login started, named by `sid`."""
from __future__ import annotations

from django.conf import settings
from django.db import models


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
