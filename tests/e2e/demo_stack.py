"""The demo stack as `make run` starts it, on free loopback ports, and a probe of every worker of an app.

`DemoStack` is the issuer, `manage.py run_outbox` and app1 and app2 (each gunicorn with two
workers), in demo mode, the demo user created by `demo_user` and both apps registered by
`demo_clients`: confidential, trusted, accepting the shared audience, with a back-channel logout
URI. `WorkerProbe` holds one keep-alive connection per worker of an app (which worker holds which
connection is read from /proc), so a caller can ask each worker, not only the one that took the
logout token, whether it still accepts an access token.
"""
from __future__ import annotations

import http.client
import json
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from tests.e2e.servers import Deployment, Server, free_port, start_issuer, start_outbox_worker, start_relying_party

APP_NAMES = ("app1", "app2")


def worker_pids(master: int) -> set[int]:
    """Return the pids of the children of gunicorn master `master`: its workers."""
    return {int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()}


def serving_pid(connection: http.client.HTTPConnection, master: int, server_port: int) -> int | None:
    """Return the pid of the worker holding the server side of `connection`, read from /proc."""
    client_port = connection.sock.getsockname()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1].split(":")[1], fields[2].split(":")[1]
        if int(local, 16) == server_port and int(remote, 16) == client_port:
            inode = fields[9]
    for pid in worker_pids(master):
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]" for fd in os.listdir(f"/proc/{pid}/fd")):
                return pid
        except OSError:
            continue
    return None


def whoami(connection: http.client.HTTPConnection, token: str) -> tuple[int, dict, http.client.HTTPMessage]:
    """GET /api/whoami with `token` on `connection`; return the status, the JSON body and the headers."""
    connection.request("GET", "/api/whoami", headers={"Authorization": f"Bearer {token}"})
    response = connection.getresponse()
    return response.status, json.loads(response.read()), response.headers


class WorkerProbe:
    """One keep-alive connection to each worker of the gunicorn server `server`."""

    def __init__(self, server: Server, token: str, *, timeout: float = 60) -> None:
        """Open connections until every worker holds one; each has answered `token` once."""
        self.server = server
        self.port = urlsplit(server.url).port
        self.master = server.process.pid
        self.connections: dict[int, http.client.HTTPConnection] = {}
        workers = worker_pids(self.master)
        deadline = time.monotonic() + timeout
        while set(self.connections) != workers and time.monotonic() < deadline:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            whoami(connection, token)
            pid = serving_pid(connection, self.master, self.port)
            if pid is not None and pid not in self.connections:
                self.connections[pid] = connection
            else:
                connection.close()
        if set(self.connections) != workers:
            self.close()
            raise AssertionError(f"{server.name}: only workers {sorted(self.connections)} of {sorted(workers)} were reached")

    def answers(self, token: str) -> dict[int, tuple[int, dict, http.client.HTTPMessage]]:
        """Ask every worker about `token`; return each one's answer by its pid."""
        answers = {}
        for pid, connection in self.connections.items():
            answers[pid] = whoami(connection, token)
            # Still the same worker: the keep-alive connection was not dropped and reopened elsewhere.
            if serving_pid(connection, self.master, self.port) != pid:
                raise AssertionError(f"{self.server.name}: the connection pinned to worker {pid} moved")
        return answers

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()


def refused(answer: tuple[int, dict, http.client.HTTPMessage]) -> bool:
    """The answer is back-channel logout's refusal: 401 session_ended with an invalid_token challenge."""
    status, body, headers = answer
    return status == 401 and body.get("code") == "session_ended" and 'error="invalid_token"' in headers.get("WWW-Authenticate", "")


def wait_until_refused(probes: list[WorkerProbe], token: str, *, timeout: float) -> float:
    """Ask every worker of every probe until each refuses `token`; return the seconds that took.

    An answer other than 200 or the refusal raises at once; so does a worker that accepts the
    token again after refusing it, or `timeout` seconds passing.
    """
    started = time.monotonic()
    done: set[tuple[str, int]] = set()
    expected = {(probe.server.name, pid) for probe in probes for pid in probe.connections}
    while done != expected:
        if time.monotonic() - started > timeout:
            raise AssertionError(f"within {timeout} s only these workers refused the token: {sorted(done)}")
        for probe in probes:
            for pid, answer in probe.answers(token).items():
                if refused(answer):
                    done.add((probe.server.name, pid))
                elif answer[0] == 200 and (probe.server.name, pid) not in done:
                    continue
                else:
                    raise AssertionError(f"{probe.server.name} worker {pid} answered {answer[0]} {answer[1]}")
    return time.monotonic() - started


class DemoStack:
    """The issuer, the outbox worker, app1 and app2 (two workers each), set up as `make run` does."""

    def __init__(self, deployment: Deployment, *, app_workers: int = 2, **env: str) -> None:
        self.deployment = deployment
        self.app_workers = app_workers
        self.issuer = start_issuer(deployment, KUNCI_DEMO="1", **env)
        self.ports = {name: free_port() for name in APP_NAMES}
        self.servers: list[Server] = [self.issuer]
        try:
            deployment.manage("demo_user")
            self.password = (deployment.var_dir / "demo-credentials").read_text().splitlines()[1]
            deployment.manage(
                "demo_clients", *(arg for name, port in self.ports.items() for arg in ("--app", f"{name}=http://127.0.0.1:{port}")),
            )
            self.outbox = start_outbox_worker(deployment)
            self.servers.append(self.outbox)
            self.apps: dict[str, Server] = {}
            for name in APP_NAMES:
                self.start_app(name)
        except BaseException:
            self.stop()
            raise

    def start_app(self, name: str) -> Server:
        """Start demo app `name` on its port (again, after `stop_app`)."""
        server = start_relying_party(self.deployment, name, self.issuer.url, port=self.ports[name], workers=self.app_workers)
        self.apps[name] = server
        self.servers.append(server)
        return server

    def stop_app(self, name: str) -> None:
        server = self.apps.pop(name)
        server.stop()
        self.servers.remove(server)

    def credentials(self, name: str) -> dict[str, str]:
        """Return demo app `name`'s client_id and client_secret, as `demo_clients` kept them."""
        return json.loads((self.deployment.var_dir / f"demo-client-{name}.json").read_text())

    def login(self) -> dict[str, str]:
        """Sign the demo user in at /api/login; return the access and refresh tokens."""
        answer = requests.post(f"{self.issuer.url}/api/login", json={"username": "demo", "password": self.password}, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def logout(self, tokens: dict[str, str]) -> None:
        """End the session of `tokens` at /api/logout."""
        answer = requests.post(f"{self.issuer.url}/api/logout", json={"refresh": tokens["refresh"]},
                               headers={"Authorization": f"Bearer {tokens['access']}"}, timeout=30)
        assert answer.status_code == 200, answer.text

    def probes(self, token: str) -> list[WorkerProbe]:
        """Pin a connection to every worker of both apps; each has accepted `token` (200)."""
        probes = []
        try:
            for server in self.apps.values():
                probes.append(WorkerProbe(server, token))
                for pid, answer in probes[-1].answers(token).items():
                    assert answer[0] == 200, (server.name, pid, answer[1])
        except BaseException:
            for probe in probes:
                probe.close()
            raise
        return probes

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()
