"""OpenID Connect Back-Channel Logout 1.0, the issuer's side: whom to tell that a session ended, and telling them.

Whom (§2.3): when a grant ends, its client; when a whole session ends, every client that got
tokens in it, and also every client that accepts the shared access-token audience, since an access
token of the session with that audience may have been presented to any of them. Only clients with
a backchannel_logout_uri, each once. `enqueue_logouts` writes one outbox row per client in the
transaction that ends the session (idp/sessions.py `_notify_logout`), so the notices commit, or
roll back, with the ending itself. A row names the client, the `sid` and the `sub`, never a token:
rows are shown in the admin.

Telling them (§2.5): the outbox worker calls `deliver` for each row. It mints the logout token
there, at each attempt, with the keyring's current key and a fresh two-minute `exp`, so that a
retry an hour later still carries a token the receiver accepts; and it posts to the client's
backchannel_logout_uri as registered *now* (a client removed meanwhile, or its URI: nothing to
deliver, done). The POST goes through idp/outbound.py: the SSRF guard, 3 s to connect and 5 s in
all, no redirects, a capped answer. §2.8: 200 or 204 is done; a 4xx or a redirect is `Refused`
(retried OUTBOX_MAX_REFUSALS times, then kept dead); a 5xx, a timeout or a failed connection is
retried with backoff until OUTBOX_MAX_AGE. What is recorded of a failure never holds the token.
"""
from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from typing import Any

from django.db.models import Q
from django.utils import timezone

from idp import jws, outbound, outbox, tokens
from idp.conf import idp_settings
from idp.oauth.models import Client
from relying_party.exceptions import CodedError
from settings.environment import demo_mode

logger = logging.getLogger("kunci.backchannel")

# The outbox kind of a logout delivery (KUNCI_IDP["OUTBOX_HANDLERS"]).
KIND = "backchannel_logout"
# §2.8: "If the logout succeeded, the RP MUST respond with HTTP 200 OK. However, note that some
# Web frameworks will substitute an HTTP 204 No Content response ..."
DELIVERED = frozenset({200, 204})


class DeliveryFailed(CodedError):
    """The receiver could not be reached, or failed (a 5xx): worth retrying."""

    code = "delivery_failed"
    description = "The logout token could not be delivered"


def enqueue_logouts(sid: str, sub: str, client_pks: Iterable[int], *, whole_session: bool) -> int:
    """Write one logout delivery per client to tell that session `sid` of `sub` ended; in the caller's transaction.

    The clients are those of `client_pks` (the ended grants') and, if `whole_session`, every client
    that accepts the shared audience; only those with a backchannel_logout_uri, each once. Return
    how many rows were written.
    """
    targets = Q(pk__in=set(client_pks))
    if whole_session:
        targets |= Q(accepts_shared_audience=True)
    client_ids = list(
        Client.objects.filter(targets).exclude(backchannel_logout_uri="").order_by("pk").values_list("client_id", flat=True)
    )
    for client_id in client_ids:
        outbox.enqueue(KIND, {"client_id": client_id, "sid": sid, "sub": sub})
    return len(client_ids)


def deliver(payload: dict[str, Any]) -> None:
    """The outbox handler: post a fresh logout token for `payload`'s session to its client's current URI."""
    client = Client.objects.filter(client_id=payload["client_id"]).only("client_id", "backchannel_logout_uri").first()
    if client is None or not client.backchannel_logout_uri:
        logger.info(
            "back-channel logout of session %s: client %s is gone or has no backchannel_logout_uri; nothing to deliver",
            payload["sid"], payload["client_id"],
        )
        return
    claims = tokens.logout_claims(sub=payload["sub"], sid=payload["sid"], client_id=client.client_id, now=timezone.now())
    logout_token = jws.sign(claims, typ=tokens.LOGOUT_TYP)
    try:
        # §2.5: "The OP uses an HTTP POST to the registered back-channel logout URI", the token in
        # the form parameter `logout_token`, application/x-www-form-urlencoded.
        answer = outbound.post_form(
            client.backchannel_logout_uri, {"logout_token": logout_token},
            policy=address_policy(),
            connect_timeout=idp_settings.BACKCHANNEL_CONNECT_TIMEOUT,
            total_timeout=idp_settings.BACKCHANNEL_TIMEOUT,
            max_response_bytes=idp_settings.BACKCHANNEL_MAX_RESPONSE_BYTES,
        )
    except outbound.TargetForbidden as error:
        # The address will not change by itself: a refusal, dead after a few, for an operator to see.
        raise outbox.Refused(
            f"{error.description}: back-channel targets must be public unless KUNCI_BACKCHANNEL_ALLOWED_NETWORKS allows them"
        ) from None
    except outbound.OutboundError as error:
        raise DeliveryFailed(error.description) from None
    if answer.status in DELIVERED:
        return
    said = f"HTTP {answer.status}" + (f" ({answer.error})" if answer.error else "")
    if answer.status >= 500:
        raise DeliveryFailed(f"the receiver failed: {said}")
    # §2.8: a 400 says the receiver refused the token; a redirect is not followed (idp/outbound.py).
    raise outbox.Refused(f"the receiver refused the logout token: {said}")


def address_policy() -> outbound.AddressPolicy:
    """Return the addresses back-channel logout may reach: public ones, the operator's networks, and in demo mode all."""
    networks = tuple(ipaddress.ip_network(network, strict=False) for network in idp_settings.BACKCHANNEL_ALLOWED_NETWORKS)
    return outbound.AddressPolicy(allowed_networks=networks, allow_all=demo_mode())
