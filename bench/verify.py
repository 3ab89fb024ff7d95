"""Section 1: the cost of verifying one access token in process, Kunci against its baselines.

Growth items from section 5 that are about the relying party live here too: verify cost with 1
against 20 keys in the JWKS (the RSS of the verified-token LRU is in bench/rp_memory.py).
"""
from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from bench import fake_issuer
from bench.fake_issuer import AUDIENCE, ISSUER, JWKSServer
from bench.report import Table, interleaved, median, ratios, spread, time_batch, verdict


_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


def header_only(token: str) -> dict:
    """Decode only a token's header segment: what (g) would cost if it skipped payload and signature."""
    segment = token.split(".", 1)[0]
    if not _BASE64URL.fullmatch(segment):
        raise ValueError("header is not base64url")
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def configure_django() -> None:
    """Configure a minimal Django, enough to import simplejwt's TokenBackend (it reads no settings)."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "rest_framework"],
            SECRET_KEY="bench-not-secret",
            USE_TZ=True,
        )
        django.setup()


def _rp_verifier(url: str, **options: object):
    from relying_party.jwks import JWKSCache
    from relying_party.verifier import TokenVerifier

    cache = JWKSCache(url, min_cache_ttl=60)
    return cache, lambda **more: TokenVerifier(jwks=cache, issuer=ISSUER, audience=AUDIENCE, **{**options, **more})


def revocation_view(sessions: int = 1000, users: int = 100):
    """Return a RevocationView holding `sessions` ended sids and `users` ended subs, none of the benchmark's."""
    import uuid

    from relying_party.revocations import Revocation, RevocationView

    class NoStore:
        def record(self, *args: object, **kwargs: object) -> None: ...
        def changes(self) -> list[Revocation]:
            return []

    view = RevocationView(NoStore(), start_thread=lambda work: None)
    far = 2**40
    view.add([Revocation("sid", uuid.uuid4().hex, 0, far) for _ in range(sessions)])
    view.add([Revocation("sub", f"ended-{i}", 0, far) for i in range(users)])
    return view


def verify_section(smoke: bool) -> list[Table]:
    configure_django()
    from rest_framework_simplejwt.backends import TokenBackend

    rounds, n_slow, n_fast = (2, 50, 500) if smoke else (9, 1500, 40000)
    key = fake_issuer.new_key()
    secret = fake_issuer.shared_secret()
    tokens = [fake_issuer.sign_rs256(key, fake_issuer.access_claims(i)) for i in range(n_slow)]
    token = tokens[0]
    hs_token = fake_issuer.sign_hs256(secret, fake_issuer.access_claims(0))
    signing_input, _, signature_b64 = token.rpartition(".")
    signature = jwt.utils.base64url_decode(signature_b64)
    public = key.public

    with JWKSServer(fake_issuer.jwks(key)) as server:
        seed_hs256 = TokenBackend("HS256", signing_key=secret, audience=AUDIENCE, issuer=ISSUER)
        seed_jwk_url = TokenBackend("RS256", audience=AUDIENCE, issuer=ISSUER, jwk_url=server.url)
        seed_jwk_url.decode(token)  # PyJWKClient fetches once, then serves its cached set
        cache, make_verifier = _rp_verifier(server.url)
        hot = make_verifier()
        hot.verify(token)
        # The same verifiers with back-channel logout's revocation check in place.
        revocations = revocation_view()
        hot_checked = make_verifier(revocations=revocations)
        hot_checked.verify(token)
        uncached = make_verifier(verified_cache_size=0)
        uncached.verify(token)
        gets_before = server.gets

        def cold_distinct(**options: object) -> float:
            # A fresh LRU each round over a warm JWKS cache: every token is one the verifier has not seen.
            verifier = make_verifier(**options)
            pending = iter(tokens)
            return time_batch(lambda: verifier.verify(next(pending)), len(tokens))

        variants: dict[str, Callable[[], float]] = {
            "a": lambda: time_batch(
                lambda: public.verify(signature, signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()), n_slow),
            "b": lambda: time_batch(
                lambda: jwt.decode(token, public, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER), n_slow),
            "c": lambda: time_batch(lambda: seed_hs256.decode(hs_token), n_slow),
            "d": lambda: time_batch(lambda: seed_jwk_url.decode(token), n_slow),
            "e": cold_distinct,
            "e0": lambda: time_batch(lambda: uncached.verify(token), n_slow),
            "er": lambda: cold_distinct(revocations=revocations),
            "f": lambda: time_batch(lambda: hot.verify(token), n_fast),
            "fr": lambda: time_batch(lambda: hot_checked.verify(token), n_fast),
            "g": lambda: time_batch(lambda: jwt.get_unverified_header(token), n_slow),
            "h": lambda: time_batch(lambda: header_only(token), n_slow),
        }
        results = interleaved(variants, rounds)
        fetches_during = server.gets - gets_before

    a, b = results["a"], results["b"]
    labels = {
        "a": "(a) cryptography RSA-2048 PKCS#1 v1.5 SHA-256 verify (floor)",
        "b": "(b) jwt.decode, key in hand",
        "c": "(c) simplejwt TokenBackend HS256, shared secret (seed)",
        "d": "(d) simplejwt TokenBackend JWK_URL (PyJWKClient, cached set)",
        "e": "(e) Kunci TokenVerifier.verify, token not seen (distinct tokens)",
        "e0": "(e′) Kunci verify with VERIFIED_CACHE_SIZE=0 (same token)",
        "er": "(e-r) (e) with the revocation check (1,000 ended sids, 100 ended subs)",
        "f": "(f) Kunci verify, token already verified (LRU hit)",
        "fr": "(f-r) (f) with the revocation check (1,000 ended sids, 100 ended subs)",
        "g": "(g) for the profile: jwt.get_unverified_header alone (decodes all 3 segments)",
        "h": "(h) for the profile: the header segment alone, regex-checked and decoded",
    }
    table = Table(
        "Verify one access token in process (µs/token)",
        ["variant", "median µs", "runs' range µs", "÷ (a)", "÷ (b)"],
    )
    for name, label in labels.items():
        series = results[name]
        table.add(label, f"{median(series):.2f}", spread(series),
                  f"{median(ratios(series, a)):.3f}", f"{median(ratios(series, b)):.3f}")
    e_over_b = median(ratios(results["e"], b))
    f_over_a = median(ratios(results["f"], a))
    targets = Table("Verify targets", ["target", "ratio (median of per-run ratios)", "verdict"])
    targets.add("(e) ≤ 1.15 × (b)", f"{e_over_b:.3f}", verdict(e_over_b, 1.15))
    targets.add("(f) ≤ 0.1 × (a)", f"{f_over_a:.4f}", verdict(f_over_a, 0.1))
    fr_over_a = median(ratios(results["fr"], a))
    er_over_e = median(ratios(results["er"], results["e"]))
    targets.add("(f-r) ≤ 0.1 × (a): a cache hit with the revocation check", f"{fr_over_a:.4f}", verdict(fr_over_a, 0.1))
    targets.add("(e-r) ≤ 1.05 × (e): first sight with the revocation check", f"{er_over_e:.3f}", verdict(er_over_e, 1.05))
    targets.add("(b) ÷ (a), reported", f"{median(ratios(b, a)):.3f}", "—")
    table.notes.append(
        f"{rounds} runs, variants interleaved in rotating order; (a)-(e′) {n_slow} calls per run, "
        f"(f) and (f-r) {n_fast}. JWKS GETs during the timed runs: {fetches_during}."
    )
    return [table, targets]


def key_count_section(smoke: bool) -> list[Table]:
    """Section 5: an uncached verify with 1 key against 20 keys in the JWKS."""
    from relying_party.jwks import JWKSCache
    from relying_party.verifier import TokenVerifier

    rounds, n, extra = (2, 50, 3) if smoke else (9, 1500, 19)
    key = fake_issuer.new_key()
    others = [fake_issuer.new_key() for _ in range(extra)]
    token = fake_issuer.sign_rs256(key, fake_issuer.access_claims(1))
    with JWKSServer(fake_issuer.jwks(key)) as one, JWKSServer(fake_issuer.jwks(*others[:10], key, *others[10:])) as many:
        verifiers = {}
        for name, server in (("one", one), ("many", many)):
            verifier = TokenVerifier(jwks=JWKSCache(server.url), issuer=ISSUER, audience=AUDIENCE, verified_cache_size=0)
            verifier.verify(token)
            verifiers[name] = verifier
        results = interleaved(
            {name: (lambda v=v: time_batch(lambda: v.verify(token), n)) for name, v in verifiers.items()}, rounds
        )
    ratio = median(ratios(results["many"], results["one"]))
    table = Table(f"RP verify with 1 vs {extra + 1} keys in the JWKS (uncached verify, µs/token)",
                  ["keys in JWKS", "median µs", "runs' range µs", f"{extra + 1} keys ÷ 1 key", "verdict"])
    table.add("1", f"{median(results['one']):.2f}", spread(results["one"]), "", "")
    table.add(str(extra + 1), f"{median(results['many']):.2f}", spread(results["many"]), f"{ratio:.3f}", verdict(ratio, 1.1))
    return [table]
