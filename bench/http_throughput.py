"""Section 2: one protected endpoint under gunicorn, Kunci RS256 over JWKS against the seed's simplejwt.

Section 6 is here too: the same load on Kunci's relying party while a real issuer rotates its keys.
"""
from __future__ import annotations

import base64
import json
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench import fake_issuer
from bench.fake_issuer import AUDIENCE, ISSUER, JWKSServer
from bench.report import Table, median, ratios, verdict
from bench.servers import base_env, load_tool, run_load, start_gunicorn

PATH = "/api/whoami"


def _write(path: Path, tokens: list[str]) -> Path:
    path.write_text("\n".join(tokens) + "\n")
    return path


def throughput_section(smoke: bool) -> list[Table]:
    users, seconds, rounds, warmup = (50, 2, 1, 1) if smoke else (1000, 10, 3, 3)
    key = fake_issuer.new_key()
    secret = fake_issuer.shared_secret()
    with tempfile.TemporaryDirectory(prefix="kunci-bench-") as tmp, JWKSServer(fake_issuer.jwks(key)) as jwks_server:
        var = Path(tmp)
        claims = [fake_issuer.access_claims(i) for i in range(users)]
        rs256 = _write(var / "rs256.txt", [fake_issuer.sign_rs256(key, c) for c in claims])
        hs256 = _write(var / "hs256.txt", [fake_issuer.sign_hs256(secret, c) for c in claims])
        env = {**base_env(var), "KUNCI_ISSUER": ISSUER, "KUNCI_AUDIENCE": AUDIENCE, "KUNCI_JWKS_URL": jwks_server.url}
        variants = {
            "kunci": ("Kunci RS256 over JWKS (relying_party)", "settings.rp",
                      {"KUNCI_RP_NAME": "bench", "KUNCI_KEY_ENCRYPTION_KEY": ""}, rs256),
            "hs256": ("simplejwt HS256, shared secret (seed)", "bench.seed_settings",
                      {"BENCH_SEED_MODE": "hs256", "BENCH_SEED_SECRET": secret}, hs256),
            "jwk_url": ("simplejwt JWK_URL mode (PyJWKClient)", "bench.seed_settings",
                        {"BENCH_SEED_MODE": "jwk_url"}, rs256),
        }
        servers = {}
        try:
            for name, (_, settings, extra, _) in variants.items():
                servers[name] = start_gunicorn(name, settings, {**env, **extra}, var)
            for name, (_, _, _, tokens) in variants.items():
                run_load(servers[name].url, PATH, tokens, warmup)
            names = list(variants)
            results: dict[str, list[dict]] = {name: [] for name in names}
            for r in range(rounds):
                for name in names[r % 3:] + names[: r % 3]:
                    results[name].append(run_load(servers[name].url, PATH, variants[name][3], seconds))
            jwks_gets = jwks_server.gets
        finally:
            for server in servers.values():
                server.stop()

    table = Table(
        f"HTTP: GET {PATH} under gunicorn, {users:,} users' tokens reused",
        ["variant", "req/s (median)", "p50 ms", "p99 ms", "failed", "req/s ÷ HS256"],
    )
    hs = [run["rps"] for run in results["hs256"]]
    for name, (label, *_rest) in variants.items():
        rps = [run["rps"] for run in results[name]]
        table.add(label, f"{median(rps):.0f}", f"{median(run['p50_us'] for run in results[name]) / 1000:.2f}",
                  f"{median(run['p99_us'] for run in results[name]) / 1000:.2f}",
                  sum(run["failed"] for run in results[name]), f"{median(ratios(rps, hs)):.3f}")
    kunci_ratio = median(ratios([run["rps"] for run in results["kunci"]], hs))
    table.add("**target** Kunci ≥ 1.0 × HS256", "", "", "", "", verdict(kunci_ratio, 1.0, at_most=False))
    table.notes.append(
        f"gunicorn `--workers 2 --threads 4` for every variant; load from a separate process ({load_tool()}, "
        f"16 connections, 2 threads) on loopback; {rounds} runs of {seconds} s per variant, interleaved, "
        f"after a {warmup} s warm-up each. Seed variants use simplejwt's JWTStatelessUserAuthentication "
        f"(no database read, like Kunci's ClaimsUser). JWKS GETs (both JWKS-backed servers, all workers): {jwks_gets}."
    )
    return [table]


def _kid(token: str) -> str:
    header = token.split(".", 1)[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


MINT_CODE = """
from django.utils import timezone
from idp import jws, tokens
class User:
    def __init__(self, n): self.pk = n; self.email = "user%d@example.test" % n
    def get_username(self): return "user%d" % self.pk
for n in range(1, USERS + 1):
    claims = tokens.access_claims(User(n), sid="bench%028d" % n, now=timezone.now())
    print(jws.sign(claims, typ=tokens.ACCESS_TYP))
"""


def rotation_section(smoke: bool) -> list[Table]:
    """Section 6: three rotations on a real issuer while the relying party is under load."""
    from tests.e2e.servers import Deployment, start_issuer

    users, seconds = (50, 20) if smoke else (1000, 30)
    rotate_at = [seconds * f for f in (0.2, 0.45, 0.7)]
    password = "bench correct horse battery staple"
    with tempfile.TemporaryDirectory(prefix="kunci-bench-") as tmp:
        var = Path(tmp)
        deployment = Deployment.create(
            var, KUNCI_JWKS_MAX_AGE="2", KUNCI_PREPUBLICATION_SECONDS="3", KUNCI_SIGNING_KEY_CACHE_SECONDS="1",
            KUNCI_JWKS_CACHE_SECONDS="0.5",
        )
        issuer = rp = None
        try:
            issuer = start_issuer(deployment)
            deployment.manage("createsuperuser", "--noinput", "--username", "bench", "--email", "bench@example.test",
                              DJANGO_SUPERUSER_PASSWORD=password)
            shell = deployment.manage("shell", "-c", MINT_CODE.replace("USERS", str(users)))
            # Django's shell also prints a line about its automatic imports.
            minted = [word for word in shell.stdout.split() if word.startswith("eyJ") and word.count(".") == 2]
            tokens = _write(var / "tokens.txt", minted)
            rp_env = {
                **deployment.env, "KUNCI_RP_NAME": "bench", "KUNCI_ISSUER": issuer.url,
                "KUNCI_JWKS_URL": f"{issuer.url}/.well-known/jwks.json", "KUNCI_KEY_ENCRYPTION_KEY": "",
                "DATABASE_URL": "", "KUNCI_RP_MIN_CACHE_TTL": "1",
            }
            rp = start_gunicorn("rp", "settings.rp", rp_env, var)
            run_load(rp.url, PATH, tokens, 2)
            rotations: list[tuple[float, str]] = []
            login = requests.post(f"{issuer.url}/api/login", json={"username": "bench", "password": password}, timeout=10)
            refresh_token = [login.json()["refresh"]]

            def loaded_run(rotate: bool) -> tuple[dict, dict]:
                probe = {"requests": 0, "failed": 0, "kids": set(), "errors": []}
                stop = threading.Event()

                def prober() -> None:
                    # Fresh tokens all along: each refresh is signed by whatever key is active by then.
                    session = requests.Session()
                    while not stop.is_set():
                        answer = session.post(f"{issuer.url}/api/login/refresh", json={"refresh": refresh_token[0]}, timeout=10)
                        if answer.status_code != 200:
                            probe["errors"].append(f"refresh {answer.status_code} {answer.text[:200]}")
                            return
                        pair = answer.json()
                        refresh_token[0] = pair["refresh"]
                        seen = session.get(rp.url + PATH, headers={"Authorization": f"Bearer {pair['access']}"}, timeout=10)
                        probe["requests"] += 1
                        if seen.status_code == 200:
                            probe["kids"].add(_kid(pair["access"]))
                        else:
                            probe["failed"] += 1
                            probe["errors"].append(f"RP {seen.status_code} {seen.text[:200]}")
                        stop.wait(0.2)

                def rotator(started: float) -> None:
                    for at in rotate_at:
                        stop.wait(max(0.0, started + at - time.monotonic()))
                        result = deployment.manage("rotate_keys", check=False)
                        rotations.append((time.time(), (result.stdout + result.stderr).strip().splitlines()[0]))

                threads = [threading.Thread(target=prober)]
                if rotate:
                    threads.append(threading.Thread(target=rotator, args=(time.monotonic(),)))
                for thread in threads:
                    thread.start()
                try:
                    loaded = run_load(rp.url, PATH, tokens, seconds)
                finally:
                    stop.set()
                    for thread in threads:
                        thread.join()
                return loaded, probe

            # Controls before and after bracket the rotation run: the machine is shared and noisy.
            control, control_probe = loaded_run(rotate=False)
            loaded, probe = loaded_run(rotate=True)
            control_after, control_probe_after = loaded_run(rotate=False)
        finally:
            for server in (rp, issuer):
                if server is not None:
                    server.stop()
            deployment.destroy()

    # The first and last seconds of a run are partial; leave them out of per-second figures.
    typical = median(count for run in (control, control_after) for _, count in run["per_second"][1:-1])
    control_rps = (control["rps"] + control_after["rps"]) / 2
    per_second = dict(loaded["per_second"][1:-1])
    dips = []
    for when, _ in rotations:
        window = [per_second.get(int(when) + d) for d in range(-1, 4)]
        window = [count for count in window if count is not None]
        if window:
            dips.append(min(window) / typical)
    table = Table(
        "Key rotation under load (relying party, 3 × `manage.py rotate_keys`)",
        ["run", "requests", "req/s", "p99 ms", "failed", "note"],
    )
    for label, run, run_probe in (("control before: same load and probe, no rotation", control, control_probe),
                                  ("control after", control_after, control_probe_after)):
        table.add(label, run["requests"], f"{run['rps']:.0f}", f"{run['p99_us'] / 1000:.2f}",
                  run["failed"] + run_probe["failed"],
                  f"probe: {run_probe['requests']} fresh tokens, {run_probe['failed']} failed")
    table.add("3 rotations during the run", loaded["requests"], f"{loaded['rps']:.0f}",
              f"{loaded['p99_us'] / 1000:.2f}", loaded["failed"],
              f"req/s ÷ mean of controls {loaded['rps'] / control_rps:.3f}; worst second near each rotation ÷ controls' median second: "
              + (", ".join(f"{d:.2f}" for d in dips) or "n/a"))
    table.add("probe: refresh at the issuer, then the fresh token at the RP (every 0.2 s)", probe["requests"], "", "",
              probe["failed"], f"{len(probe['kids'])} distinct signing kids accepted")
    failed = loaded["failed"] + probe["failed"]
    errors = control_probe["errors"] + probe["errors"] + control_probe_after["errors"]
    clean = failed == 0 and not errors and len(rotations) == 3 \
        and all(line.startswith("rotated") for _, line in rotations)
    table.add("**target** 0 failed requests, 3 rotations", "", "", "", failed, "met" if clean else "**missed**")
    table.notes.append(
        f"Issuer: KUNCI_JWKS_MAX_AGE=2, KUNCI_PREPUBLICATION_SECONDS=3, KUNCI_SIGNING_KEY_CACHE_SECONDS=1, "
        f"KUNCI_JWKS_CACHE_SECONDS=0.5; "
        f"relying party KUNCI_RP_MIN_CACHE_TTL=1. {seconds} s runs, {users:,} users' tokens, "
        f"rotations at {', '.join(f'{t:g}' for t in rotate_at)} s: "
        + "; ".join(line for _, line in rotations)
        + ". rotate_keys runs as a separate process on the same 2 cores, so part of any dip is its own CPU."
    )
    if errors:
        table.notes.append("Probe errors: " + " | ".join(errors[:3]))
    return [table]
