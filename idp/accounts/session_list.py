"""The open OP sessions of a user as the account page lists them: when each started, was last used, and its apps.

A session is listed while it has not ended. A JSON API session whose newest refresh token has
expired is left out: nothing can use it any more. A browser's session stays listed however old:
the browser keeps using it for single sign-on for as long as its cookie lives.

"Last used" costs no write on the hot paths (/authorize, /token, /api/me): it is derived from rows
those paths write anyway. It is the latest of
- the session's `auth_time`: the sign-in, or a later re-authentication;
- the creation of its newest grant: a client signed in under it;
- the issue of its newest refresh token: a login, a code exchange or a refresh.
A client that uses its access token refreshes it at least once per access-token lifetime, so the
value lags real use by at most that lifetime; using an access token alone records nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Max, Prefetch, Q
from django.utils.translation import gettext

from idp.models import Grant, LoginSession, SessionOrigin


@dataclass(frozen=True)
class SessionRow:
    """One open session on the account page."""

    sid: str
    origin: str
    started_at: datetime
    last_used_at: datetime
    # The names of the apps with an open grant in the session; the JSON API's grant is "API".
    apps: list[str]
    # Whether it is the session of the browser showing the page.
    current: bool


def open_sessions(user: Any, *, current_sid: str | None, now: datetime) -> list[SessionRow]:
    """Return the open sessions of `user` at `now`: the browser's own (`current_sid`) first, then by last use."""
    open_grants = Grant.objects.filter(ended_at__isnull=True).select_related("client").order_by("created_at")
    sessions = (
        LoginSession.objects.filter(user=user, ended_at__isnull=True)
        .filter(Q(origin=SessionOrigin.BROWSER) | Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        # Max over the joined rows: the join multiplies rows, never a maximum.
        .annotate(
            newest_grant=Max("grants__created_at"),
            newest_refresh=Max("grants__refresh_tokens__token__created_at"),
        )
        .prefetch_related(Prefetch("grants", queryset=open_grants, to_attr="open_grants"))
    )
    rows = [
        SessionRow(
            sid=session.sid,
            origin=session.origin,
            started_at=session.created_at,
            last_used_at=max(t for t in (session.auth_time, session.newest_grant, session.newest_refresh) if t),
            apps=[grant.client.name if grant.client else gettext("API") for grant in session.open_grants],
            current=session.sid == current_sid,
        )
        for session in sessions
    ]
    return sorted(rows, key=lambda row: (not row.current, -row.last_used_at.timestamp(), row.sid))
