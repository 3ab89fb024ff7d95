from django.core.management.base import BaseCommand

from keys.keyring import ensure_keys


class Command(BaseCommand):
    help = "Create the active and next signing keys if they are missing (safe to run at every start)."

    def handle(self, *args, **options) -> None:
        created = ensure_keys()
        if created:
            self.stdout.write(f"created signing keys: {', '.join(created)}")
        else:
            self.stdout.write("signing keys present")
