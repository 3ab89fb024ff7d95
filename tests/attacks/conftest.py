from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from idp.conf import idp_settings
from keys import keyring as keys_api
from tests.attacks.catalogue import Forge
from tests.conftest import PASSWORD

def _login(username: str) -> dict[str, str]:
    response = APIClient().post("/api/login", {"username": username, "password": PASSWORD}, format="json")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def forges(keyring, user) -> dict[str, Forge]:
    """Build forges for access and refresh tokens, with tokens of a purged and a revoked key."""
    now = timezone.now()
    purged = _login("alice")  # signed by the first active key
    second = keys_api.rotate_keys(now=now, force=True).activated
    revoked = _login("alice")  # signed by the second key
    # A rotation after the first key's retirement window purges it.
    later = now + keys_api.retirement_window() + timedelta(seconds=1)
    assert keys_api.rotate_keys(now=later, force=True).purged
    keys_api.revoke_key(second)
    valid = _login("alice")
    active = keys_api.signing_key()
    common = dict(issuer=idp_settings.ISSUER, audience=idp_settings.AUDIENCE, issuer_key=active.private_key, kid=active.kid)
    return {
        "access": Forge(access=valid["access"], refresh=valid["refresh"], revoked_token=revoked["access"], purged_token=purged["access"], **common),
        "refresh": Forge(
            access=valid["refresh"], refresh=valid["access"], revoked_token=revoked["refresh"],
            purged_token=purged["refresh"], typ="refresh+jwt", **common,
        ),
        "valid": valid,
    }
