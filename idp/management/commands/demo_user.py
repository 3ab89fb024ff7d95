import os
import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from settings.environment import VAR_DIR, demo_mode


class Command(BaseCommand):
    help = "Create the demo user once (demo mode only) and print its credentials, kept in var/ for the owner."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="demo")

    def handle(self, *args, username: str, **options) -> None:
        if not demo_mode():
            raise CommandError("demo_user runs only in demo mode (KUNCI_DEMO=1)")
        path = Path(VAR_DIR) / "demo-credentials"
        User = get_user_model()
        user = User._default_manager.filter(username=username).first()
        if user is None or not path.exists():
            password = secrets.token_urlsafe(12)
            user = user or User(username=username, email=f"{username}@example.com")
            user.set_password(password)
            user.save()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(f"{username}\n{password}\n")
        os.chmod(path, 0o600)
        stored_username, password = path.read_text().splitlines()[:2]
        self.stdout.write(f"demo user: {stored_username}  password: {password}")
