"""Ended sessions, as back-channel logout tokens announce them, seen by every worker of an app.

A logout token (OpenID Connect Back-Channel Logout 1.0 §2.4) names a `sid`, which ends that one
session at this app, or only a `sub`, which ends every session of that user up to the logout: tokens
issued after it belong to a new sign-in and stay good. A `sid` ends the tokens issued up to the
logout plus `leeway` seconds: when the issuer ended the whole session it mints no later token of
that sid, and the leeway keeps refusing one minted just before the end by a replica whose clock ran
ahead; when it ended only this app's grant (RFC 7009 revocation, a replayed code), a later single
sign-on to this app under the same session gets tokens issued past it, which stay good.

The receiving worker writes a `Revocation` to the app's shared store
(relying_party/revocation_stores.py); every worker keeps a `RevocationView`, an in-memory copy
that a background thread refreshes from the store every REVOCATION_REFRESH seconds with an
incremental read. A verification only reads the view: it never waits on the store.

A background refresher rather than a refresh started by requests: a view refreshed only when a
request arrives is as old as the quiet spell before it, so the first token of a revoked session
after a pause would still be accepted. A thread that reads every half second keeps every worker
within that half second of the store, busy or idle, for one indexed query (or one cache read) a tick.

Django-free: the store, the clocks and the thread starter come in through the constructor.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from relying_party.exceptions import CodedError, InvalidSetting

logger = logging.getLogger("kunci.relying_party.revocations")


@dataclass(frozen=True)
class Revocation:
    """One ended session (`kind` "sid"), or every session of one user up to `logged_out_at` ("sub").

    `logged_out_at` is the logout token's `iat` (the issuer's clock, like every token's `iat`);
    `expires_at` is when no token it could refuse is still valid, and the record may go.
    Both are seconds since the epoch.
    """

    kind: Literal["sid", "sub"]
    value: str
    logged_out_at: float
    expires_at: float


class LogoutTokenReplayed(CodedError):
    """A logout token whose `jti` this app has already taken (Back-Channel Logout 1.0 §2.6)."""

    code = "logout_token_replayed"
    description = "This logout token was already used"


class RevocationStore(Protocol):
    def record(self, revocation: Revocation, *, jti: str, jti_expires_at: float) -> None:
        """Keep `revocation` and the logout token's `jti` until their expiry, at once or not at all.

        Raise LogoutTokenReplayed when `jti` was taken before, and keep nothing then.
        """
        ...

    def changes(self) -> Iterable[Revocation]:
        """Return the unexpired revocations recorded since the last call (all of them on the first).

        May return some again: applying a revocation twice is harmless.
        """
        ...


class RevocationView:
    """This worker's copy of the store's revocations; reads take no lock and make no I/O."""

    def __init__(
        self,
        store: RevocationStore,
        *,
        refresh_interval: float = 0.5,
        leeway: float = 10,
        clock: Callable[[], float] = time.time,
        start_thread: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        if (
            isinstance(refresh_interval, bool)
            or not isinstance(refresh_interval, (int, float))
            or not 0.01 <= refresh_interval <= 60
        ):
            raise InvalidSetting(f"REVOCATION_REFRESH must be a number of seconds in [0.01, 60], got {refresh_interval!r}")
        self.store = store
        self.refresh_interval = float(refresh_interval)
        self.leeway = float(leeway)  # the verifier's LEEWAY, validated there
        self._clock = clock
        self._start_thread = start_thread or _start_daemon_thread
        # sid and sub -> (logged_out_at, expires_at). Replaced whole, never mutated, so that
        # is_revoked reads them without a lock.
        self._sessions: Mapping[str, tuple[float, float]] = {}
        self._subjects: Mapping[str, tuple[float, float]] = {}
        self._lock = threading.Lock()  # serialises writers of the two maps
        self._stopped = threading.Event()
        self._started = False
        self._failing = False
        self.refreshed_at: float | None = None  # the clock's time of the last successful read

    def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        """Return whether a token with these (verified) claims belongs to a session ended by a logout."""
        try:
            session = self._sessions.get(claims.get("sid"))
            subject = self._subjects.get(claims.get("sub"))
        except TypeError:  # an unhashable sid or sub: no recorded string can name it
            return False
        return _issued_up_to(claims, session, self.leeway) or _issued_up_to(claims, subject, 0.0)

    def add(self, revocations: Iterable[Revocation]) -> None:
        """Apply `revocations` to this view at once, dropping the entries that have expired."""
        now = self._clock()
        with self._lock:
            sessions = {sid: entry for sid, entry in self._sessions.items() if entry[1] > now}
            subjects = {sub: entry for sub, entry in self._subjects.items() if entry[1] > now}
            for revocation in revocations:
                if revocation.expires_at <= now:
                    continue
                entries = sessions if revocation.kind == "sid" else subjects
                logged_out_at, expires_at = entries.get(revocation.value, (-math.inf, 0))
                entries[revocation.value] = (
                    max(logged_out_at, revocation.logged_out_at),
                    max(expires_at, revocation.expires_at),
                )
            self._sessions, self._subjects = sessions, subjects

    def refresh(self) -> bool:
        """Read what the store recorded since the last read into the view; return whether the read worked.

        A failed read keeps the view as it is (the store is down: the last known revocations still
        hold) and is logged once until a read works again.
        """
        try:
            changes = list(self.store.changes())
        except Exception as error:  # noqa: BLE001 - any failure of the store: keep the view, try again
            if not self._failing:
                logger.warning("the revocation store could not be read: %s", " ".join(str(error).split())[:300])
            self._failing = True
            return False
        if self._failing:
            logger.warning("the revocation store can be read again")
        self._failing = False
        self.add(changes)
        self.refreshed_at = self._clock()
        return True

    def start(self) -> None:
        """Read the store once now, then every `refresh_interval` seconds in the background until stop()."""
        with self._lock:
            if self._started:
                return
            self._started = True
        self.refresh()
        self._start_thread(self._run)

    def stop(self) -> None:
        """Stop the background refresher after its current read."""
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(self.refresh_interval):
            self.refresh()
        close = getattr(self.store, "close", None)
        if close is not None:
            close()  # the store's resources held by this thread (its database connection)

    def __len__(self) -> int:
        return len(self._sessions) + len(self._subjects)


def _issued_up_to(claims: Mapping[str, Any], entry: tuple[float, float] | None, leeway: float) -> bool:
    """Return whether a token with `claims` was issued at or before a logout's time (`entry[0]`) plus `leeway`."""
    if entry is None:
        return False
    iat = claims.get("iat")
    # A token with no usable iat cannot show it came later: it ends with the session.
    return isinstance(iat, bool) or not isinstance(iat, (int, float)) or iat <= entry[0] + leeway


def _start_daemon_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="kunci-revocations-refresh", daemon=True).start()
