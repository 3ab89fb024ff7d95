"""`manage.py clients`: register, list, show, remove OAuth clients and rotate their secrets."""
from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError, transaction

from idp.oauth.models import AuthMethod, Client, default_scopes


def validation_message(error: ValidationError) -> str:
    """Return a ValidationError as lines of `field: message` for a terminal."""
    if hasattr(error, "error_dict"):
        return "\n".join(f"{field}: {message}" for field, messages in error.message_dict.items() for message in messages)
    return "\n".join(error.messages)


class Command(BaseCommand):
    help = "Manage the OAuth/OpenID Connect clients that may sign people in with Kunci."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

        add = actions.add_parser("add", help="Register a client and print its credentials (the secret once).")
        add.add_argument("name", help="The name people see on the sign-in and consent pages.")
        add.add_argument(
            "--redirect-uri", dest="redirect_uris", action="append", required=True, metavar="URI",
            help="A redirect URI, matched exactly; repeat for several.",
        )
        add.add_argument(
            "--post-logout-redirect-uri", dest="post_logout_redirect_uris", action="append", default=[],
            metavar="URI", help="Where logout may return the browser; repeat for several.",
        )
        add.add_argument(
            "--backchannel-logout-uri", default="", metavar="URI",
            help="Where Kunci posts a logout token when a session the client was part of ends "
            "(OpenID Connect Back-Channel Logout 1.0): https, or http on a loopback address.",
        )
        kind = add.add_mutually_exclusive_group()
        kind.add_argument("--public", action="store_true", help="A public client: no secret, PKCE required.")
        kind.add_argument(
            "--token-endpoint-auth-method", default=AuthMethod.CLIENT_SECRET_BASIC,
            choices=[AuthMethod.CLIENT_SECRET_BASIC.value, AuthMethod.CLIENT_SECRET_POST.value],
            help="How the confidential client sends its secret (default: client_secret_basic).",
        )
        add.add_argument(
            "--scope", dest="scopes", action="append", metavar="SCOPE",
            help="An allowed scope; repeat for several (default: openid profile email).",
        )
        add.add_argument("--trusted", action="store_true", help="Skip the consent page (first-party apps).")
        add.add_argument(
            "--accepts-shared-audience", action="store_true",
            help="The client accepts access tokens with the shared audience of Kunci's relying parties.",
        )
        add.add_argument("--json", dest="as_json", action="store_true", help='Print only {"client_id": ..., "client_secret": ...}.')

        listing = actions.add_parser("list", help="List the clients.")
        listing.add_argument("--json", dest="as_json", action="store_true")

        show = actions.add_parser("show", help="Show one client's registration (never its secret).")
        show.add_argument("client_id")
        show.add_argument("--json", dest="as_json", action="store_true")

        remove = actions.add_parser("remove", help="Remove a client.")
        remove.add_argument("client_id")

        rotate = actions.add_parser("rotate-secret", help="Give a client a new secret and print it once.")
        rotate.add_argument("client_id")
        rotate.add_argument("--json", dest="as_json", action="store_true", help='Print only {"client_id": ..., "client_secret": ...}.')

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        handler = {
            "add": self.add,
            "list": self.list_clients,
            "show": self.show,
            "remove": self.remove,
            "rotate-secret": self.rotate_secret,
        }[action]
        handler(**options)

    def add(self, *, name: str, redirect_uris: list[str], post_logout_redirect_uris: list[str],
            backchannel_logout_uri: str, public: bool, token_endpoint_auth_method: str,
            scopes: list[str] | None, trusted: bool, accepts_shared_audience: bool, as_json: bool, **_: Any) -> None:
        client = Client(
            name=name,
            redirect_uris=redirect_uris,
            post_logout_redirect_uris=post_logout_redirect_uris,
            backchannel_logout_uri=backchannel_logout_uri,
            token_endpoint_auth_method=AuthMethod.NONE if public else token_endpoint_auth_method,
            allowed_scopes=scopes or default_scopes(),
            trusted=trusted,
            accepts_shared_audience=accepts_shared_audience,
        )
        secret = None if client.is_public else client.set_new_secret()
        try:
            client.full_clean()
            with transaction.atomic():
                client.save()
        except ValidationError as error:
            raise CommandError(validation_message(error)) from error
        except IntegrityError as error:  # a concurrent `add` of the same name won the race
            raise CommandError(f"name: a client named {name!r} already exists.") from error
        self.print_credentials(client, secret, as_json=as_json, verb="Registered")

    def list_clients(self, *, as_json: bool, **_: Any) -> None:
        clients = list(Client.objects.order_by("name"))
        if as_json:
            self.stdout.write(json.dumps([describe(client) for client in clients]))
            return
        if not clients:
            self.stdout.write("No clients. Register one with: manage.py clients add NAME --redirect-uri URI")
            return
        width = max(len(client.name) for client in clients)
        for client in clients:
            kind = "public" if client.is_public else "confidential"
            flags = " trusted" if client.trusted else ""
            self.stdout.write(f"{client.client_id}  {client.name:<{width}}  {kind}{flags}")

    def show(self, *, client_id: str, as_json: bool, **_: Any) -> None:
        client = self.get(client_id)
        described = describe(client)
        if as_json:
            self.stdout.write(json.dumps(described))
            return
        for key, value in described.items():
            if isinstance(value, list):
                value = "\n    ".join(["", *value]) if value else "(none)"
            self.stdout.write(f"{key}: {value}")

    def remove(self, *, client_id: str, **_: Any) -> None:
        client = self.get(client_id)
        with transaction.atomic():
            client.delete()
        self.stdout.write(f"Removed client {client.name} ({client_id}).")

    def rotate_secret(self, *, client_id: str, as_json: bool, **_: Any) -> None:
        with transaction.atomic():
            client = self.get(client_id, for_update=True)
            if client.is_public:
                raise CommandError(f"{client.name} ({client_id}) is a public client: it has no secret to rotate.")
            secret = client.set_new_secret()
            client.save(update_fields=["secret_digest"])
        self.print_credentials(client, secret, as_json=as_json, verb="Rotated the secret of")

    def get(self, client_id: str, *, for_update: bool = False) -> Client:
        clients = Client.objects.select_for_update() if for_update else Client.objects
        try:
            return clients.get(client_id=client_id)
        except Client.DoesNotExist:
            raise CommandError(f"No client has client_id {client_id!r}; `manage.py clients list` shows them.") from None

    def print_credentials(self, client: Client, secret: str | None, *, as_json: bool, verb: str) -> None:
        if as_json:
            payload = {"client_id": client.client_id}
            if secret is not None:
                payload["client_secret"] = secret
            self.stdout.write(json.dumps(payload))
            return
        self.stdout.write(f"{verb} client {client.name}.")
        self.stdout.write(f"  client_id:     {client.client_id}")
        if secret is None:
            self.stdout.write("  (a public client: no secret; it must use PKCE)")
            return
        self.stdout.write(f"  client_secret: {secret}")
        self.stdout.write("The secret is shown this once: Kunci stores only a digest of it. Store it now.")


def describe(client: Client) -> dict[str, Any]:
    """Return a client's registration as JSON-ready data, without its secret or the secret's digest."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "client_type": "public" if client.is_public else "confidential",
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "backchannel_logout_uri": client.backchannel_logout_uri or None,
        "allowed_scopes": list(client.allowed_scopes),
        "trusted": client.trusted,
        "accepts_shared_audience": client.accepts_shared_audience,
        "created_at": client.created_at.isoformat(),
    }
