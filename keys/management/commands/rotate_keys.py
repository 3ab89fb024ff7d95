import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from keys.exceptions import KeyringError, NextKeyNotReady, RotationLost
from keys.keyring import revoke_key, rotate_keys

_DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """Parse '90s', '15m', '12h' or '30d' into a timedelta."""
    match = _DURATION.match(text.strip())
    if not match:
        raise CommandError(f"--if-older-than takes a duration like 30d, 12h, 15m or 90s, not {text!r}")
    try:
        return timedelta(**{_UNITS[match[2]]: int(match[1])})
    except OverflowError as e:
        raise CommandError(f"--if-older-than {text!r} is longer than a timedelta can hold") from e


def _bind_revoke_value(argv: list[str]) -> list[str]:
    """Join `--revoke KID` into `--revoke=KID`, so that a kid starting with "-" stays a value."""
    bound: list[str] = []
    words = iter(argv)
    for word in words:
        value = next(words, None) if word == "--revoke" else None
        bound.append(word if value is None else f"--revoke={value}")
    return bound


ROTATION_LOCK_WAIT_MS = 60_000


class Command(BaseCommand):
    help = (
        "Promote the next key to active and the active key to retired, create a new next key, "
        "and purge retired keys whose tokens have all expired."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="rotate even if the next key is too new")
        parser.add_argument(
            "--if-older-than",
            metavar="DURATION",
            help="rotate only if the active key is older than this (30d, 12h, 15m, 90s); for cron",
        )
        parser.add_argument("--revoke", metavar="KID", help="revoke this key at once (compromise)")

    def run_from_argv(self, argv: list[str]) -> None:
        # A kid is base64url, so one in 64 starts with "-", and argparse would read
        # `--revoke -AbC...` as an option with its value missing.
        super().run_from_argv(_bind_revoke_value(argv))

    def handle(self, *args, force: bool, if_older_than: str | None, revoke: str | None, **options) -> None:
        if connection.vendor == "sqlite":
            # An operator's rotation (or a replica's, from cron) waits for another writer's lock
            # instead of failing after the few seconds a web request is allowed to wait.
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA busy_timeout = {ROTATION_LOCK_WAIT_MS}")
        try:
            if revoke:
                result = revoke_key(revoke)
                self.stdout.write(f"revoked {result.revoked}")
                if result.activated:
                    self.stdout.write(f"active key is now {result.activated}")
                if result.created:
                    self.stdout.write(f"new next key {result.created}")
                return
            older = parse_duration(if_older_than) if if_older_than else None
            result = rotate_keys(force=force, if_older_than=older)
        except NextKeyNotReady as e:
            raise CommandError(str(e), returncode=3) from e
        except RotationLost as e:
            self.stdout.write(f"not rotated: {e}")
            return
        except KeyringError as e:
            raise CommandError(str(e)) from e
        if not result.rotated:
            self.stdout.write(f"not rotated: {result.reason}")
        else:
            self.stdout.write(
                f"rotated: {result.activated} is active, {result.retired} retired, "
                f"{result.created} is next"
            )
        if result.purged:
            self.stdout.write(f"purged: {', '.join(result.purged)}")
