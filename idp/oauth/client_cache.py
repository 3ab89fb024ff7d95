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

import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from idp.conf import idp_settings
from idp.oauth.models import Client

MAX_ENTRIES = 1024


class ClientCache:
    """Clients by `client_id`, each kept for CLIENT_CACHE_SECONDS (read at call time) after it was read."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_entries: int = MAX_ENTRIES) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._entries: dict[str, tuple[float, Client]] = {}
        # Bumped by every forget(): a read that began before it must not store what it read.
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, client_id: str) -> Client | None:
        """Return the client registered as `client_id`, or None if there is none."""
        entry = self._entries.get(client_id)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        generation = self._generation
        client = next(iter(Client.objects.filter(client_id=client_id)[:1]), None)
        seconds = idp_settings.CLIENT_CACHE_SECONDS
        if client is not None and seconds > 0:
            with self._lock:
                if generation == self._generation:
                    self._make_room()
                    self._entries[client_id] = (self._clock() + seconds, client)
        return client

    def forget(self, client_id: str | None = None) -> None:
        """Drop the client `client_id` (every client when None), so that the next get() reads the database."""
        with self._lock:
            self._generation += 1
            if client_id is None:
                self._entries.clear()
            else:
                self._entries.pop(client_id, None)

    def _make_room(self) -> None:
        if len(self._entries) < self._max_entries:
            return
        now = self._clock()
        for client_id in [key for key, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[client_id]
        if len(self._entries) >= self._max_entries:
            self._entries.clear()


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
