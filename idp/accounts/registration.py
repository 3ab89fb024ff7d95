"""Self-service registration: register, activate through the emailed link, resend that link.

Registration never tells whether an address has an account (OWASP Authentication Cheat Sheet,
"Account creation"): every request the throttle lets through answers alike, runs the password
hasher exactly once, and queues exactly one mail, which is where the answer goes:

- a new address gets an inactive account awaiting activation, and the activation mail;
- an address whose account still awaits activation gets that account with the new registration's
  password, username and name, and a new activation mail (the earlier links stop working, since
  the password hash is part of their token: the last registration is the one activated);
- an address with an account (active or not) gets "someone tried to register with your address";
- a username someone else has gets "your registration was not completed", to the address given,
  so that nobody learns which usernames exist without a mailbox and a throttled request each.

An account signs in only once activated (idp/backends.py says `account_inactive` to whoever has
its password). `KUNCI_IDP["REGISTRATION"]` off turns all of this off: the views answer 404.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction

from idp.accounts import links
from idp.accounts.mail import enqueue_mail
from idp.conf import idp_settings
from idp.exceptions import LinkInvalid

NAME_MAX_LENGTH = 150
# Generated usernames: the address's local part in the characters Django's username validator
# allows, then random digits while it is taken.
_NOT_IN_USERNAMES = re.compile(r"[^\w.@+-]")


@dataclass(frozen=True)
class Registration:
    """A registration request whose fields passed validation (idp/accounts/api.py, forms.py)."""

    email: str
    password: str
    username: str = ""
    name: str = ""
    # Where the browser goes once the account is activated and signed in (a path on the issuer).
    next_url: str | None = None


def registration_open() -> bool:
    """Return whether self-service registration is on (KUNCI_IDP REGISTRATION)."""
    return bool(idp_settings.REGISTRATION)


def normalize_email(email: str) -> str:
    """Return `email` as Kunci stores it: trimmed, its domain lowercased (the local part is the owner's)."""
    return BaseUserManager.normalize_email(email.strip())


def check_new_password(password: str, *, email: str, username: str = "", name: str = "", user: Any = None) -> None:
    """Run Django's password validators; raise django.core.exceptions.ValidationError naming every failure."""
    if user is None:
        first_name, last_name = split_name(name)
        user = get_user_model()(email=email, username=username, first_name=first_name, last_name=last_name)
    password_validation.validate_password(password, user=user)


def split_name(name: str) -> tuple[str, str]:
    """Split a full name at its first space into the user's first and last name; joined again it is the OIDC `name`."""
    first, _, last = " ".join(name.split()).partition(" ")
    return first, last


def register(registration: Registration) -> None:
    """Register `registration` as the module docstring says: one password hash and one queued mail, whatever the address."""
    # Hashed once, before any lookup and outside the transaction (a hash holds no database lock).
    hashed = make_password(registration.password)
    try:
        with transaction.atomic():
            _register(registration, hashed)
    except IntegrityError:
        # A concurrent registration of the same address or username committed first: decide again.
        with transaction.atomic():
            _register(registration, hashed)


def _register(registration: Registration, hashed: str) -> None:
    User = get_user_model()
    existing = User._default_manager.select_for_update().filter(email__iexact=registration.email).first()
    if existing is not None and not existing.awaiting_activation:
        enqueue_mail("registration_exists", user=existing)
        return
    if registration.username and _username_taken(registration.username, besides=existing):
        enqueue_mail("username_taken", to=registration.email, username=registration.username)
        return
    user = existing or User(email=registration.email, is_active=False, awaiting_activation=True)
    user.username = registration.username or (existing.username if existing else _free_username(registration.email))
    user.first_name, user.last_name = split_name(registration.name)
    user.password = hashed
    user.save()
    details = {"next": registration.next_url} if registration.next_url else {}
    enqueue_mail("activation", user=user, **details)


def _username_taken(username: str, *, besides: Any) -> bool:
    # Case-insensitive, as Django's own user forms check: "Alice" and "alice" are one name to a person.
    taken = get_user_model()._default_manager.filter(username__iexact=username)
    if besides is not None:
        taken = taken.exclude(pk=besides.pk)
    return taken.exists()


def _free_username(email: str) -> str:
    base = _NOT_IN_USERNAMES.sub("", email.rpartition("@")[0])[:30] or "user"
    candidate = base
    while _username_taken(candidate, besides=None):
        candidate = f"{base}{secrets.randbelow(10**6):06d}"
    return candidate


def activate(uid: object, token: object) -> Any:
    """Activate the account an activation link names and return it; raise LinkInvalid if the link is not (or no longer) good."""
    with transaction.atomic():
        user = links.user_of_link(links.ACTIVATION, uid, token)
        if user is None:
            raise LinkInvalid()
        # Locked and read again: of two requests with one link, the second finds it used.
        user = get_user_model()._default_manager.select_for_update().get(pk=user.pk)
        if user.is_active or not user.awaiting_activation or not links.ACTIVATION.tokens.check_token(user, token):
            raise LinkInvalid()
        user.is_active = True
        user.save()  # which clears awaiting_activation (idp.models.User.save)
    return user


def resend_activation(email: str, *, next_url: str | None = None) -> None:
    """Queue a new activation mail if `email` names an account awaiting activation; do nothing otherwise."""
    user = get_user_model()._default_manager.get_by_email(email)
    if user is not None and user.awaiting_activation and not user.is_active:
        details = {"next": next_url} if next_url else {}
        enqueue_mail("activation", user=user, **details)
