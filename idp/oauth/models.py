"""The client registry (RFC 6749 §2), and the authorization codes issued to its clients (RFC 6749 §4.1.2)."""
from __future__ import annotations

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin
from django.conf import settings
from django.db import models
from django.utils import timezone

from idp.oauth import credentials, pkce
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


class AuthorizationCode(AuthorizationCodeMixin, models.Model):
    """An authorization code (RFC 6749 §4.1.2), kept only as the SHA-256 digest of the code.

    A code is 256 random bits, lives `AUTHORIZATION_CODE_SECONDS`, and is redeemed at most once
    (idp/oauth/codes.py). It is bound to everything the token endpoint must check or repeat: the
    client and the exact redirect URI (RFC 6749 §4.1.3), the PKCE challenge (RFC 7636 §4.6), and
    for the id_token the nonce, the scope, the user, the OP session (`sid`) and `auth_time`
    (OpenID Connect Core §3.1.3.6, §2). A redeemed code is kept past its expiry, so that a
    replay is still recognised and can end what the first redemption created.
    """

    # Hex SHA-256 of the code: the code itself is never stored, so a read of this table yields
    # nothing that can be redeemed (RFC 6819 §5.1.4.1.3).
    digest = models.CharField(max_length=64, primary_key=True, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="authorization_codes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="authorization_codes")
    # The OP session the code was issued under: every token redeemed from it carries this sid.
    session = models.ForeignKey(
        "idp.LoginSession", on_delete=models.CASCADE, related_name="authorization_codes", db_column="sid",
    )
    redirect_uri = models.CharField(max_length=uri_rules.MAX_LENGTH)
    # The S256 code_challenge (idp/oauth/pkce.py); empty when a confidential client sent none.
    code_challenge = models.CharField(max_length=43, blank=True)
    nonce = models.CharField(max_length=NONCE_MAX_LENGTH, blank=True)
    # The granted scopes, space-separated (RFC 6749 §3.3).
    scope = models.TextField(blank=True)
    auth_time = models.DateTimeField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    redeemed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "authorization code"

    def __str__(self) -> str:
        return f"authorization code {self.digest[:8]}… for {self.client_id}"

    @property
    def sid(self) -> str:
        return self.session_id

    # authlib's AuthorizationCodeMixin, and what its CodeChallenge and OpenIDCode read.

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce or None

    def get_auth_time(self) -> int:
        return int(self.auth_time.timestamp())

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None

    def get_code_challenge(self) -> str:
        return self.code_challenge

    def get_code_challenge_method(self) -> str | None:
        return pkce.S256 if self.code_challenge else None


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
