"""Helpers of the issuer's session tests."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import OperationalError, connections

from idp import sessions


@contextmanager
def answers_lost() -> Iterator[list[str]]:
    """Within, the next COMMIT takes effect and then fails, as when the database link drops while
    the database acknowledges it; yield the refresh tokens issued, which no client received.

    Needs a test whose transactions really commit (`django_db(transaction=True)`).
    """
    issued: list[str] = []
    backend = type(connections["default"])
    record, commit = sessions.record_refresh, backend.commit
    dropped: list[bool] = []

    def recording(claims: dict, encoded: str, **kwargs: object) -> None:
        record(claims, encoded, **kwargs)
        issued.append(encoded)

    def commit_then_drop_the_link(wrapper: object) -> None:
        commit(wrapper)
        if not dropped:
            dropped.append(True)
            raise OperationalError("server closed the connection unexpectedly")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sessions, "record_refresh", recording)
        patch.setattr(backend, "commit", commit_then_drop_the_link)
        yield issued
