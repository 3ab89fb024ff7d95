"""Tell a dependency outage from a bug: the database or the cache cannot answer now.

An outage is answered 503 with Retry-After (RFC 9110 §15.6.4, §10.2.3), so that clients and load
balancers retry later; everything else that escapes a view stays a 500, because a bug retried is
still a bug. Only failures to reach or use the server count: a constraint violation, bad SQL or a
deadlock is the code's fault, not the dependency's.
"""
from __future__ import annotations

import sqlite3

from django import db
from rest_framework import exceptions

try:
    import psycopg
except ImportError:  # SQLite-only installations
    psycopg = None
try:
    import redis
except ImportError:  # Redis is optional
    redis = None

# Seconds a client is asked to wait: about one connect timeout, long enough for a restarted
# database or cache to come back, short enough that no one gives up.
RETRY_AFTER = 5

# PostgreSQL SQLSTATE classes that mean "cannot serve now" (Appendix A of its manual): 08
# connection exception, 53 insufficient resources (too many connections, disk full), 57 operator
# intervention (shutdown, statement_timeout's cancel).
_POSTGRES_OUTAGE_CLASSES = frozenset({"08", "53", "57"})
# SQLite primary result codes that mean the same: BUSY, LOCKED, IOERR, FULL, CANTOPEN.
_SQLITE_OUTAGE_CODES = frozenset({5, 6, 10, 13, 14})


class DependencyUnavailable(exceptions.APIException):
    status_code = 503
    # DRF sends `wait` as Retry-After.
    wait = RETRY_AFTER


class DatabaseUnavailable(DependencyUnavailable):
    default_detail = "The database is unavailable; try again later."
    default_code = "database_unavailable"


class CacheUnavailable(DependencyUnavailable):
    default_detail = "The cache is unavailable; try again later."
    default_code = "cache_unavailable"


def dependency_outage(exc: BaseException | None) -> DependencyUnavailable | None:
    """Return the 503 that `exc` calls for if it is a database or cache outage, else None."""
    if exc is None:
        return None
    if _is_database_outage(exc):
        return DatabaseUnavailable()
    if _is_cache_outage(exc):
        return CacheUnavailable()
    return None


def _is_database_outage(exc: BaseException) -> bool:
    if isinstance(exc, (db.IntegrityError, db.ProgrammingError, db.DataError, db.NotSupportedError)):
        return False
    if not isinstance(exc, db.Error) and not _is_driver_error(exc):
        return False
    # Django re-raises the driver's error as its own, chained: the driver's carries the reason.
    driver = exc.__cause__ if isinstance(exc, db.Error) and exc.__cause__ is not None else exc
    if isinstance(driver, sqlite3.Error):
        return getattr(driver, "sqlite_errorcode", 0) & 0xFF in _SQLITE_OUTAGE_CODES
    if psycopg is not None and isinstance(driver, psycopg.Error):
        if driver.sqlstate is None:
            # Raised by the client itself: the connection failed, closed, or timed out.
            return isinstance(driver, (psycopg.OperationalError, psycopg.InterfaceError))
        return driver.sqlstate[:2] in _POSTGRES_OUTAGE_CLASSES
    # Django's own ("connection already closed"), or another driver's.
    return isinstance(exc, (db.OperationalError, db.InterfaceError))


def _is_driver_error(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.Error) or (psycopg is not None and isinstance(exc, psycopg.Error))


def _is_cache_outage(exc: BaseException) -> bool:
    if redis is not None and isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        return True
    # What socket-based cache clients other than redis-py raise when the server is gone.
    return isinstance(exc, ConnectionError)
