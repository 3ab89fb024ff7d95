from django.core.management.base import BaseCommand

from keys.keyring import retirement_window
from keys.models import SigningKey


class Command(BaseCommand):
    help = "List the signing keys: kid, state, dates and how long each verifies. Never shows private material."

    def handle(self, *args, **options) -> None:
        header = f"{'kid':<44} {'state':<8} {'bits':>4}  {'created':<20} {'activated':<20} {'retired':<20} verify-until"
        self.stdout.write(header)
        for key in SigningKey.objects.defer("sealed_private_key").order_by("created_at"):
            if key.state == "revoked":
                until = "never (revoked)"
            elif key.retired_at:
                until = _stamp(key.retired_at + retirement_window())
            else:
                until = "while published"
            self.stdout.write(
                f"{key.kid:<44} {key.state:<8} {key.key_size:>4}  {_stamp(key.created_at):<20} "
                f"{_stamp(key.activated_at):<20} {_stamp(key.retired_at or key.revoked_at):<20} {until}"
            )


def _stamp(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"
