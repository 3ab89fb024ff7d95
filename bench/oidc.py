"""Section 9: the OpenID Provider's endpoints beside the token API they sit next to.

Three ratios, each of two requests measured side by side in one worker process, run by run:
a code exchange at /token against a refresh at /api/login/refresh, an SSO /authorize (the browser is
already signed in, so no password and no RSA) against a code exchange, and /userinfo against /api/me.
Requests go through Django's test client in process (the full middleware stack and views, no
sockets), which leaves out the HTTP server's share, equal for both sides of each ratio, and its noise.
Two baselines, timed in the same runs and read by no ratio, show what an SSO /authorize costs at the
least: the cheapest view through the same client and middleware (/healthz), and the /authorize's
database work alone (its OP session and the sealed code, without HTTP).

`oidc_section()` runs in the bench process and starts this file as a worker (`--worker oidc`) with
bench/issuer.py's `run_worker`: bench settings on a fresh SQLite database, and on a fresh PostgreSQL
database when one is reachable.
"""
from __future__ import annotations

import argparse
import base64
import cProfile
import hashlib
import io
import json
import pstats
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.issuer import PASSWORD, _ms, _setup, pg_available, run_worker  # noqa: E402
from bench.report import Table, interleaved, median, ratios, spread, verdict  # noqa: E402

REDIRECT_URI = "https://rp.example/callback"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 Appendix B

# (key, numerator, denominator, label, target, at_most); each ratio is of milliseconds per request.
RATIOS = [
    ("exchange_rate", "refresh", "exchange", "code exchange at /token: rate ÷ /api/login/refresh rate", 0.7, False),
    ("authorize_time", "authorize", "exchange", "SSO /authorize (signed-in browser): time ÷ code exchange time", 0.2, True),
    ("userinfo_cost", "userinfo", "me", "/userinfo: cost ÷ /api/me cost", 1.2, True),
]
LABELS = {
    "exchange": "POST /token, authorization_code + PKCE, client_secret_basic",
    "refresh": "POST /api/login/refresh",
    "authorize": "GET /authorize, browser already signed in (SSO)",
    "userinfo": "GET /userinfo, Bearer access token from /token",
    "me": "GET /api/me, Bearer access token from /api/login",
    # Two baselines, which no ratio reads: what the SSO /authorize costs at least.
    "floor": "baseline: GET /healthz from the signed-in browser (same client and middleware, no database)",
    "sso_statements": "baseline: the SSO /authorize's OP session and code alone (no HTTP)",
}


# --- the bench process side --------------------------------------------------------------------


def oidc_section(smoke: bool) -> list[Table]:
    args = ["oidc", "--rounds", "2" if smoke else "7", "--ops", "5" if smoke else "100"]
    dbs = ["sqlite"] + (["postgres"] if pg_available() else [])
    results = {db: run_worker(db, *args, script=Path(__file__)) for db in dbs}
    table = Table("OpenID Provider endpoints vs the token API, one thread in process (Django test client)",
                  ["database", "measure", "ratio (median of runs)", "runs' range", "verdict"])
    times = Table("OpenID Provider endpoints: time per request",
                  ["database", "request", "ms/request (median)", "runs' range", "SQL statements"])
    for db, data in results.items():
        ms = data["ms"]
        for key, numerator, denominator, label, target, at_most in RATIOS:
            series = ratios(ms[numerator], ms[denominator])
            table.add(db, label, f"{median(series):.3f}", spread(series), verdict(median(series), target, at_most=at_most))
        for name, label in LABELS.items():
            times.add(db, label, f"{median(ms[name]):.2f}", spread(ms[name]), len(data["queries"][name]))
    table.notes.append(
        f"In process through Django's test client (all middleware and views, no HTTP server or sockets). "
        f"{args[2]} runs, interleaved in a rotating order; {args[4]} requests per variant per run. Every code is "
        "issued through the real /authorize before the run that redeems it, refresh tokens form one chain (each "
        "refresh presents the token the previous one returned), access tokens come from a real /token and "
        "/api/login. A rate ratio is the inverse of the time ratio."
    )
    if "postgres" not in results:
        table.notes.append("PostgreSQL was not reachable: its rows are missing.")
    return [table, times]


# --- the worker side ---------------------------------------------------------------------------


class Flows:
    """A signed-in browser, a registered client, and one request of each measured kind."""

    def __init__(self, user: object) -> None:
        from importlib import import_module

        from django.conf import settings
        from django.test import Client as TestClient
        from django.test import RequestFactory

        from idp import sessions
        from idp.oauth.models import AuthMethod, Client

        # SERVER_NAME: a host in ALLOWED_HOSTS, without django.test's setup_test_environment
        # (which would instrument template rendering and skew the figures).
        self.browser = TestClient(SERVER_NAME="127.0.0.1")
        self.api = TestClient(SERVER_NAME="127.0.0.1")
        response = self.browser.post("/signin", {"username": "bench", "password": PASSWORD})
        assert response.status_code == 302, response.content
        self.factory = RequestFactory()
        self.session_store = import_module(settings.SESSION_ENGINE).SessionStore
        self.session_key = self.browser.cookies[settings.SESSION_COOKIE_NAME].value
        client = Client(name="Bench RP", redirect_uris=[REDIRECT_URI], trusted=True, accepts_shared_audience=True,
                        token_endpoint_auth_method=AuthMethod.CLIENT_SECRET_BASIC)
        secret = client.set_new_secret()
        client.save()
        self.registered = client
        self.basic = "Basic " + base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
        self.params = {
            "response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT_URI,
            "scope": "openid profile email", "state": "af0ifjsldkj", "nonce": "n-0S6_WzA2Mj",
            "code_challenge": challenge, "code_challenge_method": "S256",
        }
        self.codes: list[str] = []
        self.refresh_token = sessions.start_session(user).refresh
        self.me_bearer = "Bearer " + sessions.start_session(user).access
        self.userinfo_bearer = "Bearer " + self._token(self.new_code())["access_token"]

    def new_code(self) -> str:
        response = self.browser.get("/authorize", self.params)
        assert response.status_code == 302, (response.status_code, response.content[:300])
        return parse_qs(urlsplit(response["Location"]).query)["code"][0]

    def _token(self, code: str) -> dict:
        body = urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
                          "code_verifier": VERIFIER})
        response = self.api.post("/token", body, content_type="application/x-www-form-urlencoded",
                                 HTTP_AUTHORIZATION=self.basic)
        assert response.status_code == 200, response.content
        return response.json()

    # The measured requests.

    def exchange(self) -> None:
        self._token(self.codes.pop())

    def refresh(self) -> None:
        response = self.api.post("/api/login/refresh", {"refresh": self.refresh_token}, content_type="application/json")
        assert response.status_code == 200, response.content
        self.refresh_token = response.json()["refresh"]

    def authorize(self) -> None:
        self.new_code()

    def userinfo(self) -> None:
        response = self.api.get("/userinfo", HTTP_AUTHORIZATION=self.userinfo_bearer)
        assert response.status_code == 200, response.content

    def me(self) -> None:
        response = self.api.get("/api/me", HTTP_AUTHORIZATION=self.me_bearer)
        assert response.status_code == 200, response.content

    # The baselines.

    def floor(self) -> None:
        """Request the cheapest view through the same test client and middleware, with the browser's cookies."""
        response = self.browser.get("/healthz")
        assert response.status_code == 200, response.content

    def sso_statements(self) -> None:
        """Run an SSO /authorize's database work through the functions it calls, without HTTP: the
        browser's OP session with its user (`current_op_session`, which reads the Django session's
        row only when this process has not lately), and the sealed code (`issue_code`)."""
        from django.contrib.auth.models import AnonymousUser
        from django.utils import timezone

        from idp.accounts.browser import current_op_session
        from idp.oauth.codes import issue_code

        request = self.factory.get("/authorize")
        request.session, request.user = self.session_store(self.session_key), AnonymousUser()
        session = current_op_session(request)
        assert session is not None
        issue_code(client=self.registered, session=session, redirect_uri=REDIRECT_URI, scope=self.params["scope"],
                   nonce=self.params["nonce"], code_challenge=self.params["code_challenge"],
                   auth_time=session.auth_time, now=timezone.now())


def _queries(flows: Flows, calls: dict) -> dict[str, list[str]]:
    """The SQL each request runs, captured once per variant after the timed runs."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    flows.codes = [flows.new_code()]
    captured = {}
    for name, call in calls.items():
        with CaptureQueriesContext(connection) as context:
            call()
        captured[name] = [query["sql"] for query in context.captured_queries]
    return captured


def worker_oidc(rounds: int, ops: int, profile: str | None) -> dict:
    flows = Flows(_setup())
    calls = {name: getattr(flows, name) for name in LABELS}
    flows.codes = [flows.new_code() for _ in range(3)]
    for call in calls.values():  # warm: connections, caches, the signing key
        for _ in range(3):
            call()

    def run(name: str) -> float:
        if name == "exchange":  # codes outside the timed loop, fresh (a code lives 60 s)
            flows.codes = [flows.new_code() for _ in range(ops)]
        return _ms(calls[name], ops)

    result: dict = {"ms": interleaved({name: (lambda name=name: run(name)) for name in calls}, rounds)}
    result["queries"] = _queries(flows, calls)
    if profile:
        if profile == "exchange":
            flows.codes = [flows.new_code() for _ in range(ops)]
        profiler = cProfile.Profile()
        profiler.runcall(_ms, calls[profile], ops)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
        result["profile"] = out.getvalue()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", choices=["oidc"], required=True)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--ops", type=int, default=100)
    parser.add_argument("--profile", choices=list(LABELS), help="also profile one variant (cProfile, cumulative)")
    args = parser.parse_args()
    print("BENCH_JSON " + json.dumps(worker_oidc(args.rounds, args.ops, args.profile)))


if __name__ == "__main__":
    main()
