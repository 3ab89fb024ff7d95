"""Every way a session ends reaches both demo apps, in every worker: the demo stack of `make run`.

The issuer, `manage.py run_outbox`, and app1 and app2 (gunicorn, two workers each) run as real
processes in demo mode, the apps registered by `demo_clients` (tests/e2e/demo_stack.py). After
`/api/logout`, `/api/logout/all`, RP-initiated logout at `/logout` and a refresh-token reuse, each
worker of each app answers the session's access token with 401 `session_ended`: the outbox
delivered a logout token to each app, and each app's other worker read it from the revocation
store. The deadlines are generous (a loaded 2-core machine); bench/run.py `logout` measures them.

With app2 stopped, a logout reaches app1 at once and app2 once it is back: the outbox retries it
with backoff of at most KUNCI_OUTBOX_RETRY_CAP (10 s), so app2 refuses the token within that cap
(plus slack) of answering again. The outage lasts 12 s, in which four deliveries fail, each
waiting twice as long as the last (0.5 s doubling toward the cap); `make bench BENCH_ARGS=logout`
measures a 30 s outage.
"""
from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from relying_party.conf import RELYING_PARTY_DEFAULTS
from tests.e2e.demo_stack import DemoStack, WorkerProbe, refused, wait_until_refused
from tests.e2e.servers import Deployment

# Time allowed for a refusal after an ending; far above the second it takes (bench section 10).
REFUSAL_DEADLINE = 10.0
OUTAGE_SECONDS = 12.0
RETRY_CAP = 10.0
RP_LEEWAY = RELYING_PARTY_DEFAULTS["LEEWAY"]  # the demo apps keep the default
# Time allowed past an exact bound for process scheduling on a loaded 2-core machine.
SLACK = 5.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[DemoStack]:
    deployment = Deployment.create(tmp_path_factory.mktemp("demo-stack"))
    stack = DemoStack(deployment)
    yield stack
    stack.stop()
    deployment.destroy()


def _accepted_then_refused(stack: DemoStack, token: str, end_session) -> None:
    """Both apps accept `token` in every worker; after `end_session()` every worker refuses it."""
    probes = stack.probes(token)
    try:
        end_session()
        wait_until_refused(probes, token, timeout=REFUSAL_DEADLINE)
        # A worker that has refused the token never accepts it again.
        assert all(refused(answer) for probe in probes for answer in probe.answers(token).values())
    finally:
        for probe in probes:
            probe.close()


def test_api_logout_reaches_every_worker_of_both_apps(stack: DemoStack):
    tokens = stack.login()

    _accepted_then_refused(stack, tokens["access"], lambda: stack.logout(tokens))


def test_api_logout_all_reaches_every_worker_of_both_apps_for_every_session(stack: DemoStack):
    first, second = stack.login(), stack.login()

    def logout_all() -> None:
        answer = requests.post(f"{stack.issuer.url}/api/logout/all", headers={"Authorization": f"Bearer {first['access']}"}, timeout=30)
        assert answer.status_code == 200, answer.text

    _accepted_then_refused(stack, first["access"], logout_all)
    probes = [WorkerProbe(server, second["access"]) for server in stack.apps.values()]
    try:
        wait_until_refused(probes, second["access"], timeout=REFUSAL_DEADLINE)
    finally:
        for probe in probes:
            probe.close()


def test_a_reused_refresh_token_ends_the_session_in_every_worker_of_both_apps(stack: DemoStack):
    tokens = stack.login()
    rotated = requests.post(f"{stack.issuer.url}/api/login/refresh", json={"refresh": tokens["refresh"]}, timeout=30)
    assert rotated.status_code == 200, rotated.text

    def reuse() -> None:
        answer = requests.post(f"{stack.issuer.url}/api/login/refresh", json={"refresh": tokens["refresh"]}, timeout=30)
        assert answer.status_code == 401, answer.text

    _accepted_then_refused(stack, rotated.json()["access"], reuse)


def _code_flow(stack: DemoStack, app: str) -> tuple[requests.Session, dict]:
    """Sign the demo user in at /signin and through /authorize and /token as `app`; return the browser and tokens."""
    browser = _sign_in(stack)
    return browser, _authorize(stack, browser, app)


def _sign_in(stack: DemoStack) -> requests.Session:
    """Return a browser signed in to the issuer as the demo user."""
    browser = requests.Session()
    browser.headers["Accept"] = "text/html"
    form = browser.get(f"{stack.issuer.url}/signin", timeout=10)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    signed_in = browser.post(
        f"{stack.issuer.url}/signin", data={"username": "demo", "password": stack.password, "csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{stack.issuer.url}/signin"}, timeout=30,
    )
    assert signed_in.status_code == 200, signed_in.text[:300]
    return browser


def _authorize(stack: DemoStack, browser: requests.Session, app: str) -> dict:
    """Take `browser`'s OP session through /authorize (no password: single sign-on) and /token as `app`; return the tokens."""
    client = stack.credentials(app)
    redirect_uri = f"http://127.0.0.1:{stack.ports[app]}/oidc/callback"
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    authorized = browser.get(f"{stack.issuer.url}/authorize", params={
        "response_type": "code", "client_id": client["client_id"], "redirect_uri": redirect_uri, "scope": "openid",
        "state": "s", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256",
    }, allow_redirects=False, timeout=10)
    assert authorized.status_code == 302, authorized.text[:300]
    code = parse_qs(urlsplit(authorized.headers["Location"]).query)["code"][0]
    tokens = requests.post(f"{stack.issuer.url}/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier,
    }, auth=(client["client_id"], client["client_secret"]), timeout=10)
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


def test_rp_initiated_logout_with_an_id_token_hint_reaches_every_worker_of_both_apps(stack: DemoStack):
    browser, tokens = _code_flow(stack, "app1")

    def rp_initiated_logout() -> None:
        answer = browser.get(f"{stack.issuer.url}/logout", params={
            "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": f"http://127.0.0.1:{stack.ports['app1']}/",
            "state": "out",
        }, allow_redirects=False, timeout=10)
        assert (answer.status_code, answer.headers["Location"]) == (302, f"http://127.0.0.1:{stack.ports['app1']}/?state=out")

    _accepted_then_refused(stack, tokens["access_token"], rp_initiated_logout)


def test_a_revoked_grant_ends_its_tokens_at_its_app_and_a_later_single_sign_on_there_works(stack: DemoStack):
    # RFC 7009 revocation ends app1's grant only: app1 is told (its logout token names the OP
    # session's sid) and refuses the grant's tokens; the browser's OP session goes on, and signing in
    # to app1 again by single sign-on gets tokens of the same sid that app1 takes. They are issued
    # past the logout plus the app's LEEWAY, which keeps refusing tokens minted up to then.
    browser, first = _code_flow(stack, "app1")
    client = stack.credentials("app1")
    probe = WorkerProbe(stack.apps["app1"], first["access_token"])
    try:
        revoked = requests.post(f"{stack.issuer.url}/revoke", data={"token": first["refresh_token"]},
                                auth=(client["client_id"], client["client_secret"]), timeout=10)
        assert revoked.status_code == 200, revoked.text
        wait_until_refused([probe], first["access_token"], timeout=REFUSAL_DEADLINE)
    finally:
        probe.close()
    told = time.time()  # the logout token's iat is at most this
    while time.time() <= told + RP_LEEWAY + 1:
        time.sleep(0.2)

    again = _authorize(stack, browser, "app1")

    assert _sid(again["id_token"]) == _sid(first["id_token"])
    probe = WorkerProbe(stack.apps["app1"], again["access_token"])
    try:
        assert {status for status, _body, _headers in probe.answers(again["access_token"]).values()} == {200}
        assert all(refused(answer) for answer in probe.answers(first["access_token"]).values())
    finally:
        probe.close()


def _sid(id_token: str) -> str:
    return jwt.decode(id_token, options={"verify_signature": False})["sid"]


def test_an_app_that_was_down_refuses_the_token_within_the_retry_cap_of_coming_back(stack: DemoStack):
    tokens = stack.login()
    probes = stack.probes(tokens["access"])
    for probe in probes[1:]:
        probe.close()
    stack.stop_app("app2")

    stack.logout(tokens)
    outage_started = time.monotonic()
    # app1 is told at once; app2's delivery keeps failing while it is down.
    wait_until_refused(probes[:1], tokens["access"], timeout=REFUSAL_DEADLINE)
    while time.monotonic() - outage_started < OUTAGE_SECONDS:
        assert all(refused(answer) for answer in probes[0].answers(tokens["access"]).values())
        time.sleep(1)
    probes[0].close()
    failing = stack.deployment.manage("outbox")
    assert "failing=1" in failing.stdout, failing.stdout

    app2 = stack.start_app("app2")
    back = time.monotonic()
    probe = WorkerProbe(app2, tokens["access"])
    try:
        wait_until_refused([probe], tokens["access"], timeout=RETRY_CAP + SLACK - (time.monotonic() - back))
    finally:
        probe.close()
    print(f"app2 refused the token {time.monotonic() - back:.2f} s after it answered again")
