from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from idp.models import LoginSession, RedeemedCode

pytestmark = pytest.mark.django_db


def _token(user, jti: str, expires_in: timedelta, blacklisted: bool = False) -> OutstandingToken:
    now = timezone.now()
    token = OutstandingToken.objects.create(user=user, jti=jti, token="x", created_at=now, expires_at=now + expires_in)
    if blacklisted:
        BlacklistedToken.objects.create(token=token)
    return token


def test_flush_deletes_expired_tokens_in_batches_and_keeps_live_ones(user, capsys):
    for i in range(25):
        _token(user, f"old{i}", timedelta(seconds=-1), blacklisted=i % 2 == 0)
    live = _token(user, "live", timedelta(hours=1), blacklisted=True)

    call_command("flush_expired_tokens", "--batch-size", "10")

    assert list(OutstandingToken.objects.values_list("jti", flat=True)) == ["live"]
    assert list(BlacklistedToken.objects.values_list("token_id", flat=True)) == [live.pk]
    assert "deleted 25 expired tokens" in capsys.readouterr().out


@override_settings(KUNCI_IDP={"REFRESH_TOKEN_LIFETIME": timedelta(days=1)})
def test_flush_deletes_sessions_whose_tokens_have_all_expired(user, capsys):
    now = timezone.now()
    LoginSession.objects.create(sid="ended-long-ago", user=user, created_at=now, auth_time=now, ended_at=now - timedelta(days=2))
    LoginSession.objects.create(sid="ended-recently", user=user, created_at=now, auth_time=now, ended_at=now - timedelta(hours=1))
    LoginSession.objects.create(sid="abandoned", user=user, created_at=now - timedelta(days=3), auth_time=now - timedelta(days=3), expires_at=now - timedelta(days=2))
    LoginSession.objects.create(sid="live", user=user, created_at=now - timedelta(days=3), auth_time=now - timedelta(days=3), expires_at=now + timedelta(hours=5))

    call_command("flush_expired_tokens")

    assert sorted(LoginSession.objects.values_list("sid", flat=True)) == ["ended-recently", "live"]
    assert "2 finished sessions" in capsys.readouterr().out


@override_settings(KUNCI_IDP={"REFRESH_TOKEN_LIFETIME": timedelta(days=1)})
def test_flush_keeps_a_redeemed_code_while_the_tokens_of_its_redemption_may_live(db, capsys):
    now = timezone.now()
    RedeemedCode.objects.create(code_id="live", expires_at=now + timedelta(seconds=30))
    # A replay of this one can still end the grant that its redemption made (idp/oauth/codes.py).
    RedeemedCode.objects.create(code_id="redeemed-recently", expires_at=now - timedelta(hours=23))
    RedeemedCode.objects.create(code_id="redeemed-long-ago", expires_at=now - timedelta(days=1, seconds=1))

    call_command("flush_expired_tokens")

    assert sorted(RedeemedCode.objects.values_list("code_id", flat=True)) == ["live", "redeemed-recently"]
    assert "1 redeemed authorization codes and 0 finished sessions" in capsys.readouterr().out
