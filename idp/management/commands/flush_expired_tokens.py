from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from idp.conf import idp_settings
from idp.models import LoginSession, RedeemedCode


class Command(BaseCommand):
    help = (
        "Delete expired refresh-token records in batches, in constant memory, the login "
        "sessions whose tokens have all expired, and the records of redeemed authorization codes past their time."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=10_000, help="rows per transaction (default 10000)")

    def handle(self, *args, batch_size: int, **options) -> None:
        # simplejwt's flushexpiredtokens deletes through Django's collector, which loads every
        # expired row (token text included) into memory first: gigabytes at a million rows.
        # Here each batch is one short transaction, and only ids are loaded.
        now = timezone.now()
        total = 0
        while True:
            with transaction.atomic():
                ids = list(
                    OutstandingToken.objects.filter(expires_at__lte=now).order_by("id").values_list("id", flat=True)[:batch_size]
                )
                if not ids:
                    break
                BlacklistedToken.objects.filter(token_id__in=ids).delete()
                OutstandingToken.objects.filter(id__in=ids).only("id").delete()
            total += len(ids)
        # A session is over for good once its newest refresh token has expired; an ended one, at
        # the latest one refresh lifetime after it ended.
        ended_before = now - idp_settings.REFRESH_TOKEN_LIFETIME
        # Codes are sealed, not stored (idp/oauth/codes.py); a redeemed one's row is kept one
        # refresh lifetime past the code's expiry, while the tokens its redemption created may
        # live: a replay within that time is still recognised, and ends them. One DELETE.
        codes = RedeemedCode.objects.filter(expires_at__lte=ended_before).delete()[0]
        _, deleted = LoginSession.objects.filter(Q(expires_at__lte=now) | Q(ended_at__lte=ended_before)).delete()
        sessions = deleted.get(LoginSession._meta.label, 0)
        self.stdout.write(
            f"deleted {total} expired tokens, {codes} redeemed authorization codes and {sessions} finished sessions"
        )
