from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone as tz
from typing import Any

import pytest

from tests.idp.outbox import handlers

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=tz.utc)


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(autouse=True)
def test_handler(settings: Any) -> Iterator[list[dict[str, Any]]]:
    settings.KUNCI_IDP = {**settings.KUNCI_IDP, "OUTBOX_HANDLERS": {"test": "tests.idp.outbox.handlers.deliver"}}
    handlers.delivered.clear()
    yield handlers.delivered
    handlers.delivered.clear()


@pytest.fixture
def clock() -> Clock:
    return Clock()
