"""Sections 4 and 5 (issuer side): refresh and login throughput, and growth of the token tables.

`issuer_section()` and `growth_section()` run in the bench process; each starts this file as a worker
process (`--worker ...`) with DJANGO_SETTINGS_MODULE=bench.issuer_settings on a fresh database, and
reads back one BENCH_JSON line. Never the database named `test`, never a pytest database.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import Table, median, ratios, spread, verdict  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench correct horse battery staple"
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/test"


# --- the bench process side --------------------------------------------------------------------


def _pg_base_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else DEFAULT_PG_URL


def _pg_admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(_pg_base_url().rsplit("/", 1)[0] + "/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement)


def pg_available() -> bool:
    try:
        _pg_admin("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - any failure means: skip PostgreSQL
        return False


def run_worker(db: str, *args: str, timeout: float = 1200, script: Path = Path(__file__)) -> dict:
    """Run `script` (this file by default) as a worker on a fresh `db` ("sqlite" or "postgres");
    return its BENCH_JSON."""
    with tempfile.TemporaryDirectory(prefix="kunci-bench-") as var:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KUNCI_", "DJANGO_")) and k != "DATABASE_URL"}
        env.update({
            "KUNCI_VAR_DIR": var, "KUNCI_HTTPS": "0", "DJANGO_SETTINGS_MODULE": "bench.issuer_settings",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(48), "KUNCI_KEY_ENCRYPTION_KEY": secrets.token_urlsafe(32),
            "BENCH_STOCK_SECRET": secrets.token_urlsafe(48),
        })
        database = None
        if db == "postgres":
            database = f"kunci_bench_{uuid.uuid4().hex[:12]}"
            _pg_admin(f'CREATE DATABASE "{database}"')
            env["DATABASE_URL"] = _pg_base_url().rsplit("/", 1)[0] + "/" + database
        try:
            result = subprocess.run([sys.executable, str(script), "--worker", *args], cwd=ROOT, env=env,
                                    capture_output=True, text=True, timeout=timeout)
        finally:
            if database:
                _pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    line = next((l for l in result.stdout.splitlines() if l.startswith("BENCH_JSON ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"{script.stem} worker ({db} {' '.join(args)}) failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return json.loads(line.removeprefix("BENCH_JSON "))


def issuer_section(smoke: bool) -> list[Table]:
    args = ["throughput", "--rounds", "2" if smoke else "5", "--ops", "20" if smoke else "200",
            "--logins", "2" if smoke else "6"]
    dbs = ["sqlite"] + (["postgres"] if pg_available() else [])
    results = {db: run_worker(db, *args) for db in dbs}
    refresh = Table("Issuer: refresh (sign + blacklist + outstanding writes), one thread in process",
                    ["database", "variant", "refreshes/s (median)", "runs' range", "÷ stock HS256", "verdict"])
    logins = Table("Issuer: logins, one thread in process (Argon2id m=19 MiB, t=2, p=1)",
                   ["database", "variant", "ms/login (median)", "logins/s", "hasher's share"])
    for db, data in results.items():
        r = data["refresh"]
        stock = r["stock"]
        for name, label in (("kunci", "Kunci RS256 refresh_session"), ("stock", "stock simplejwt HS256 TokenRefreshSerializer, blacklist on"),
                            ("floor", "RSA floor: 2 RS256 signs + 1 verify, no database")):
            series = r[name]
            ratio = median(ratios(series, stock))
            refresh.add(db, label, f"{median(series):.0f}", spread(series).replace(".00", ""),
                        f"{ratio:.3f}", verdict(ratio, 0.6, at_most=False) if name == "kunci" else "")
        l = data["login"]
        hasher = median(l["hasher"])
        for name, label in (("kunci", "Kunci /api/login path: authenticate + start_session"),
                            ("stock", "stock simplejwt TokenObtainPairSerializer"),
                            ("hasher", "the hasher alone: check_password"),
                            ("session", "Kunci start_session alone (no hasher)")):
            ms = median(l[name])
            logins.add(db, label, f"{ms:.2f}", f"{1000 / ms:.1f}", f"{hasher / ms:.0%}" if name in ("kunci", "stock") else "")
    refresh.notes.append(
        "Each variant refreshes its own chain (each refresh presents the token the previous one returned); "
        f"runs interleaved; {args[4]} refreshes per run, {args[2]} runs. Stock simplejwt shares the database and "
        "the blacklist tables. RSA floor = the three RSA operations one Kunci refresh cannot avoid."
    )
    if "postgres" not in results:
        refresh.notes.append("PostgreSQL was not reachable: its rows are missing.")
    return [refresh, logins]


def growth_section(smoke: bool) -> list[Table]:
    if not pg_available():
        table = Table("Growth of the token tables (PostgreSQL)", ["measure", "value"])
        table.add("skipped", "PostgreSQL not reachable")
        return [table]
    rows = 20_000 if smoke else 1_000_000
    data = run_worker("postgres", "growth", "--rows", str(rows), "--rounds", "3" if smoke else "5",
                      "--ops", "20" if smoke else "100")
    g = data["growth"]
    table = Table(f"Growth: refresh latency with 10^3 vs {rows:,} outstanding tokens (PostgreSQL)",
                  ["state of token_blacklist_outstandingtoken", "ms/refresh (median)", "runs' range", "÷ 10^3 rows", "verdict"])
    base = g["small_before"] + g["small_after"]
    base_ms = median(base)
    table.add("10^3 rows (runs before and after the large state)", f"{base_ms:.2f}", spread(base), "1.000", "")
    ratio = median(g["large"]) / base_ms
    table.add(f"{g['rows_large']:,} rows, {g['blacklisted']:,} blacklisted, {g['sessions']:,} sessions",
              f"{median(g['large']):.2f}", spread(g["large"]), f"{ratio:.3f}", verdict(ratio, 1.2))
    table.notes.append(
        f"Rows bulk-loaded with COPY in {g['load_seconds']:.1f} s, then ANALYZE. The baseline is measured before the "
        "load and again after `flushexpiredtokens` and VACUUM ANALYZE took the table back down, and both are pooled: "
        "a database cannot hold both sizes at once, so this is the nearest to side by side."
    )
    flush = Table(f"Flushing {g['flush_rows']:,} expired token rows (PostgreSQL)",
                  ["command", "wall time (includes Django start-up, about 1 s)", "peak RSS", "rows left"])
    flush.add("simplejwt `manage.py flushexpiredtokens`", f"{g['flush_seconds']:.1f} s",
              f"{g['flush_maxrss_mb']:.0f} MB", f"{g['rows_after_flush']:,}")
    flush.add("Kunci `manage.py flush_expired_tokens` (batches of 10,000)", f"{g['kunci_flush_seconds']:.1f} s",
              f"{g['kunci_flush_maxrss_mb']:.0f} MB", f"{g['rows_after_kunci_flush']:,}")
    return [table, flush]


# --- the worker side ---------------------------------------------------------------------------


def _setup() -> object:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from keys.keyring import ensure_keys

    call_command("migrate", verbosity=0, interactive=False)
    ensure_keys()
    return get_user_model().objects.create_user("bench", "bench@example.test", PASSWORD)


class Chains:
    """One refresh chain per variant: each call rotates that variant's current refresh token."""

    def __init__(self, user: object) -> None:
        from rest_framework_simplejwt.tokens import RefreshToken as StockRefreshToken

        from idp import sessions

        self.kunci = sessions.start_session(user).refresh
        self.stock = str(StockRefreshToken.for_user(user))

    def kunci_refresh(self) -> None:
        from idp import sessions

        self.kunci = sessions.refresh_session(self.kunci).refresh

    def stock_refresh(self) -> None:
        from rest_framework_simplejwt.serializers import TokenRefreshSerializer

        serializer = TokenRefreshSerializer(data={"refresh": self.stock})
        serializer.is_valid(raise_exception=True)
        self.stock = serializer.validated_data["refresh"]


def _rate(call, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        call()
    return n / (time.perf_counter() - start)


def _ms(call, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - start) / n * 1000


def _rsa_floor(token: str):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from keys.keyring import signing_key

    private = signing_key().private_key
    public = private.public_key()
    signing_input = token.rpartition(".")[0].encode()
    signature = private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())

    def floor() -> None:
        private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        public.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())

    return floor


def worker_throughput(rounds: int, ops: int, logins: int) -> dict:
    user = _setup()
    from django.contrib.auth import authenticate
    from rest_framework_simplejwt.serializers import TokenObtainPairSerializer

    from idp import sessions

    chains = Chains(user)
    floor = _rsa_floor(chains.kunci)
    for _ in range(3):  # warm: connections, caches, the signing key
        chains.kunci_refresh()
        chains.stock_refresh()
    variants = {"kunci": chains.kunci_refresh, "stock": chains.stock_refresh, "floor": floor}
    refresh: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(rounds):
        for name in names[r % 3:] + names[: r % 3]:
            refresh[name].append(_rate(variants[name], ops))

    def kunci_login() -> None:
        found = authenticate(None, username="bench", password=PASSWORD)
        sessions.start_session(found)

    def stock_login() -> None:
        serializer = TokenObtainPairSerializer(data={"username": "bench", "password": PASSWORD})
        serializer.is_valid(raise_exception=True)

    login_variants = {
        "kunci": kunci_login,
        "stock": stock_login,
        "hasher": lambda: user.check_password(PASSWORD),
        "session": lambda: sessions.start_session(user),
    }
    login: dict[str, list[float]] = {name: [] for name in login_variants}
    names = list(login_variants)
    for r in range(rounds):
        for name in names[r % 4:] + names[: r % 4]:
            login[name].append(_ms(login_variants[name], logins if name != "session" else logins * 5))
    return {"refresh": refresh, "login": login}


def _bulk_load(total_rows: int, users: list[int]) -> tuple[int, int, int, float]:
    """COPY expired outstanding tokens up to `total_rows`, blacklist half of them, add sessions."""
    from datetime import datetime, timedelta, timezone

    from django.db import connection
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    started = time.perf_counter()
    existing = OutstandingToken.objects.count()
    to_add = max(0, total_rows - existing)
    expired = (datetime.now(tz=timezone.utc) - timedelta(days=2)).isoformat()
    created = (datetime.now(tz=timezone.utc) - timedelta(days=3)).isoformat()
    # A Kunci refresh token is about 750 characters; the text only has to be as long as a real one.
    filler = secrets.token_urlsafe(560)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy("COPY token_blacklist_outstandingtoken (user_id, jti, token, created_at, expires_at) FROM STDIN") as copy:
            for i in range(to_add):
                jti = uuid.uuid4().hex
                copy.write_row((users[i % len(users)], jti, f"eyJ.{jti}.{filler}", created, expired))
        sessions = to_add // 10
        with raw.copy("COPY idp_loginsession (sid, user_id, created_at, end_reason) FROM STDIN") as copy:
            for i in range(sessions):
                copy.write_row((uuid.uuid4().hex, users[i % len(users)], created, ""))
        cursor.execute(
            "INSERT INTO token_blacklist_blacklistedtoken (token_id, blacklisted_at) "
            "SELECT id, now() FROM token_blacklist_outstandingtoken o WHERE id % 2 = 0 AND expires_at <= now() "
            "AND NOT EXISTS (SELECT 1 FROM token_blacklist_blacklistedtoken b WHERE b.token_id = o.id)"
        )
        blacklisted = cursor.rowcount
        cursor.execute("ANALYZE")
    return OutstandingToken.objects.count(), blacklisted, sessions, time.perf_counter() - started


def worker_growth(rows: int, rounds: int, ops: int) -> dict:
    user = _setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    User = get_user_model()
    User.objects.bulk_create([User(username=f"u{i}", password="!") for i in range(999)])
    users = list(User.objects.values_list("pk", flat=True))
    chains = Chains(user)
    for _ in range(3):
        chains.kunci_refresh()
    _bulk_load(1000, users)

    def measure() -> list[float]:
        return [_ms(chains.kunci_refresh, ops) for _ in range(rounds)]

    small_before = measure()
    rows_large, blacklisted, sessions, load_seconds = _bulk_load(rows, users)
    large = measure()
    flush_rows = OutstandingToken.objects.filter(expires_at__lte=time_now()).count()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", "flushexpiredtokens"], cwd=ROOT, check=True, timeout=3600)
    flush_seconds = time.perf_counter() - started
    maxrss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    rows_after = OutstandingToken.objects.count()
    small_after = measure()
    # The same load again, flushed by Kunci's batched command; its own peak RSS is read inside
    # the child, since RUSAGE_CHILDREN keeps the largest child seen so far.
    _bulk_load(rows, users)
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-c", _KUNCI_FLUSH], cwd=ROOT, check=True, timeout=3600, capture_output=True, text=True
    )
    kunci_flush_seconds = time.perf_counter() - started
    return {"growth": {
        "small_before": small_before, "large": large, "small_after": small_after, "rows_large": rows_large,
        "blacklisted": blacklisted, "sessions": sessions, "load_seconds": load_seconds, "flush_rows": flush_rows,
        "flush_seconds": flush_seconds, "flush_maxrss_mb": max(before, maxrss_kb) / 1024, "rows_after_flush": rows_after,
        "kunci_flush_seconds": kunci_flush_seconds, "kunci_flush_maxrss_mb": int(child.stdout.split()[-1]) / 1024,
        "rows_after_kunci_flush": OutstandingToken.objects.count(),
    }}


_KUNCI_FLUSH = """
import resource, django
django.setup()
from django.core.management import call_command
call_command("flush_expired_tokens")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def time_now():
    from django.utils import timezone

    return timezone.now()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", choices=["throughput", "growth"], required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ops", type=int, default=200)
    parser.add_argument("--logins", type=int, default=6)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    if args.worker == "throughput":
        result = worker_throughput(args.rounds, args.ops, args.logins)
    else:
        result = worker_growth(args.rows, args.rounds, args.ops)
    print("BENCH_JSON " + json.dumps(result))


if __name__ == "__main__":
    main()
