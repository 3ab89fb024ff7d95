"""Django's PostgreSQL backend, with a client-side deadline on every wait for the server.

libpq bounds connecting (connect_timeout) and the server bounds statements (statement_timeout),
but nothing bounds a wait for an answer that never comes: a partitioned or stalled link leaves a
query, a COMMIT or Django's health check waiting until TCP gives up, minutes later. Keepalives
see a dead peer only while the link is idle. So every wait on an established connection gets a
deadline (OPTIONS["client_timeout"], seconds); when it passes, the connection is closed and the
caller gets an OperationalError, which the views answer with 503.
"""
from __future__ import annotations

from typing import Any

import psycopg
from django.db.backends.postgresql import base
from psycopg import pq


class DeadlineConnection(psycopg.Connection):
    """A psycopg connection whose waits for the server end after `client_timeout` seconds."""

    client_timeout: float | None = None

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        if timeout is None:
            timeout = self.client_timeout
        try:
            return super().wait(gen, interval=interval, timeout=timeout)
        except psycopg.OperationalError as e:
            if self.pgconn.transaction_status != pq.TransactionStatus.ACTIVE:
                raise  # the server answered (an error, a cancelled statement): the connection is sound
            # Our command is out and its answer never came: the protocol state is unknown, so the
            # connection cannot be used again.
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"no answer from the database within {timeout} s; connection closed"
            ) from e


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        # Ours, not libpq's: it must not reach the connection string.
        self._client_timeout = params.pop("client_timeout", None)
        self._health_check_timeout = float(params.get("connect_timeout") or 0) or self._client_timeout
        return params

    def is_usable(self) -> bool:
        # CONN_HEALTH_CHECKS' `SELECT 1` is one round trip, as cheap as connecting: it gets the
        # connect timeout, so a request on a stalled pooled connection fails over to a new
        # connection (and its own timeout) sooner.
        connection = self.connection
        if not isinstance(connection, DeadlineConnection):
            return super().is_usable()
        statement_deadline = connection.client_timeout
        connection.client_timeout = self._health_check_timeout
        try:
            return super().is_usable()
        finally:
            connection.client_timeout = statement_deadline

    def get_new_connection(self, conn_params: dict[str, Any]) -> psycopg.Connection:
        connection = super().get_new_connection(conn_params)
        # psycopg builds its own Connection class; adopting the subclass adds only `wait`'s
        # deadline, and keeps every step of Django's connection setup as it is.
        connection.__class__ = DeadlineConnection
        connection.client_timeout = self._client_timeout
        return connection
