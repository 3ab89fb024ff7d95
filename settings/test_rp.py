"""The relying party's settings under test: a per-run secret and plain HTTP.

`pytest --ds settings.test_rp tests/relying_party` runs the relying party's tests under the role
they were written for, with its migration applied; they also pass under the default settings.test.
"""
import os
import secrets

os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(48))
# The test client speaks plain HTTP; production's HTTPS settings are tested elsewhere.
os.environ.setdefault("KUNCI_HTTPS", "0")

from settings.rp import *  # noqa: E402,F403
