"""The gunicorn worker class every Kunci service runs on: gunicorn's processes, waitress's connections.

gunicorn's threaded worker hands a connection to a pool thread after its first byte, and that thread
then reads the headers and the body with no deadline: a few clients that trickle one header line
every few seconds hold every thread, and the service answers nobody else. waitress reads every
connection on one non-blocking loop and hands a request to a thread only once its headers and body
are whole (spooled to a temporary file past a size), so a slow or idle client costs a socket, never a
thread, and Django only ever sees complete requests. waitress has no process manager, and gunicorn's
master does that well (pre-fork, restarts, graceful stops, signals), so this class joins the two:
each gunicorn worker process runs one waitress server on the sockets gunicorn bound. No published
package joins them, which is why this file exists.

Use: `gunicorn settings.wsgi:application -k settings.worker.WaitressWorker --workers 2 --threads 4`.
gunicorn's `--threads` sizes waitress's pool, `--worker-connections` caps open connections per
process, `--keep-alive` is how long a connection may stay silent (idle or mid-request) before it is
closed. Forwarded headers (X-Forwarded-For/-Proto) are honoured only from the proxy address named by
KUNCI_TRUSTED_PROXY; waitress strips them from everyone else, so no local process can claim https.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from gunicorn.workers.base import Worker
import socket

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer, UnixWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher

# Tokens are capped at 8 KB; the whole header block gets room for one plus ordinary headers.
MAX_HEADER_BYTES = 32 * 1024
# Bodies over Django's DATA_UPLOAD_MAX_MEMORY_SIZE are refused unread; this is the fallback when
# the application is not Django.
DEFAULT_MAX_BODY_BYTES = 64 * 1024

# The codes of the JSON error bodies below, by status: the same codes the applications answer with.
_ERROR_CODES = {
    400: "bad_request",
    413: "request_too_large",
    431: "headers_too_large",
    500: "server_error",
    501: "not_implemented",
}


class JSONErrorTask(ErrorTask):
    """Answer waitress's own errors (malformed request, oversize headers or body) as Kunci's JSON."""

    def execute(self) -> None:
        error = self.request.error
        body = json.dumps(
            {"detail": f"{error.reason}: {error.body}", "code": _ERROR_CODES.get(error.code, "bad_request")}
        ).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JSONErrorChannel(HTTPChannel):
    error_task_class = JSONErrorTask


class JSONErrorServer(TcpWSGIServer):
    channel_class = JSONErrorChannel


class JSONErrorUnixServer(UnixWSGIServer):
    channel_class = JSONErrorChannel


class WaitressWorker(Worker):
    """A gunicorn worker process that serves its listeners with one waitress server."""

    def run(self) -> None:
        adjustments = Adjustments(**self.adjustments())
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(adjustments.threads)
        server_map: dict[int, Any] = {}
        application = self._access_logged(self.wsgi)
        for sock in adjustments.sockets:
            server_class = JSONErrorUnixServer if sock.family == getattr(socket, "AF_UNIX", None) else JSONErrorServer
            server_class(
                application,
                server_map,
                True,
                sock,
                dispatcher=dispatcher,
                adj=adjustments,
                bind_socket=False,
                sockinfo=(sock.family, sock.type, sock.proto, sock.getsockname()),
            )
        try:
            beat = 0.0
            while self.alive:
                if time.monotonic() - beat >= 1:
                    beat = time.monotonic()
                    self.notify()  # gunicorn's heartbeat: the master replaces a worker that stops calling it
                    if self.ppid != os.getppid():
                        self.log.info("Parent changed, shutting down: %s", self)
                        break
                wasyncore.loop(timeout=1.0, map=server_map, use_poll=True, count=1)
        finally:
            # Requests already handed to a thread finish; the rest close with their sockets.
            dispatcher.shutdown(timeout=self.cfg.graceful_timeout)
            wasyncore.close_all(server_map)

    def adjustments(self) -> dict[str, Any]:
        """Return waitress's settings, derived from gunicorn's configuration and the environment."""
        trusted_proxy = os.environ.get("KUNCI_TRUSTED_PROXY", "").strip()
        idle = max(1, int(self.cfg.keepalive))
        return {
            "sockets": [listener.sock for listener in self.sockets],
            "threads": self.cfg.threads,
            "connection_limit": self.cfg.worker_connections,
            "channel_timeout": idle,
            # How often silent connections are looked for; waitress's default is every 30 s.
            "cleanup_interval": idle,
            "max_request_header_size": MAX_HEADER_BYTES,
            "max_request_body_size": _max_body_bytes(),
            "asyncore_use_poll": True,  # select() stops at 1024 descriptors
            "ident": "kunci",
            "clear_untrusted_proxy_headers": True,
            **(
                {
                    "trusted_proxy": trusted_proxy,
                    "trusted_proxy_count": 1,
                    "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
                }
                if trusted_proxy
                else {}
            ),
        }

    def _access_logged(self, app: Callable) -> Callable:
        """Wrap `app` so that each request writes one access-log line, when gunicorn has an access log."""
        if not self.cfg.accesslog:
            return app
        access_log = self.log.access_log

        def logged(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
            started = time.monotonic()
            status: list[str] = []

            def recording_start_response(code: str, headers: list, exc_info: Any = None) -> Callable:
                status.append(code.split(" ", 1)[0])
                return start_response(code, headers, exc_info)

            try:
                return app(environ, recording_start_response)
            finally:
                access_log.info(
                    '%s "%s %s %s" %s %.1fms',
                    environ.get("REMOTE_ADDR", "-"),
                    environ.get("REQUEST_METHOD"),
                    environ.get("PATH_INFO"),
                    environ.get("SERVER_PROTOCOL"),
                    status[-1] if status else "-",
                    (time.monotonic() - started) * 1000,
                )

        return logged


def _max_body_bytes() -> int:
    try:
        from django.conf import settings

        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    except Exception:  # not a Django application
        return DEFAULT_MAX_BODY_BYTES
    return limit if limit is not None else DEFAULT_MAX_BODY_BYTES


logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth is N" at every burst
