"""The issuer's settings object: `settings.KUNCI_IDP` over DEFAULTS, read at call time."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from keys.conf import AppSettings

IDP_DEFAULTS: dict[str, Any] = {
    # The `iss` of every token and the discovery document's `issuer`, byte for byte.
    "ISSUER": "http://127.0.0.1:8000",
    # The `aud` of every token: what relying parties configure as their AUDIENCE.
    "AUDIENCE": "kunci-apps",
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
    # Seconds of clock skew tolerated when the issuer checks exp, nbf and iat.
    "LEEWAY": 10,
    # Refused logins allowed in each window before 429: per username from one client IP (strict),
    # per client IP across usernames, and per username across every IP (a high ceiling, so that
    # someone else's guesses cannot lock the owner out). See SECURITY.md, "Password guessing".
    "LOGIN_FAILURES_PER_USERNAME_IP": 5,
    "LOGIN_FAILURES_PER_IP": 20,
    "LOGIN_FAILURES_PER_USERNAME": 100,
    # Seconds of one throttling window.
    "LOGIN_FAILURE_WINDOW": 300,
    # Password hashes computed at once per process (each Argon2id hash holds 19 MiB), and the
    # seconds a login waits for a free slot before 503 server_busy.
    "PASSWORD_HASHING_SLOTS": 2,
    "PASSWORD_HASHING_WAIT": 0,
    # Seconds after a rotation during which presenting the rotated refresh token again is a
    # retry that gets a new pair, as long as the successor was never sent to a client nor used
    # (idp/sessions.py); 0 treats every such repeat as reuse and ends the session (RFC 9700 §4.14.2).
    "REFRESH_REUSE_GRACE": 5,
    # Seconds an authorization code may be redeemed after it is issued. RFC 6749 §4.1.2: "A
    # maximum authorization code lifetime of 10 minutes is RECOMMENDED"; a browser redirect and
    # one token request take seconds, so a minute leaves a stolen code little time.
    "AUTHORIZATION_CODE_SECONDS": 60,
    # Cookie mode (idp/cookies.py): the names of the access- and refresh-token cookies. Browsers do
    # not separate cookies by port (RFC 6265 §8.5): they must differ from every other service's
    # cookie on the host, and from the issuer's session and CSRF cookies (idp.E012 checks).
    "ACCESS_COOKIE_NAME": "kunci_access",
    "REFRESH_COOKIE_NAME": "kunci_refresh",
    # The access cookie's Domain (RFC 6265 §5.2.3): None keeps it to the issuer's host; a parent
    # domain ("example.com") lets relying parties on its other hosts read it. The refresh cookie
    # is always host-only.
    "ACCESS_COOKIE_DOMAIN": None,
    # Whether token cookies answered to a loopback host (127.0.0.0/8, [::1], localhost) are Secure.
    # settings/idp.py turns it off in demo mode only, so that the demo works over plain HTTP.
    "COOKIE_SECURE_ON_LOOPBACK": True,
    # Seconds a process keeps a registered client it read for the authorization endpoint
    # (idp/oauth/client_cache.py): a change to a client, or its removal, made in another process
    # reaches this one within them. 0 reads the client from the database on every request.
    "CLIENT_CACHE_SECONDS": 5,
    # Seconds a process remembers which sign-in a browser's Django session names (idp/accounts/
    # browser.py), so that single sign-on need not read the session's row again. Every request still
    # reads the OP session and its user: only a Django session deleted while its OP session goes on
    # (Django's admin logout in another process, its expiry) is seen as it was, for up to this long.
    # 0 reads the row on every request.
    "SIGN_IN_CACHE_SECONDS": 30,
    # The origins whose scripts may call the JSON API (/api/...), exactly as browsers send them in
    # Origin (scheme://host[:port]); none by default. See idp/cors.py for the other paths.
    "CORS_ORIGINS": [],
    # The outbox (idp/outbox): background work, by kind, to the dotted path of its handler. A
    # deployment that adds a kind keeps this one: every ended session writes rows of it.
    "OUTBOX_HANDLERS": {"backchannel_logout": "idp.backchannel.deliver", "email": "idp.accounts.mail.deliver"},
    # Seconds after which a row that still fails is given up (a dead row, kept and shown).
    "OUTBOX_MAX_AGE": 86400,
    # Retries wait OUTBOX_RETRY_BASE × 2^(attempt-1) seconds, at most OUTBOX_RETRY_CAP, with jitter.
    "OUTBOX_RETRY_BASE": 0.5,
    "OUTBOX_RETRY_CAP": 10,
    # Refusals (e.g. HTTP 4xx answers) after which a row is dead without waiting for its age.
    "OUTBOX_MAX_REFUSALS": 3,
    # Seconds a worker holds a claimed row; a row whose worker died is taken over after this.
    "OUTBOX_LEASE": 30,
    # Deliveries a worker runs at once (threads): a slow target holds one, not the queue.
    "OUTBOX_CONCURRENCY": 8,
    # Seconds between a SQLite worker's looks for new rows (PostgreSQL's are notified).
    "OUTBOX_POLL_INTERVAL": 0.05,
    # Seconds delivered rows are kept for operators before they are purged.
    "OUTBOX_KEEP_DELIVERED": 86400,
    # Back-channel logout (idp/backchannel.py): seconds to connect to a client's
    # backchannel_logout_uri, seconds for the whole POST and its answer, and the most of the
    # answer read, in bytes.
    "BACKCHANNEL_CONNECT_TIMEOUT": 3.0,
    "BACKCHANNEL_TIMEOUT": 5.0,
    "BACKCHANNEL_MAX_RESPONSE_BYTES": 16 * 1024,
    # Networks (CIDR strings, e.g. "10.20.0.0/16" or "127.0.0.1/32") that back-channel logout may
    # reach although they are not public; outside demo mode every other non-public address is
    # refused (idp/outbound.py, the SSRF guard). ["0.0.0.0/0", "::/0"] turns the guard off.
    "BACKCHANNEL_ALLOWED_NETWORKS": [],
    # Self-service registration (/register, /api/register, prompt=create); off unless turned on
    # (settings/idp.py turns it on in demo mode). Password reset and change do not depend on it.
    "REGISTRATION": False,
    # Seconds an emailed link stays usable, counted from when the mail is sent: activation links
    # long enough for a mail read the next day, reset links short (OWASP Forgot Password Cheat Sheet).
    "ACTIVATION_LINK_SECONDS": 2 * 86400,
    "PASSWORD_RESET_LINK_SECONDS": 3600,
    # Requests that send email (register, resend activation, password reset) allowed in each
    # window per address and per client IP, before 429: nobody can flood a mailbox through Kunci.
    "ACCOUNT_EMAILS_PER_ADDRESS": 5,
    "ACCOUNT_REQUESTS_PER_IP": 20,
    "ACCOUNT_REQUEST_WINDOW": 3600,
}

idp_settings = AppSettings("KUNCI_IDP", IDP_DEFAULTS)


@receiver(setting_changed)
def _reload_idp_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == "KUNCI_IDP":
        idp_settings.reload()
