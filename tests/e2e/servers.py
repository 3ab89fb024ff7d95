"""Start Kunci's issuer, relying parties and outbox workers as real processes, and test receivers, on free loopback ports."""
from __future__ import annotations

import http.server
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import requests

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
# The serving arrangement of `make serve` (see the Makefile): gunicorn's processes running waitress,
# which hands Django only complete requests. No control socket: gunicorn's default lives in $HOME,
# shared by every server.
SERVER_ARGS = ("--worker-class", "settings.worker.WaitressWorker", "--keep-alive", "5", "--no-control-socket")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Deployment:
    """One issuer's database and secrets, shared by its servers and management commands."""

    var_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    log_files: list[Path] = field(default_factory=list)
    _pg_database: str | None = None

    @classmethod
    def create(cls, var_dir: Path, **overrides: str) -> "Deployment":
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("KUNCI_", "DJANGO_")) and key != "DATABASE_URL"
        }
        env.update(
            {
                "KUNCI_VAR_DIR": str(var_dir),
                "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
                "KUNCI_KEY_ENCRYPTION_KEY": secrets.token_urlsafe(32),
                "PYTHONUNBUFFERED": "1",
                # The servers speak plain HTTP on loopback.
                "KUNCI_HTTPS": "0",
            }
        )
        deployment = cls(var_dir=var_dir, env=env)
        base_url = os.environ.get("DATABASE_URL")
        if base_url:
            deployment._pg_database = f"kunci_e2e_{uuid.uuid4().hex[:12]}"
            _pg_admin(base_url, f'CREATE DATABASE "{deployment._pg_database}"')
            env["DATABASE_URL"] = base_url.rsplit("/", 1)[0] + "/" + deployment._pg_database
        env.update(overrides)
        return deployment

    def manage(self, *args: str, settings: str = "settings.idp", check: bool = True, **env: str) -> subprocess.CompletedProcess:
        """Run a management command against this deployment and return its result."""
        return subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env={**self.env, "DJANGO_SETTINGS_MODULE": settings, **env},
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def destroy(self) -> None:
        if self._pg_database:
            _pg_admin(os.environ["DATABASE_URL"], f'DROP DATABASE IF EXISTS "{self._pg_database}" WITH (FORCE)')


def sessions_of(deployment: Deployment, username: str) -> list[dict]:
    """The OP sessions of `username` as the issuer's database holds them, oldest first."""
    script = (
        "import json; from idp.models import LoginSession; "
        f"print(json.dumps([dict(sid=s.sid, origin=s.origin, ended=s.ended_at is not None, reason=s.end_reason) "
        f"for s in LoginSession.objects.filter(user__username={username!r}).order_by('created_at')]))"
    )
    # The last line: Django's shell may first say what it imported.
    return json.loads(deployment.manage("shell", "-c", script).stdout.strip().splitlines()[-1])


def _pg_admin(url: str, statement: str) -> None:
    import psycopg

    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(statement)


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(
    deployment: Deployment,
    name: str,
    settings: str,
    health_path: str,
    port: int | None = None,
    workers: int = 1,
    threads: int = 8,
    access_log: bool = True,
    **env: str,
) -> Server:
    """Start gunicorn with `settings` on a free port and wait until `health_path` answers."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = deployment.var_dir / f"{name}-{port}.log"
    deployment.log_files.append(log_path)
    process = subprocess.Popen(
        [
            PYTHON, "-m", "gunicorn", "settings.wsgi:application",
            "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers),
            "--threads", str(threads),
            *(["--access-logfile", "-"] if access_log else []),
            *SERVER_ARGS,
            "--graceful-timeout", "2",
        ],
        cwd=ROOT,
        env={**deployment.env, "DJANGO_SETTINGS_MODULE": settings, **env},
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
    )
    server = Server(name, url, process, log_path)
    # Generous: on a loaded 2-core machine a cold gunicorn and Django can take several seconds.
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{server.log()}")
            try:
                requests.get(url + health_path, timeout=5, allow_redirects=False)
                return server
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"{name} did not answer within 60 s:\n{server.log()}")
    except BaseException:
        server.stop()  # never leave a server behind a failed start
        raise


def start_issuer(deployment: Deployment, port: int | None = None, *, workers: int = 1, threads: int = 8, **env: str) -> Server:
    """Migrate, ensure keys and start the issuer; its ISSUER is its own URL."""
    port = port or free_port()
    issuer_env = {"KUNCI_ISSUER": f"http://127.0.0.1:{port}", **env}
    deployment.env.update(issuer_env)
    deployment.manage("migrate", "--noinput", "-v", "0")
    deployment.manage("ensure_keys")
    return start_server(deployment, "issuer", "settings.idp", "/.well-known/jwks.json", port=port, workers=workers, threads=threads)


def start_relying_party(
    deployment: Deployment, name: str, issuer_url: str, port: int | None = None, *, workers: int = 1, threads: int = 8, **env: str
) -> Server:
    """Migrate and start a relying party that trusts `issuer_url`."""
    rp_env = {
        "KUNCI_RP_NAME": name,
        "KUNCI_ISSUER": issuer_url,
        "KUNCI_JWKS_URL": f"{issuer_url}/.well-known/jwks.json",
        # A relying party never sees the issuer's secrets or its database.
        "KUNCI_KEY_ENCRYPTION_KEY": "",
        "DATABASE_URL": "",
        **env,
    }
    deployment.manage("migrate", "--noinput", "-v", "0", settings="settings.rp", **rp_env)
    return start_server(deployment, name, "settings.rp", "/api/health", port=port, workers=workers, threads=threads, **rp_env)


class JWKSProxy:
    """Serve an issuer's JWKS from a local port, counting fetches; it can be made slow or down.

    Relying parties under test point their JWKS_URL here, so the serving side counts every fetch.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.fetches = 0
        self.delay = 0.0
        self.down = False
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                with proxy._lock:
                    proxy.fetches += 1
                if proxy.delay:
                    time.sleep(proxy.delay)
                if proxy.down:
                    # Like a stopped issuer: the connection closes with no answer at all.
                    self.close_connection = True
                    return
                upstream = requests.get(proxy.upstream, timeout=5)
                body = upstream.content
                self.send_response(upstream.status_code)
                for name in ("Content-Type", "Cache-Control", "ETag"):
                    if name in upstream.headers:
                        self.send_header(name, upstream.headers[name])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_outbox_worker(deployment: Deployment, name: str = "outbox", **env: str) -> Server:
    """Start `manage.py run_outbox` against `deployment` and wait until it is delivering."""
    log_path = deployment.var_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
    deployment.log_files.append(log_path)
    process = subprocess.Popen(
        [PYTHON, "manage.py", "run_outbox", "--name", name],
        cwd=ROOT,
        env={**deployment.env, "DJANGO_SETTINGS_MODULE": "settings.idp", **env},
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
    )
    worker = Server(name, "", process, log_path)
    deadline = time.monotonic() + 60
    while "delivering" not in worker.log():
        if process.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            raise RuntimeError(f"{name} did not start:\n{worker.log()}")
        time.sleep(0.1)
    return worker


def kill_hard(server: Server) -> None:
    """SIGKILL `server`'s process and its children, as a crash or the OOM killer would: nothing runs its cleanup."""
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    pids = [int(pid) for pid in children.read_text().split()] if children.exists() else []
    for pid in [server.process.pid, *pids]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    server.process.wait(timeout=10)


@dataclass
class Delivery:
    """One POST a LogoutReceiver got: its path, headers and form, and whether it was answered."""

    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]
    status: int
    answered: bool = False


class LogoutReceiver:
    """A back-channel logout receiver on a loopback port that records every POST it gets.

    `status` is what it answers (200 by default); `hold()` makes it keep each request open until
    `release()`; `stop()` closes its port (connection refused), `start()` opens the same port again.
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.status = 200
        self.deliveries: list[Delivery] = []
        self._changed = threading.Condition()
        self._held: threading.Event | None = None
        self.server = None
        self.start()

    def start(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                with receiver._changed:
                    delivery = Delivery(self.path, dict(self.headers), parse_qs(body), receiver.status)
                    receiver.deliveries.append(delivery)
                    receiver._changed.notify_all()
                    held = receiver._held
                if held is not None:
                    held.wait(60)
                self.send_response(delivery.status)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", "0")
                self.end_headers()
                with receiver._changed:
                    delivery.answered = True
                    receiver._changed.notify_all()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def hold(self) -> None:
        self._held = threading.Event()

    def release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.set()

    def wait_until(self, done: Callable[[list[Delivery]], bool], *, timeout: float = 30) -> list[Delivery]:
        """Wait until `done(deliveries)` holds; return the deliveries so far."""
        with self._changed:
            if not self._changed.wait_for(lambda: done(self.deliveries), timeout=timeout):
                raise AssertionError(f"the receiver's deliveries did not arrive within {timeout} s: {self.deliveries}")
            return list(self.deliveries)
