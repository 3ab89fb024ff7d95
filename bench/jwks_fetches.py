"""Section 3: how often the relying party fetches the JWKS, counted by the JWKS server itself."""
from __future__ import annotations

import json
import os
import threading
import time

from bench import fake_issuer
from bench.fake_issuer import AUDIENCE, ISSUER, JWKSServer, b64url
from bench.report import Table, verdict
from relying_party.conf import RELYING_PARTY_DEFAULTS


class FakeClock:
    """A clock that moves only when told to; both the cache's monotonic clock and the verifier's wall clock."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _inline(work) -> None:
    # Under a fake clock a refresh must not overlap simulated time: run it where it is triggered.
    work()


def _forged(kid: str, claims: dict) -> str:
    """Return a token naming `kid` with a junk signature: an unknown kid is refused before any crypto."""
    header = b64url(json.dumps({"alg": "RS256", "kid": kid, "typ": "at+jwt"}).encode())
    payload = b64url(json.dumps(claims).encode())
    return f"{header}.{payload}.{b64url(os.urandom(256))}"


def _verifier(url: str, **cache_options):
    from relying_party.jwks import JWKSCache
    from relying_party.verifier import TokenVerifier

    clock = cache_options.pop("clock", None)
    cache = JWKSCache(url, **cache_options, **({"clock": clock} if clock else {}))
    return TokenVerifier(jwks=cache, issuer=ISSUER, audience=AUDIENCE, **({"clock": clock} if clock else {}))


def cold_start(key, tokens: list[str], runs: int) -> list[int]:
    """Return the GETs of each run: 64 threads verify at once against a cold cache."""
    counts = []
    for _ in range(runs):
        # 50 ms of server latency keeps the fetch in flight while all 64 callers arrive.
        with JWKSServer(fake_issuer.jwks(key), delay=0.05) as server:
            verifier = _verifier(server.url)
            barrier = threading.Barrier(len(tokens))
            failures: list[BaseException] = []

            def call(token: str) -> None:
                barrier.wait()
                try:
                    verifier.verify(token)
                except BaseException as e:  # noqa: BLE001 - reported below
                    failures.append(e)

            threads = [threading.Thread(target=call, args=(token,)) for token in tokens]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if failures:
                raise RuntimeError(f"cold start: {len(failures)} verifications failed: {failures[0]!r}")
            counts.append(server.gets)
    return counts


def steady(key, seconds: float, step: float, ttl: int, refresh_ahead: float) -> tuple[int, int]:
    """Return (GETs, full 200 bodies) over `seconds` of simulated steady load on a JWKS with max-age `ttl`."""
    clock = FakeClock(time.time())
    tokens = [fake_issuer.sign_rs256(key, fake_issuer.access_claims(i, now=clock.now)) for i in range(20)]
    with JWKSServer(fake_issuer.jwks(key), max_age=ttl) as server:
        verifier = _verifier(server.url, clock=clock, min_cache_ttl=1, refresh_ahead=refresh_ahead,
                             run_in_background=_inline)
        start = clock.now
        i = 0
        while clock.now < start + seconds:
            verifier.verify(tokens[i % len(tokens)])
            i += 1
            clock.now = start + i * step
        return server.gets, verifier.jwks.stats().fetches - verifier.jwks.stats().not_modified


def flood_real_time(key, n: int, threads: int) -> tuple[int, float, float]:
    """Return (GETs during the flood, its duration in s, the cooldown) for `n` random-kid tokens."""
    claims = fake_issuer.access_claims(1)
    tokens = [_forged(b64url(os.urandom(32)), claims) for _ in range(n)]
    with JWKSServer(fake_issuer.jwks(key)) as server:
        verifier = _verifier(server.url)
        verifier.verify(fake_issuer.sign_rs256(key, claims))
        before = server.gets
        chunks = [tokens[i::threads] for i in range(threads)]

        def flood(chunk: list[str]) -> None:
            for token in chunk:
                try:
                    verifier.verify(token)
                except Exception:  # noqa: BLE001 - every one of them is refused
                    pass

        workers = [threading.Thread(target=flood, args=(chunk,)) for chunk in chunks]
        started = time.monotonic()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        duration = time.monotonic() - started
        return server.gets - before, duration, verifier.jwks._cooldown


def flood_simulated(key, n: int, seconds: float, cooldown: float) -> int:
    """Return the GETs caused by `n` random-kid tokens spread over `seconds` of simulated time."""
    clock = FakeClock(time.time())
    claims = fake_issuer.access_claims(1, now=clock.now)
    tokens = [_forged(b64url(os.urandom(32)), claims) for _ in range(n)]
    # max-age 3600: no scheduled refresh falls inside the flood, so every GET is the flood's.
    with JWKSServer(fake_issuer.jwks(key), max_age=3600) as server:
        verifier = _verifier(server.url, clock=clock, refetch_cooldown=cooldown, run_in_background=_inline)
        verifier.verify(fake_issuer.sign_rs256(key, claims))
        before, start = server.gets, clock.now
        for i, token in enumerate(tokens):
            clock.now = start + i * seconds / n
            try:
                verifier.verify(token)
            except Exception:  # noqa: BLE001
                pass
        return server.gets - before


def jwks_section(smoke: bool) -> list[Table]:
    key = fake_issuer.new_key()
    concurrent = 64
    tokens = [fake_issuer.sign_rs256(key, fake_issuer.access_claims(i)) for i in range(concurrent)]
    runs = 2 if smoke else 5
    flood_n = 1000 if smoke else 10_000
    step = 0.05 if smoke else 0.01

    table = Table("JWKS fetches counted at the JWKS server",
                  ["scenario", "GETs at the server", "bound", "verdict"])
    cold = cold_start(key, tokens, runs)
    table.add(f"cold start, {concurrent} concurrent verifications (real threads, 50 ms fetch), {runs} runs",
              ", ".join(map(str, cold)), "exactly 1", "met" if set(cold) == {1} else "**missed**")

    default = RELYING_PARTY_DEFAULTS["REFRESH_AHEAD"]
    gets, bodies = steady(key, 60, step, ttl=10, refresh_ahead=default)
    table.add(f"60 s steady load, max-age 10 s, default REFRESH_AHEAD {default:g} (simulated clock, a verify every {step * 1000:g} ms)",
              f"{gets} ({bodies} full bodies, {gets - bodies} × 304)", "≤ 7", verdict(gets, 7))
    gets2, bodies2 = steady(key, 60, step, ttl=10, refresh_ahead=0.2)
    table.add("same, REFRESH_AHEAD 0.2 (refresh every 8 s)",
              f"{gets2} ({bodies2} full bodies, {gets2 - bodies2} × 304)", "≤ 7", verdict(gets2, 7))
    gets0, bodies0 = steady(key, 60, step, ttl=10, refresh_ahead=0.0)
    table.add("same, REFRESH_AHEAD 0 (refresh at expiry, served stale meanwhile)",
              f"{gets0} ({bodies0} full bodies, {gets0 - bodies0} × 304)", "≤ 7", verdict(gets0, 7))

    flood_gets, duration, cooldown = flood_real_time(key, flood_n, threads=8)
    bound = int(duration // cooldown) + 1
    table.add(f"{flood_n:,} random-kid tokens, 8 threads, real clock, cooldown {cooldown:g} s (took {duration:.2f} s)",
              str(flood_gets), f"≤ {bound} (duration/cooldown + 1)", verdict(flood_gets, bound))
    simulated_seconds, sim_cooldown = 300.0, 30.0
    sim_gets = flood_simulated(key, flood_n, simulated_seconds, sim_cooldown)
    sim_bound = int(simulated_seconds // sim_cooldown) + 1
    table.add(f"{flood_n:,} random-kid tokens spread over {simulated_seconds:g} s (simulated clock), cooldown {sim_cooldown:g} s",
              str(sim_gets), f"≤ {sim_bound} (duration/cooldown + 1)", verdict(sim_gets, sim_bound))
    table.notes.append(
        "One process, one JWKSCache: fetches are per worker process by design (DESIGN.md, Scale). "
        "Simulated rows inject a fake clock into JWKSCache and TokenVerifier and run refreshes inline, "
        "so 60 s (or 300 s) of load take well under a second; the JWKS server is real and counts every GET."
    )
    return [table]
