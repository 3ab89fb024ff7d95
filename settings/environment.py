"""Read configuration from the environment, and make the demo secrets that only `make run` may use."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
# An empty KUNCI_VAR_DIR means the default, never the current directory.
VAR_DIR = Path(os.environ.get("KUNCI_VAR_DIR") or BASE_DIR / "var")


def env_flag(name: str, default: bool = False) -> bool:
    """Return the boolean value of environment variable `name`."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    """Return the comma-separated environment variable `name` as a list."""
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def demo_mode() -> bool:
    """Return whether demo secrets may be generated under var/ (set by `make run` and `make test`)."""
    return env_flag("KUNCI_DEMO")


def secret(env_name: str, demo_file: str, nbytes: int = 32) -> tuple[str, bool]:
    """Return (value, is_demo) for a secret from the environment, or from var/ in demo mode.

    Outside demo mode a missing secret is a configuration error: no secret ships with a default.
    """
    value = os.environ.get(env_name)
    if value:
        if not demo_mode() and _is_demo_value(value, VAR_DIR / demo_file):
            raise ImproperlyConfigured(
                f"{env_name} is the demo secret generated into {VAR_DIR / demo_file}; "
                "outside demo mode it must come from your secret store."
            )
        return value, False
    if not demo_mode():
        raise ImproperlyConfigured(
            f"{env_name} is not set. Set it in the environment, or set KUNCI_DEMO=1 to use "
            f"a generated demo secret (never in production)."
        )
    return _demo_secret(VAR_DIR / demo_file, nbytes), True


def _is_demo_value(value: str, demo_path: Path) -> bool:
    if value.startswith("django-insecure-"):
        return True
    try:
        return demo_path.read_text().strip() == value.strip()
    except OSError:
        return False


def _demo_secret(path: Path, nbytes: int) -> str:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        # Write aside, then link: when several processes start at once, exactly one link wins
        # and nobody ever reads a half-written file.
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(nbytes) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
