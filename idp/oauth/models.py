"""The client registry (RFC 6749 §2), the redeemed authorization codes of its clients (RFC 6749 §4.1.2), consents."""
from __future__ import annotations

from authlib.oauth2.rfc6749 import ClientMixin
from django.conf import settings
from django.db import models
from django.utils import timezone

from idp.oauth import credentials
from idp.oauth import redirect_uris as uri_rules
from idp.oauth.validation import validate_client

DEFAULT_SCOPES = ("openid", "profile", "email")
# The longest `nonce` an authorization request may carry (OpenID Connect Core §3.1.2.1 sets no
# bound; the authorization endpoint refuses longer ones with invalid_request).
NONCE_MAX_LENGTH = 255


class PublicClientError(Exception):
    """A secret was asked of a public client, which has none (RFC 6749 §2.1)."""


def default_scopes() -> list[str]:
    return list(DEFAULT_SCOPES)


class AuthMethod(models.TextChoices):
    """How a client authenticates at the token endpoint (RFC 7591 §2 `token_endpoint_auth_method`)."""

    CLIENT_SECRET_BASIC = "client_secret_basic", "client_secret_basic (HTTP Basic, RFC 6749 §2.3.1)"
    CLIENT_SECRET_POST = "client_secret_post", "client_secret_post (form body, RFC 6749 §2.3.1)"
    # RFC 7591 §2: "none" is a public client (RFC 6749 §2.1), which has no secret and proves
    # possession of its codes with PKCE instead.
    NONE = "none", "none (public client: no secret, PKCE required)"


class Client(ClientMixin, models.Model):
    """An application registered to sign people in with Kunci; its secret is kept only as a digest.

    The methods below are the ones authlib's `ClientMixin` asks of a client, so authlib's grants
    and client authentication run on this model directly.
    """

    RESPONSE_TYPES = frozenset({"code"})
    GRANT_TYPES = frozenset({"authorization_code", "refresh_token"})

    client_id = models.CharField(
        max_length=64, unique=True, editable=False, default=credentials.generate_client_id,
    )
    # The hex SHA-256 of the secret (see idp/oauth/credentials.py for why not a password hash);
    # empty for public clients. The secret itself is shown once and never stored.
    secret_digest = models.CharField(max_length=64, blank=True, editable=False)
    name = models.CharField(
        max_length=100, unique=True, help_text="Shown to people on the sign-in and consent pages.",
        error_messages={"unique": "A client with this name already exists."},
    )
    # blank=True: validate_client() says what is wrong with an empty list, once.
    redirect_uris = models.JSONField(
        default=list, blank=True, help_text="Matched exactly, character for character (RFC 6749 §3.1.2.3, RFC 9700 §2.1).",
    )
    post_logout_redirect_uris = models.JSONField(
        default=list, blank=True, help_text="Where RP-Initiated Logout may send the browser afterwards; matched exactly.",
    )
    backchannel_logout_uri = models.CharField(
        max_length=uri_rules.MAX_LENGTH, blank=True,
        help_text="Where Kunci posts logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.2).",
    )
    token_endpoint_auth_method = models.CharField(
        max_length=32, choices=AuthMethod.choices, default=AuthMethod.CLIENT_SECRET_BASIC,
    )
    allowed_scopes = models.JSONField(
        default=default_scopes, blank=True,
        help_text="Scopes this client may be granted; others it asks for are ignored.",
    )
    trusted = models.BooleanField(default=False, help_text="Skip the consent page: for first-party applications.")
    accepts_shared_audience = models.BooleanField(
        default=False,
        help_text="The client accepts access tokens with the shared audience that Kunci's relying parties verify.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"

    # Registration.

    @property
    def is_public(self) -> bool:
        """Whether the client is public (RFC 6749 §2.1): no secret, so codes are bound by PKCE alone."""
        return self.token_endpoint_auth_method == AuthMethod.NONE

    def clean(self) -> None:
        validate_client(self)

    def set_new_secret(self) -> str:
        """Give a confidential client a new secret, keep only its digest, and return it (unsaved)."""
        if self.is_public:
            raise PublicClientError(f"{self.name} is a public client: it has no secret")
        secret = credentials.generate_client_secret()
        self.secret_digest = credentials.secret_digest(secret)
        return secret

    # authlib's ClientMixin.

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        # OpenID Connect Core §3.1.2.1 makes redirect_uri REQUIRED, so there is no default: a
        # request without one is refused with an error page at Kunci, never redirected.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        """Return the requested scopes this client may have, in request order; others are dropped, not refused."""
        if not scope:
            return ""
        allowed = set(self.allowed_scopes)
        granted: list[str] = []
        # RFC 6749 §3.3: the server "MAY fully or partially ignore the scope requested".
        for token in scope.split():
            if token in allowed and token not in granted:
                granted.append(token)
        return " ".join(granted)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return uri_rules.matches_registered(redirect_uri, self.redirect_uris)

    def check_post_logout_redirect_uri(self, uri: str) -> bool:
        """Return whether `uri` is a registered post-logout redirect URI, exactly (RP-Initiated Logout 1.0 §3)."""
        return uri_rules.matches_registered(uri, self.post_logout_redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        return credentials.secret_matches(client_secret, self.secret_digest)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # Each client authenticates one way everywhere (RFC 7591 §2), and RFC 7009 §2.1 has the
        # revocation endpoint use the token endpoint's client authentication. A public client
        # is "none"; a confidential one never is (RFC 6749 §3.2.1: it MUST authenticate).
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        # The authorization code flow only: no implicit or hybrid responses (RFC 9700 §2.1.2).
        return response_type in self.RESPONSE_TYPES

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.GRANT_TYPES


class RedeemedCode(models.Model):
    """An authorization code that was redeemed, by the id it carries: what makes a code single-use.

    A code is sealed, not stored (idp/oauth/codes.py); its redemption writes this row in the
    transaction that writes the grant, and the primary key lets exactly one redemption of a code
    commit (RFC 6749 §4.1.2: the code "MUST NOT be used more than once"). The row is kept one
    refresh lifetime past the code's expiry (`flush_expired_tokens`), so that a replay within that
    time is still recognised, and ends what the redemption created (RFC 6749 §10.5).
    """

    # The code's 128-bit random id, base64url: not the code, which cannot be rebuilt from it.
    code_id = models.CharField(max_length=22, primary_key=True, editable=False)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "redeemed authorization code"

    def __str__(self) -> str:
        return f"redeemed authorization code {self.code_id[:8]}…"


class Consent(models.Model):
    """The scopes a person agreed to share with an untrusted client, on the consent page (OIDC Core §3.1.2.4).

    Asked once per client and set of scopes: a later request for no more than these skips the page,
    unless it says `prompt=consent`.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="consents")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="consents")
    # Space-separated scopes (RFC 6749 §3.3).
    scope = models.TextField()
    given_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "client"], name="idp_consent_user_client")]

    def __str__(self) -> str:
        return f"consent of {self.user_id} to {self.client_id}: {self.scope}"

    def covers(self, scope: str) -> bool:
        return set(scope.split()) <= set(self.scope.split())
