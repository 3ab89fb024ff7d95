"""A real SMTP server on a loopback port (aiosmtpd) that keeps what it receives, and can go down and come back."""
from __future__ import annotations

import email
import email.policy
import re
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.e2e.servers import free_port


class MailServer:
    """Accept every message on 127.0.0.1:`port`; `wait_for` polls what arrived, with a deadline."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        self.received: list[EmailMessage] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self._lock:
            self.received.append(message)
        return "250 Message accepted for delivery"

    def start(self) -> MailServer:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait_for(self, match: Callable[[EmailMessage], bool], timeout: float = 60) -> EmailMessage:
        """Return the first received message that `match`es, waiting up to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = [message for message in self.received if match(message)]
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no matching mail within {timeout} s; received: {[m['Subject'] for m in self.received]}")


def to(address: str) -> Callable[[EmailMessage], bool]:
    """Match a message to `address`."""
    return lambda message: address in str(message["To"])


def plain_text(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def link_in(message: EmailMessage, path: str) -> str:
    """Return the issuer link to `path` (with its query) in `message`'s plain text."""
    found = re.search(rf"http://127\.0\.0\.1:\d+{re.escape(path)}\?\S+", plain_text(message))
    assert found, plain_text(message)
    return found.group(0)
