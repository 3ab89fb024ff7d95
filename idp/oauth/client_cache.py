"""Registered clients as the authorization endpoint reads them: each kept in memory for a few seconds.

Every /authorize, a signed-in browser's single sign-on included, starts by loading the client its
`client_id` names. Each process keeps a client it read for CLIENT_CACHE_SECONDS (KUNCI_IDP, 5 by
default; 0 reads the database every time), so that a burst of sign-ins to one client reads it once:

- saving or deleting a client through the model in this process (the admin) forgets it here at once;
- anywhere else (another worker or replica, `manage.py clients`, a queryset `update()`) a change to
  a client, or its removal, reaches this process within CLIENT_CACHE_SECONDS. Until then this
  process may still accept a redirect URI or a scope just taken away, or skip the consent of a
  client no longer trusted. A removed client still gets no code: its row is gone, so no code of it
  can be stored, and its requests get the unknown-application page
  (idp/oauth/endpoints/authorize.py);
- only clients that exist are kept, at most MAX_ENTRIES of them: an unknown `client_id` costs a
  statement every time and fills no memory.

The token endpoint does not use it: client authentication reads the client, and so its secret,
every time (a rotated secret stops working at once). The cached instances are shared by the
process's threads: read them, never change them.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from idp.conf import idp_settings
from idp.oauth.models import Client
from idp.process_cache import ProcessCache

MAX_ENTRIES = 1024


class ClientCache(ProcessCache[str, Client]):
    """Clients by `client_id`, each kept for CLIENT_CACHE_SECONDS (read at call time) after it was read."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_entries: int = MAX_ENTRIES) -> None:
        super().__init__(clock=clock, max_entries=max_entries)

    def get(self, client_id: str) -> Client | None:
        """Return the client registered as `client_id`, or None if there is none."""
        client = self.cached(client_id)
        if client is not None:
            return client
        generation = self.generation
        client = next(iter(Client.objects.filter(client_id=client_id)[:1]), None)
        if client is not None:
            self.remember(client_id, client, idp_settings.CLIENT_CACHE_SECONDS, generation=generation)
        return client


clients = ClientCache()


def registered_client(client_id: str) -> Client | None:
    """Return the client registered as `client_id` from this process's cache, or None if there is none."""
    return clients.get(client_id)


@receiver([post_save, post_delete], sender=Client)
def _forget_changed_client(sender: type, instance: Client, **kwargs: Any) -> None:
    clients.forget(instance.client_id)


@receiver(setting_changed)
def _forget_clients(*, setting: str, **kwargs: Any) -> None:
    if setting == "KUNCI_IDP":
        clients.forget()
