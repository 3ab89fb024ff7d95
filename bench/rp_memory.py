"""Section 5 (relying party): RSS growth with many distinct verified tokens, bounded by the LRU size.

Minting and measuring run in separate processes, so that the measured process holds nothing but the
verifier: tokens are streamed from a file, one line at a time.
"""
from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import fake_issuer  # noqa: E402
from bench.report import Table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
_key: fake_issuer.BenchKey | None = None


def _init_minter(pem: bytes, kid: str) -> None:
    global _key
    from cryptography.hazmat.primitives import serialization

    _key = fake_issuer.BenchKey(serialization.load_pem_private_key(pem, password=None), kid)


def _mint(user: int) -> str:
    return fake_issuer.sign_rs256(_key, fake_issuer.access_claims(user))


def mint(directory: Path, n: int) -> None:
    from cryptography.hazmat.primitives import serialization

    key = fake_issuer.new_key()
    (directory / "jwks.json").write_text(json.dumps(fake_issuer.jwks(key)))
    pem = key.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    with multiprocessing.Pool(initializer=_init_minter, initargs=(pem, key.kid)) as pool, \
            (directory / "tokens.txt").open("w") as out:
        for token in pool.imap(_mint, range(n), chunksize=500):
            out.write(token + "\n")


def measure(directory: Path, cache_size: int) -> dict:
    from bench.fake_issuer import AUDIENCE, ISSUER, JWKSServer
    from bench.report import rss_bytes
    from relying_party.jwks import JWKSCache
    from relying_party.verifier import TokenVerifier

    with JWKSServer(json.loads((directory / "jwks.json").read_text())) as server, \
            (directory / "tokens.txt").open() as tokens:
        verifier = TokenVerifier(jwks=JWKSCache(server.url), issuer=ISSUER, audience=AUDIENCE,
                                 verified_cache_size=cache_size)
        checkpoints = {}
        for n, line in enumerate(tokens, start=1):
            verifier.verify(line.strip())
            if n == 1:
                checkpoints[1] = rss_bytes()
            elif n in (4096, 10_000) or n % 25_000 == 0:
                checkpoints[n] = rss_bytes()
        checkpoints[n] = rss_bytes()
        return {"checkpoints": checkpoints, "cached": verifier.cached_count(), "verified": n}


def rp_memory_section(smoke: bool) -> list[Table]:
    n = 6_000 if smoke else 100_000
    sizes = [4096, 0] if smoke else [4096, 0, 100_000]
    with tempfile.TemporaryDirectory(prefix="kunci-bench-") as tmp:
        subprocess.run([sys.executable, str(Path(__file__)), "mint", tmp, str(n)], cwd=ROOT, check=True, timeout=900)
        results = {}
        for size in sizes:
            out = subprocess.run([sys.executable, str(Path(__file__)), "measure", tmp, str(size)], cwd=ROOT,
                                 check=True, timeout=900, capture_output=True, text=True).stdout
            results[size] = json.loads(out.splitlines()[-1])
    table = Table(f"RP memory: RSS after verifying {n:,} distinct tokens (one process)",
                  ["VERIFIED_CACHE_SIZE", "entries held", "RSS after 1 token", "growth at 4,096 tokens",
                   f"growth at {n:,} tokens", "bounded?"])
    for size, data in results.items():
        points = {int(k): v for k, v in data["checkpoints"].items()}
        first = points[1]
        at_4096 = points.get(4096, points[max(points)])
        last = points[max(points)]
        mb = lambda b: f"{b / 2**20:.1f} MB"  # noqa: E731
        bounded = "—" if size in (0, 100_000) else (
            "yes" if last - first <= 1.25 * max(at_4096 - first, 1) else "**no**")
        label = {0: "0 (no LRU: control)", 100_000: "100,000 (for scale: as large as the stream)"}.get(size, f"{size:,} (default)")
        table.add(label, f"{data['cached']:,}", mb(first), mb(at_4096 - first), mb(last - first), bounded)
    table.notes.append("Bounded means: growth over the whole stream is within 25% of the growth at the point the LRU filled.")
    return [table]


if __name__ == "__main__":
    if sys.argv[1] == "mint":
        mint(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        print(json.dumps(measure(Path(sys.argv[2]), int(sys.argv[3]))))
