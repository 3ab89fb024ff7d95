"""Slow clients: connections that trickle a request's headers or body, one piece at a time.

They are how a slow network, or an attacker who wants a server's threads, looks to the server: a
request that is always nearly complete. Used by the end-to-end tests and by `bench/`.
"""
from __future__ import annotations

import socket
import threading


class SlowClients:
    """Hold `headers` slow-header and `bodies` slow-body connections to host:port until `stop()`.

    A slow-header connection sends a request line and then one more header line every `interval`
    seconds; a slow-body connection sends complete headers announcing `body_length` bytes, then one
    byte every `interval` seconds. A connection the server closes is opened again, so the count
    holds for as long as the clients run.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        headers: int,
        bodies: int,
        path: str = "/api/login",
        interval: float = 1.0,
        body_length: int = 60000,
    ) -> None:
        self.address = (host, port)
        self.path = path
        self.interval = interval
        self.body_length = body_length
        self._kinds = ["header"] * headers + ["body"] * bodies
        self._sockets: list[socket.socket | None] = [None] * len(self._kinds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)
        self.reconnects = 0
        self._ready = threading.Event()

    def __enter__(self) -> "SlowClients":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, timeout: float = 30) -> None:
        """Open every connection and start trickling; return once all are open."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("slow clients could not open their connections")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for sock in self._sockets:
            if sock is not None:
                sock.close()

    @property
    def open(self) -> int:
        return sum(sock is not None for sock in self._sockets)

    def _opening(self, kind: str) -> bytes:
        start = f"POST {self.path} HTTP/1.1\r\nHost: {self.address[0]}\r\nContent-Type: application/json\r\n"
        if kind == "header":
            return start.encode()
        return f"{start}Content-Length: {self.body_length}\r\n\r\n".encode()

    def _connect(self, n: int) -> None:
        try:
            sock = socket.create_connection(self.address, timeout=5)
            sock.sendall(self._opening(self._kinds[n]))
            sock.settimeout(0)  # never wait on a peer that stops reading
        except OSError:
            self._sockets[n] = None
            return
        self._sockets[n] = sock

    def _trickle(self, n: int, tick: int) -> None:
        sock = self._sockets[n]
        piece = f"X-Slow-{tick}: {n}\r\n".encode() if self._kinds[n] == "header" else b"{"
        try:
            sock.send(piece)
        except OSError:  # closed by the server, or its buffer is full: start over
            sock.close()
            self.reconnects += 1
            self._connect(n)

    def _run(self) -> None:
        for n in range(len(self._kinds)):
            self._connect(n)
        self._ready.set()
        tick = 0
        while not self._stop.wait(self.interval):
            tick += 1
            for n in range(len(self._kinds)):
                if self._stop.is_set():
                    return
                if self._sockets[n] is None:
                    self._connect(n)
                else:
                    self._trickle(n, tick)

