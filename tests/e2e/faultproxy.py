"""A TCP proxy that tests own, between a server and its database or cache, to break the link.

`cut()` drops every connection and refuses new ones, like a dead host or a firewall's reset;
`stall()` accepts and holds, passing nothing either way, like a partition (the peer's kernel
still acknowledges, so only the client's own deadlines can notice); `heal()` restores the link
and delivers what a stall held. `drop_answer_to_commit()` lets the next COMMIT reach PostgreSQL
and closes the connection before its answer comes back: the transaction commits and the client
never learns it.

Written here because the fault libraries (toxiproxy, pumba) are external daemons; these tests
need a few lines of threads on a loopback port, started and stopped by the test itself.
"""
from __future__ import annotations

import socket
import struct
import threading

# PostgreSQL's frontend protocol carries a statement NUL-terminated, in a Query ('Q') or a Parse
# ('P') message (PostgreSQL manual, "Message Formats"); psycopg sends COMMIT either way.
_COMMIT = b"COMMIT\x00"


def _reset(sock: socket.socket) -> None:
    """Close `sock` with a TCP reset, as a dead or firewalled peer would."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class _Link:
    """One client connection and, once connected, its upstream connection."""

    def __init__(self, client: socket.socket) -> None:
        self.client = client
        self.upstream: socket.socket | None = None
        self.drop_answers = False
        self.closed = False

    def reset(self) -> None:
        self.closed = True
        for sock in (self.client, self.upstream):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the pumps blocked in recv()
                except OSError:
                    pass
                _reset(sock)


class FaultProxy:
    """Forward 127.0.0.1:`port` to `upstream` until told to cut or stall the link."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._mode = "pass"
        self._changed = threading.Condition()
        self._links: set[_Link] = set()
        self._trap_commit = False
        self._running = True
        threading.Thread(target=self._accept, name="faultproxy-accept", daemon=True).start()

    # --- what tests call ------------------------------------------------------------------------

    def cut(self) -> None:
        """Reset every connection, and every new one as soon as it is accepted."""
        with self._changed:
            self._mode = "cut"
            links, self._links = self._links, set()
            self._changed.notify_all()
        for link in links:
            link.reset()

    def stall(self) -> None:
        """Accept connections and pass nothing on any of them, either way, until healed."""
        with self._changed:
            self._mode = "stall"
            self._changed.notify_all()

    def heal(self) -> None:
        """Forward again, delivering what a stall held."""
        with self._changed:
            self._mode = "pass"
            self._changed.notify_all()

    def drop_answer_to_commit(self) -> None:
        """Deliver the next COMMIT to the server, then close that connection before the answer."""
        with self._changed:
            self._trap_commit = True

    def close(self) -> None:
        self._running = False
        self.cut()
        self._listener.close()

    # --- the forwarding -------------------------------------------------------------------------

    def _accept(self) -> None:
        while self._running:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._mode == "cut":
                _reset(client)
                continue
            link = _Link(client)
            with self._changed:
                self._links.add(link)
            threading.Thread(target=self._connect, args=(link,), daemon=True).start()

    def _wait_while_stalled(self, link: _Link) -> bool:
        """Block while the link is stalled; return whether forwarding may go on."""
        with self._changed:
            self._changed.wait_for(lambda: self._mode != "stall" or link.closed)
            return self._mode == "pass" and not link.closed

    def _connect(self, link: _Link) -> None:
        if not self._wait_while_stalled(link):
            return
        try:
            link.upstream = socket.create_connection(self.upstream, timeout=5)
            link.upstream.settimeout(None)
        except OSError:
            link.reset()
            return
        if link.closed:  # cut while connecting
            link.reset()
            return
        threading.Thread(target=self._pump, args=(link, link.upstream, link.client, False), daemon=True).start()
        self._pump(link, link.client, link.upstream, True)

    def _pump(self, link: _Link, source: socket.socket, target: socket.socket, to_server: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data or not self._wait_while_stalled(link):
                    break
                if to_server and self._trap_commit and _COMMIT in data:
                    self._deliver_commit_and_hang_up(link, data)
                    return
                if not to_server and link.drop_answers:
                    continue
                target.sendall(data)
        except OSError:
            pass
        link.reset()

    def _deliver_commit_and_hang_up(self, link: _Link, data: bytes) -> None:
        with self._changed:
            self._trap_commit = False
        link.drop_answers = True
        assert link.upstream is not None
        link.upstream.sendall(data)
        # A graceful close toward the server: a reset could discard the COMMIT unread.
        link.upstream.shutdown(socket.SHUT_WR)
        _reset(link.client)
