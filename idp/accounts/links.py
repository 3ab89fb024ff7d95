"""One-time links that Kunci emails: activate an account, set a new password.

A link names the user (`uid`, the base64url of the primary key) and carries a token built like
Django's PasswordResetTokenGenerator: an HMAC, under SECRET_KEY (and SECRET_KEY_FALLBACKS, so a key
rotation keeps links working), of the user state that using the link changes, with the time it was
made. Using it changes that state, so it works once; past its lifetime it does not work at all. Each
purpose has its own HMAC salt: a reset token is no activation token. Nothing is stored.

The link's host is KUNCI_IDP ISSUER, never a request's Host header: a forged Host cannot make Kunci
mail a link to someone else's server (the links are built when the mail is sent, with no request).
The token is in the query string, which Kunci's access log leaves out, and the pages send
`Referrer-Policy: same-origin`, so it does not leave the issuer.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes
from django.utils.http import base36_to_int, urlsafe_base64_decode, urlsafe_base64_encode

from idp.conf import idp_settings

# A uid is a short base64url string, a token "<base36 time>-<hex HMAC>": anything longer is not one.
MAX_UID_LENGTH = 32
MAX_TOKEN_LENGTH = 64
MAX_PK = 2**63


class LinkTokens(PasswordResetTokenGenerator):
    """Django's reset-token generator with a salt, a lifetime setting and the user state of one purpose."""

    def __init__(
        self, purpose: str, lifetime_setting: str, state: Callable[[Any], str], clock: Callable[[], datetime] = datetime.now
    ) -> None:
        super().__init__()
        self.key_salt = f"kunci.accounts.links.{purpose}"
        self.lifetime_setting = lifetime_setting
        self.state = state
        self.clock = clock

    def _now(self) -> datetime:
        return self.clock()

    def _make_hash_value(self, user: Any, timestamp: int) -> str:
        return f"{user.pk}|{self.state(user)}|{timestamp}"

    def check_token(self, user: Any, token: str) -> bool:
        """Return whether `token` was made for `user` as it is now, under any current secret, and is not too old."""
        if user is None or not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count("-") != 1:
            return False
        try:
            made_at = base36_to_int(token.split("-")[0])
        except ValueError:
            return False
        if not any(
            constant_time_compare(self._make_token_with_timestamp(user, made_at, secret), token)
            for secret in [self.secret, *self.secret_fallbacks]
        ):
            return False
        # Only the HMAC vouches for `made_at`; a time a little ahead is the clock of another process.
        return self._num_seconds(self._now()) - made_at <= getattr(idp_settings, self.lifetime_setting)


def _activation_state(user: Any) -> str:
    # Activating clears awaiting_activation and sets is_active; registering again over a pending
    # account changes the password hash, which retires the links mailed before.
    return f"{user.is_active}|{user.awaiting_activation}|{user.password}|{user.email}"


def _reset_state(user: Any) -> str:
    # Setting a password changes its hash (salted, even when the same password is chosen again),
    # and a sign-in moves last_login: as Django's reset tokens.
    login = "" if user.last_login is None else user.last_login.replace(microsecond=0, tzinfo=None)
    return f"{user.is_active}|{user.password}|{login}|{user.email}"


activation_tokens = LinkTokens("activation", "ACTIVATION_LINK_SECONDS", _activation_state)
reset_tokens = LinkTokens("password-reset", "PASSWORD_RESET_LINK_SECONDS", _reset_state)


@dataclass(frozen=True)
class LinkKind:
    route: str
    tokens: LinkTokens


ACTIVATION = LinkKind("activate", activation_tokens)
PASSWORD_RESET = LinkKind("password-reset-confirm", reset_tokens)


def link_for(kind: LinkKind, user: Any, *, next_url: str | None = None) -> str:
    """Return the absolute one-time link of `kind` for `user`, on the issuer's URL, made now."""
    query = {"uid": urlsafe_base64_encode(force_bytes(user.pk)), "token": kind.tokens.make_token(user)}
    if next_url:
        query["next"] = next_url
    return f"{idp_settings.ISSUER.rstrip('/')}{reverse(kind.route)}?{urlencode(query)}"


def user_of_link(kind: LinkKind, uid: object, token: object) -> Any | None:
    """Return the user a valid, unused, unexpired link of `kind` names, else None (whatever is wrong with it)."""
    if not isinstance(uid, str) or not isinstance(token, str) or not uid or len(uid) > MAX_UID_LENGTH:
        return None
    try:
        pk = int(urlsafe_base64_decode(uid).decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None
    if not 0 < pk < MAX_PK:
        return None  # a number the database's bigint cannot hold would be an error there, not a miss
    user = get_user_model()._default_manager.filter(pk=pk).first()
    return user if kind.tokens.check_token(user, token) else None
