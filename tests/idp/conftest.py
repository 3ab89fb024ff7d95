"""Helpers of the issuer's session tests."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import OperationalError, connections

from idp.tokens import RefreshToken


@contextmanager
def answers_lost() -> Iterator[list[str]]:
    """Within, the next COMMIT takes effect and then fails, as when the database link drops while
    the database acknowledges it; yield the refresh tokens issued, which no client received.

    Needs a test whose transactions really commit (`django_db(transaction=True)`).
    """
    issued: list[str] = []
    backend = type(connections["default"])
    sign, commit = RefreshToken.sign_and_record, backend.commit
    dropped: list[bool] = []

    def recording_sign(self: RefreshToken) -> str:
        issued.append(sign(self))
        return issued[-1]

    def commit_then_drop_the_link(wrapper: object) -> None:
        commit(wrapper)
        if not dropped:
            dropped.append(True)
            raise OperationalError("server closed the connection unexpectedly")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RefreshToken, "sign_and_record", recording_sign)
        patch.setattr(backend, "commit", commit_then_drop_the_link)
        yield issued
