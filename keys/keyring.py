"""Generate, store, rotate, retire, purge and revoke the issuer's signing keys.

Every change to the keyring is one transaction that compares and sets the states it read, so on
several issuer replicas at once exactly one rotation wins. The partial unique constraints on
SigningKey make "exactly one active, at most one next" hold even against a bug in this module.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.signals import setting_changed
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q
from django.dispatch import receiver
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from keys import jwk, sealing
from keys.conf import keys_settings
from keys.exceptions import (
    KeyEncryptionKeyError,
    KeySizeError,
    NextKeyNotReady,
    NoActiveKey,
    RotationLost,
    UnknownKey,
)
from keys.models import PUBLISHED_STATES, KeyState, SigningKey

logger = logging.getLogger("kunci.keys")

ALLOWED_KEY_SIZES = (2048, 3072, 4096)

# Every kid is an RFC 7638 thumbprint: base64url, 43 characters (the column holds 64). A kid
# read from a token header that cannot be one must not reach the database: NUL and lone
# surrogates, which JSON can carry, make the query itself fail instead of finding nothing.
_KID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class ActiveKey:
    kid: str
    private_key: rsa.RSAPrivateKey = field(repr=False)


@dataclass(frozen=True)
class Rotation:
    rotated: bool
    reason: str = ""
    retired: str | None = None
    revoked: str | None = None
    activated: str | None = None
    created: str | None = None
    purged: tuple[str, ...] = ()


def _now() -> datetime:  # Used for mocking in tests.
    return timezone.now()


def _key_encryption_key() -> bytes:
    value = keys_settings.KEY_ENCRYPTION_KEY
    if not value:
        raise KeyEncryptionKeyError(
            "KUNCI_KEY_ENCRYPTION_KEY is not set; the keyring cannot seal or open private keys"
        )
    return sealing.parse_key_encryption_key(value)


def generate_rsa_key(size: int) -> rsa.RSAPrivateKey:
    """Return a new RSA private key of `size` bits (e = 65537): the keyring's one source of key material."""
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


@sensitive_variables("private_key", "der")
def new_key(state: KeyState, now: datetime) -> SigningKey:
    """Generate and seal a new RSA key in `state`, unsaved.

    RSA generation takes tens of milliseconds (seconds at 4096 bits), so callers generate before
    they open a transaction: on SQLite an open write transaction would stall every login meanwhile.
    """
    size = keys_settings.RSA_KEY_SIZE
    if size not in ALLOWED_KEY_SIZES:
        raise KeySizeError(f"KUNCI_KEYS['RSA_KEY_SIZE'] must be one of {ALLOWED_KEY_SIZES}, not {size}")
    private_key = generate_rsa_key(size)
    public = jwk.public_jwk(private_key.public_key())
    der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SigningKey(
        kid=public["kid"],
        state=state,
        key_size=size,
        public_jwk=public,
        sealed_private_key=sealing.seal(_key_encryption_key(), der, public["kid"].encode()),
        created_at=now,
        activated_at=now if state == KeyState.ACTIVE else None,
    )


def _store(key: SigningKey, state: KeyState, now: datetime) -> SigningKey:
    key.state, key.created_at = state, now
    key.activated_at = now if state == KeyState.ACTIVE else None
    key.save(force_insert=True)
    logger.info("created %s signing key %s (%d bits)", state, key.kid, key.key_size)
    return key


def ensure_keys(now: datetime | None = None) -> list[str]:
    """Create the active and next keys that are missing; return the kids created."""
    now = now or _now()
    missing = [KeyState.ACTIVE, KeyState.NEXT]
    states = set(SigningKey.objects.values_list("state", flat=True))
    fresh = [new_key(state, now) for state in missing if state not in states]
    if not fresh:
        return []
    created: list[str] = []
    try:
        with transaction.atomic():
            states = set(SigningKey.objects.values_list("state", flat=True))
            for state in missing:
                if state not in states:
                    created.append(_store(fresh.pop(), state, now).kid)
    except IntegrityError:
        # Another process created them first: one active and one next exist either way.
        return []
    return created


def retirement_window() -> timedelta:
    """Return how long a retired key stays published and verifying.

    A worker may keep signing with a just-retired key for up to SIGNING_KEY_CACHE_SECONDS, so
    the window is the longest token lifetime plus that bound.
    """
    return keys_settings.RETIRED_KEY_LIFETIME + timedelta(seconds=keys_settings.SIGNING_KEY_CACHE_SECONDS)


def published_keys(now: datetime | None = None) -> list[SigningKey]:
    """Return the keys the JWKS publishes: next, active, and retired ones still inside their window."""
    now = now or _now()
    cutoff = now - retirement_window()
    return list(
        SigningKey.objects.filter(state__in=PUBLISHED_STATES)
        .exclude(state=KeyState.RETIRED, retired_at__lte=cutoff)
        .defer("sealed_private_key")
        .order_by("created_at", "kid")
    )


def jwks(now: datetime | None = None) -> dict[str, list[dict[str, str]]]:
    """Return the JWK Set of published public keys (RFC 7517 §5), creating them on a fresh deployment."""
    keys = published_keys(now)
    if not keys:
        # The first start: publish the keys before anyone asks for a signature.
        ensure_keys(now)
        keys = published_keys(now)
    return {"keys": [dict(key.public_jwk) for key in keys]}


# --- the per-process signing key cache -------------------------------------------------------

_signing_lock = threading.Lock()
_signing_cache: tuple[float, ActiveKey] | None = None


def _monotonic() -> float:  # Used for mocking in tests.
    return time.monotonic()


def signing_key() -> ActiveKey:
    """Return the active key, re-reading the database at most every SIGNING_KEY_CACHE_SECONDS."""
    global _signing_cache
    cached = _signing_cache
    if cached is not None and cached[0] > _monotonic():
        return cached[1]
    with _signing_lock:
        # Another thread may have reloaded the key while this one waited for the lock.
        cached = _signing_cache
        if cached is not None and cached[0] > _monotonic():
            return cached[1]
        row = (
            SigningKey.objects.filter(state=KeyState.ACTIVE)
            .only("kid", "sealed_private_key")
            .first()
        )
        if row is None:
            # The first start of a fresh deployment: DESIGN's "first start creates the keys".
            ensure_keys()
            row = (
                SigningKey.objects.filter(state=KeyState.ACTIVE)
                .only("kid", "sealed_private_key")
                .first()
            )
        if row is None:
            raise NoActiveKey("the keyring has no active key; run `manage.py ensure_keys`")
        if cached is not None and cached[1].kid == row.kid:
            active = cached[1]
        else:
            active = ActiveKey(row.kid, _open_private_key(row.kid, bytes(row.sealed_private_key)))
        _signing_cache = (_monotonic() + keys_settings.SIGNING_KEY_CACHE_SECONDS, active)
        return active


@sensitive_variables("der")
def _open_private_key(kid: str, sealed: bytes) -> rsa.RSAPrivateKey:
    der = sealing.unseal(_key_encryption_key(), sealed, kid.encode())
    # The key was generated here and AES-GCM authenticated it on the way back, so the costly
    # RSA consistency check (tens of ms per load) would only re-prove what the tag proved.
    return serialization.load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=True)


def verifying_key(kid: str, now: datetime | None = None) -> rsa.RSAPublicKey:
    """Return the public key named `kid` if it is still published, or raise UnknownKey.

    The state is read from the database every time, so a revoked or purged key stops verifying
    at once on every replica; only the immutable public numbers are cached.
    """
    if not _KID.fullmatch(kid):
        raise UnknownKey(f"no published key has kid {kid[:64]!r}")
    now = now or _now()
    cutoff = now - retirement_window()
    row = (
        SigningKey.objects.filter(kid=kid, state__in=PUBLISHED_STATES)
        .exclude(state=KeyState.RETIRED, retired_at__lte=cutoff)
        .values_list("public_jwk", flat=True)
        .first()
    )
    if row is None:
        raise UnknownKey(f"no published key has kid {kid[:64]!r}")
    return _public_key(kid, row["n"], row["e"])


@lru_cache(maxsize=64)
def _public_key(kid: str, n: str, e: str) -> rsa.RSAPublicKey:
    return jwk.public_key_from_jwk({"n": n, "e": e})


# --- the per-process published key set ------------------------------------------------------

_jwks_lock = threading.Lock()
_jwks_cache: tuple[float, dict[str, list[dict[str, str]]]] | None = None


def served_jwks() -> dict[str, list[dict[str, str]]]:
    """Return the JWK Set this process serves: re-read at most every JWKS_CACHE_SECONDS.

    While the database fails, the last good set keeps being served, so relying parties keep their
    keys through an outage; only a process that has never read it raises the database's error.
    One thread re-reads at a time, and the others serve the set they have meanwhile.
    """
    global _jwks_cache
    cached = _jwks_cache
    if cached is not None and cached[0] > _monotonic():
        return cached[1]
    if not _jwks_lock.acquire(blocking=cached is None):
        return cached[1]
    try:
        cached = _jwks_cache
        if cached is not None and cached[0] > _monotonic():
            return cached[1]
        try:
            document = jwks()
        except DatabaseError as e:
            if cached is None:
                raise
            logger.warning("serving the last good JWKS: the keyring cannot be read (%s)", e)
            document = cached[1]
        # After a failure too: the next attempt waits its turn, so an outage costs one slow
        # request per interval, not one per request.
        _jwks_cache = (_monotonic() + keys_settings.JWKS_CACHE_SECONDS, document)
        return document
    finally:
        _jwks_lock.release()


def forget_cached_keys() -> None:
    """Drop this process's cached signing key and JWK Set, so both are re-read from the keyring."""
    global _signing_cache, _jwks_cache
    _signing_cache = None
    _jwks_cache = None


@receiver(setting_changed)
def _forget_cached_keys(*, setting: str, **kwargs: object) -> None:
    if setting == "KUNCI_KEYS":
        forget_cached_keys()


# --- lifecycle --------------------------------------------------------------------------------


def rotate_keys(
    *,
    now: datetime | None = None,
    force: bool = False,
    if_older_than: timedelta | None = None,
) -> Rotation:
    """Promote next to active and active to retired, create a new next key, purge expired keys.

    Raise NextKeyNotReady when the next key has not been published for PREPUBLICATION_SECONDS
    (unless `force`), and RotationLost when another rotation won the race.
    """
    now = now or _now()
    ensure_keys(now)
    active = SigningKey.objects.defer("sealed_private_key").get(state=KeyState.ACTIVE)
    upcoming = SigningKey.objects.defer("sealed_private_key").get(state=KeyState.NEXT)

    if if_older_than is not None:
        age = now - (active.activated_at or active.created_at)
        if age < if_older_than:
            purged = purge_expired_keys(now)
            return Rotation(
                rotated=False,
                reason=f"active key {active.kid} is {_human(age)} old; it rotates after {_human(if_older_than)}",
                purged=purged,
            )

    required = keys_settings.PREPUBLICATION_SECONDS
    published_for = (now - upcoming.created_at).total_seconds()
    if published_for < required and not force:
        raise NextKeyNotReady(
            upcoming.kid, published_for, keys_settings.JWKS_MAX_AGE, required - published_for
        )

    replacement = new_key(KeyState.NEXT, now)
    with transaction.atomic():
        # Compare-and-set on the kids read above: a concurrent rotation that got here first
        # has changed them, and this one updates nothing.
        retired = SigningKey.objects.filter(kid=active.kid, state=KeyState.ACTIVE).update(
            state=KeyState.RETIRED, retired_at=now
        )
        promoted = SigningKey.objects.filter(kid=upcoming.kid, state=KeyState.NEXT).update(
            state=KeyState.ACTIVE, activated_at=now
        )
        if not (retired and promoted):
            raise RotationLost("another rotation changed the keyring first; nothing was changed")
        created = _store(replacement, KeyState.NEXT, now)
        purged = purge_expired_keys(now)
    forget_cached_keys()
    logger.info("rotated keys: %s retired, %s active, %s next", active.kid, upcoming.kid, created.kid)
    return Rotation(
        rotated=True, retired=active.kid, activated=upcoming.kid, created=created.kid, purged=purged
    )


def purge_expired_keys(now: datetime | None = None) -> tuple[str, ...]:
    """Delete retired keys whose tokens have all expired, destroying their private halves."""
    now = now or _now()
    expired = SigningKey.objects.filter(
        state=KeyState.RETIRED, retired_at__lte=now - retirement_window()
    )
    kids = tuple(expired.values_list("kid", flat=True))
    if kids:
        SigningKey.objects.filter(kid__in=kids).delete()
        logger.info("purged retired keys %s", ", ".join(kids))
    return kids


def revoke_key(kid: str, now: datetime | None = None) -> Rotation:
    """Revoke `kid` at once: unpublish it, destroy its private half, and replace it if it signed or was next."""
    now = now or _now()
    # Generated up front, outside the transaction; wasted only when revoking a retired key.
    replacement = new_key(KeyState.NEXT, now)
    with transaction.atomic():
        key = (
            SigningKey.objects.select_for_update()
            .defer("sealed_private_key")
            .filter(Q(kid=kid) & ~Q(state=KeyState.REVOKED))
            .first()
        )
        if key is None:
            raise UnknownKey(f"no unrevoked key has kid {kid[:64]!r}")
        was = key.state
        SigningKey.objects.filter(kid=kid, state=was).update(
            state=KeyState.REVOKED, revoked_at=now, sealed_private_key=None
        )
        activated = None
        if was == KeyState.ACTIVE:
            upcoming = SigningKey.objects.filter(state=KeyState.NEXT).first()
            if upcoming is None:  # only if the keyring was already broken; rare enough to generate here
                upcoming = _store(new_key(KeyState.NEXT, now), KeyState.NEXT, now)
            SigningKey.objects.filter(kid=upcoming.kid).update(state=KeyState.ACTIVE, activated_at=now)
            activated = upcoming.kid
        created = None
        if was in (KeyState.ACTIVE, KeyState.NEXT):
            created = _store(replacement, KeyState.NEXT, now).kid
    forget_cached_keys()
    logger.warning("revoked %s key %s", was, kid)
    return Rotation(rotated=was == KeyState.ACTIVE, revoked=kid, activated=activated, created=created)


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
