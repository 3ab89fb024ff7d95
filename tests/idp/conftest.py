"""Helpers of the issuer's session tests."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import OperationalError

from idp import sessions
from idp.tokens import RefreshToken


@contextmanager
def answers_lost() -> Iterator[list[str]]:
    """Within, a refresh commits and then fails before it answers, as when the database link drops
    during COMMIT; yield the list of refresh tokens issued that no client received."""
    issued: list[str] = []
    sign = RefreshToken.sign_and_record

    def recording_sign(self: RefreshToken) -> str:
        issued.append(sign(self))
        return issued[-1]

    def link_down(*args: object) -> bool:
        raise OperationalError("server closed the connection unexpectedly")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RefreshToken, "sign_and_record", recording_sign)
        patch.setattr(sessions, "_answer", link_down)
        yield issued
