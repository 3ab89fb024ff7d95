"""An outbox handler for the tests: the payload says how the delivery goes."""
from __future__ import annotations

import threading
from typing import Any

from idp.outbox import Refused

delivered: list[dict[str, Any]] = []
_lock = threading.Lock()


def deliver(payload: dict[str, Any]) -> None:
    outcome = payload.get("outcome", "ok")
    if outcome == "refuse":
        raise Refused("HTTP 400 from the target")
    if outcome == "fail":
        raise ConnectionError("connection refused")
    with _lock:
        delivered.append(payload)
