"""The relying party's settings under test: a per-run secret, plain HTTP, and a test database per process.

`pytest --ds settings.test_rp tests/relying_party` runs the relying party's tests under the role
they were written for, with its migration applied; they also pass under the default settings.test.
"""
import os
import secrets

os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(48))
# The test client speaks plain HTTP; production's HTTPS settings are tested elsewhere.
os.environ.setdefault("KUNCI_HTTPS", "0")

from settings.rp import *  # noqa: E402,F403
from settings.environment import VAR_DIR  # noqa: E402

# A database per test process, so that concurrent runs never delete each other's test database.
_test_name = f"test_kunci_rp_{os.getpid()}"
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": VAR_DIR / f"{_test_name}.sqlite3"}  # noqa: F405
else:
    DATABASES["default"]["TEST"] = {"NAME": _test_name}  # noqa: F405
