"""`manage.py demo_clients`: register the demo apps as clients, idempotently, keeping their credentials in var/."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from idp.management.commands.clients import validation_message
from idp.oauth.models import AuthMethod, Client
from settings.environment import VAR_DIR, demo_mode

DEFAULT_APPS = ["app1=http://127.0.0.1:8082", "app2=http://127.0.0.1:8083"]


def credentials_path(name: str) -> Path:
    """Return the file under var/ that holds demo client `name`'s client_id and secret."""
    return Path(VAR_DIR) / f"demo-client-{name}.json"


class Command(BaseCommand):
    help = (
        "Register each demo app as a trusted confidential client that accepts the shared audience and "
        "receives back-channel logout tokens (demo mode only), and keep its "
        "client_id and secret in var/demo-client-NAME.json (owner-only), reused on every run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--app", dest="apps", action="append", metavar="NAME=BASE_URL",
            help=f"A demo app and its base URL; repeat for several (default: {' '.join(DEFAULT_APPS)}).",
        )
        parser.add_argument("--callback-path", default="/oidc/callback", help="The apps' redirect URI path.")
        parser.add_argument("--post-logout-path", default="/", help="Where logout returns to in each app.")
        parser.add_argument(
            "--backchannel-logout-path", default="/backchannel-logout",
            help="Where each app receives logout tokens (OpenID Connect Back-Channel Logout 1.0).",
        )

    def handle(
        self, *args: Any, apps: list[str] | None, callback_path: str, post_logout_path: str,
        backchannel_logout_path: str, **options: Any,
    ) -> None:
        if not demo_mode():
            raise CommandError("demo_clients runs only in demo mode (KUNCI_DEMO=1)")
        for spec in apps or DEFAULT_APPS:
            name, separator, base_url = spec.partition("=")
            if not separator or not name or not base_url:
                raise CommandError(f"--app takes NAME=BASE_URL, e.g. app1=http://127.0.0.1:8082; got {spec!r}")
            base_url = base_url.rstrip("/")
            client = self.register(
                name, f"{base_url}{callback_path}", f"{base_url}{post_logout_path}", f"{base_url}{backchannel_logout_path}",
            )
            self.stdout.write(f"demo client: {name}  client_id: {client.client_id}  ({credentials_path(name)})")

    def register(self, name: str, redirect_uri: str, post_logout_redirect_uri: str, backchannel_logout_uri: str) -> Client:
        """Create or update demo client `name`; give it a new secret unless var/ holds its current one.

        Each demo app accepts the shared audience and has a back-channel logout URI, so every
        session that ends reaches both apps, whichever of them (or the JSON API) it signed in to.
        """
        path = credentials_path(name)
        with transaction.atomic():
            client = Client.objects.select_for_update().filter(name=name).first() or Client(name=name)
            client.redirect_uris = [redirect_uri]
            client.post_logout_redirect_uris = [post_logout_redirect_uri]
            client.backchannel_logout_uri = backchannel_logout_uri
            client.trusted = True
            client.accepts_shared_audience = True
            client.token_endpoint_auth_method = AuthMethod.CLIENT_SECRET_BASIC
            stored = _read_credentials(path)
            secret = stored.get("client_secret")
            if stored.get("client_id") != client.client_id or not client.check_client_secret(secret):
                secret = client.set_new_secret()
            try:
                client.full_clean()
            except ValidationError as error:
                raise CommandError(validation_message(error)) from error
            client.save()
            # Written inside the transaction: if the commit fails, the file's secret no longer
            # matches the stored digest and the next run issues a new one.
            _write_credentials(path, {"client_id": client.client_id, "client_secret": secret})
        return client


def _read_credentials(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_credentials(path: Path, credentials: dict[str, str]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(credentials, handle)
        handle.write("\n")
    os.replace(tmp, path)  # readers never see a half-written file
