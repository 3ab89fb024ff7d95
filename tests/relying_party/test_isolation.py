"""relying_party imports nothing from the issuer: it must run in a project that has no `keys` or `idp`."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import importlib.abc
    import sys

    class BlockIssuer(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("keys", "idp", "settings"):
                raise ImportError(f"relying_party imported {name}")
            return None

    sys.meta_path.insert(0, BlockIssuer())

    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY="isolation-test",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "rest_framework",
            "relying_party",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        ROOT_URLCONF="relying_party.urls",
        RELYING_PARTY={
            "ISSUER": "https://issuer.test",
            "JWKS_URL": "https://issuer.test/.well-known/jwks.json",
            "AUDIENCE": "kunci-apps",
        },
    )
    django.setup()

    import relying_party.authentication
    import relying_party.checks
    import relying_party.conf
    import relying_party.errors
    import relying_party.exceptions
    import relying_party.jwks
    import relying_party.models
    import relying_party.parsers
    import relying_party.state
    import relying_party.urls
    import relying_party.verifier
    import relying_party.views
    import relying_party.web
    from django.core.management import call_command

    call_command("check", fail_level="ERROR")
    call_command("migrate", verbosity=0)
    relying_party.state.default_verifier()

    leaked = sorted(name for name in sys.modules if name.split(".")[0] in ("keys", "idp", "settings"))
    print("leaked:", leaked)
    sys.exit(1 if leaked else 0)
    """
)


def test_relying_party_runs_with_the_issuer_packages_unimportable():
    environment = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    environment["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "leaked: []" in result.stdout
