"""The issuer's signal receivers, connected when the app is ready."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models.signals import pre_delete
from django.dispatch import receiver


@receiver(pre_delete, sender=settings.AUTH_USER_MODEL)
def end_sessions_of_deleted_user(sender: type, instance: Any, **kwargs: Any) -> None:
    """A user about to be deleted: end their sessions through the session-ending function first.

    CASCADE would delete their sessions and grants without ending them. pre_delete runs inside the
    deletion's transaction while those rows still exist, so what ending them writes (blacklisted
    refresh tokens, which outlive the user; logout notices for their clients) is written with it.
    A signal, not a `delete()` override: `QuerySet.delete()` (the admin's "delete selected") sends
    pre_delete for each user but never calls `delete()`.
    """
    # Imported here: the sessions module reaches DRF, whose settings import the issuer's views.
    from idp.models import SessionEnd
    from idp.sessions import end_all_sessions

    end_all_sessions(instance, SessionEnd.USER_DELETED)
