"""Browser sign-in for Django apps: the OpenID Connect authorization code flow, on authlib's Django client.

authlib does the protocol (OpenID Connect Core 1.0 §3.1): the authorization URL with `state`, a
`nonce` and an S256 PKCE challenge (RFC 7636 §4.2), the code exchange, and the id_token's checks
(signature against the issuer's JWKS, iss, aud, exp, iat, nonce, azp, at_hash). This module adds
what an application decides: where the identity and tokens live (the Django session), when the
access token is refreshed, what a failure shows (an HTML page, never a 500), and RP-Initiated
Logout 1.0. It asks the issuer for its pages in the language of the app's own (`ui_locales`). It
reads `RELYING_PARTY["OIDC"]` at call time and imports nothing from the issuer.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.django_client import DjangoOAuth2App, OAuth
from authlib.oauth2.rfc6749 import OAuth2Token
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from joserfc.errors import JoseError

from relying_party.conf import rp_settings
from relying_party.state import default_revocations

logger = logging.getLogger("kunci.relying_party.web")

# Where the signed-in user's identity and tokens live in the Django session.
SESSION_KEY = "kunci_oidc"
# OpenID Connect Core 1.0 §5.4: `profile` and `email` ask for the claims this page shows.
SCOPE = "openid profile email"
# Seconds before its expiry that the access token is refreshed (authlib's own default leeway).
REFRESH_LEEWAY = 60
# Bytes of a /api/whoami answer shown on the page.
MAX_SHOWN_BYTES = 4096


class SignInError(Exception):
    """A sign-in step failed in a way the user is told about: an HTML page with this status."""

    def __init__(self, status: int, title: str, detail: str, code: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.code = status, title, detail, code


def issuer_unavailable(error: Exception) -> SignInError:
    logger.warning("the issuer could not be reached: %s", " ".join(str(error).split())[:300])
    return SignInError(
        503, _("Kunci cannot be reached"), _("The sign-in service did not answer. Try again in a moment."),
        "issuer_unavailable",
    )


# --- The authlib client, built from settings and rebuilt when they change -------------------------

_client: DjangoOAuth2App | None = None
_client_lock = threading.Lock()


def oidc_client() -> DjangoOAuth2App | None:
    """Return this process's authlib client for the issuer, or None when the app is not registered."""
    global _client
    registration = rp_settings.OIDC
    if not registration or not registration.get("CLIENT_ID") or not registration.get("CLIENT_SECRET"):
        return None
    with _client_lock:
        if _client is None:
            issuer = str(rp_settings.ISSUER or "").rstrip("/")
            oauth = OAuth()
            oauth.register(
                "kunci",
                client_id=registration["CLIENT_ID"],
                client_secret=registration["CLIENT_SECRET"],
                server_metadata_url=registration.get("SERVER_METADATA_URL")
                or f"{issuer}/.well-known/openid-configuration",
                client_kwargs={
                    "scope": SCOPE,
                    # RFC 7636 §4.2: S256, never plain.
                    "code_challenge_method": "S256",
                    # authlib's requests sessions wait forever by default; a stalled issuer must not hold a worker.
                    "default_timeout": rp_settings.FETCH_TIMEOUT,
                    "leeway": REFRESH_LEEWAY,
                },
            )
            _client = oauth.create_client("kunci")
        return _client


def forget_oidc_client() -> None:
    """Drop the client and its cached discovery document and JWKS; the next use rebuilds them."""
    global _client
    with _client_lock:
        _client = None


@receiver(setting_changed)
def _forget_oidc_client(*, setting: str, **kwargs: Any) -> None:
    if setting == "RELYING_PARTY":
        forget_oidc_client()


def server_metadata(client: DjangoOAuth2App) -> dict[str, Any]:
    """Return the issuer's discovery document (cached for MAX_CACHE_TTL), checked against ISSUER."""
    loaded_at = client.server_metadata.get("_loaded_at")
    if loaded_at is not None and time.time() - loaded_at > rp_settings.MAX_CACHE_TTL:
        # Forget the document and the JWKS authlib keeps in it: the issuer may have changed both.
        client.server_metadata.clear()
    try:
        metadata = client.load_server_metadata()
    except (requests.RequestException, ValueError) as error:
        raise issuer_unavailable(error) from error
    expected = rp_settings.ISSUER
    # OpenID Connect Discovery 1.0 §4.3: the document's issuer must be the issuer it was fetched for;
    # authlib then holds every id_token's `iss` to it.
    if expected and metadata.get("issuer") != expected:
        logger.warning("discovery names issuer %r, not %r", metadata.get("issuer"), expected)
        raise SignInError(
            502, _("Sign-in is misconfigured"), _("The sign-in service names a different issuer than this app trusts."),
            "issuer_mismatch",
        )
    # OpenID Connect Discovery 1.0 §3: what the code flow needs is REQUIRED there.
    missing = [name for name in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not metadata.get(name)]
    if missing:
        logger.warning("discovery has no %s", ", ".join(missing))
        raise SignInError(
            502,
            _("Sign-in is not available"),
            _("The sign-in service does not offer browser sign-in yet (its discovery document has no %(field)s).")
            % {"field": missing[0]},
            "issuer_not_oidc",
        )
    return metadata


# --- Pages ------------------------------------------------------------------------------------------


def _render(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    context = {"app_name": rp_settings.APP_NAME, **context}
    return render(request, f"relying_party/{template}", context, status=status)


def _error_page(request: HttpRequest, error: SignInError) -> HttpResponse:
    return _render(request, "error.html", {"title": error.title, "detail": error.detail, "code": error.code}, error.status)


def _not_registered(request: HttpRequest, status: int = 200) -> HttpResponse:
    # The sign-in routes answer 404 then: this deployment offers no browser sign-in (not an outage).
    return _render(request, "home.html", {"registered": False}, status)


def signed_in_identity(request: HttpRequest) -> dict[str, Any] | None:
    """Return what the session holds about the signed-in user, or None, ending the session if the issuer has.

    A back-channel logout (relying_party/backchannel.py) names the issuer's session by the id_token's
    `sid` (or its `sub`): the first request of a browser session it ended is signed out here, whatever
    the session backend, and with no lookup beyond the worker's in-memory view.
    """
    identity = request.session.get(SESSION_KEY)
    if not isinstance(identity, dict):
        return None
    revocations = default_revocations()
    claims = identity.get("claims")
    if revocations is not None and isinstance(claims, dict) and revocations.is_revoked(claims):
        request.session.flush()
        return None
    return identity


@never_cache
@require_http_methods(["GET", "HEAD"])
def home(request: HttpRequest) -> HttpResponse:
    """The app's start page: a "Sign in with Kunci" button, or who is signed in and what they can do."""
    client = oidc_client()
    if client is None:
        return _not_registered(request)
    identity = signed_in_identity(request)
    context: dict[str, Any] = {"registered": True, "identity": identity}
    if identity is None and request.GET.get("state"):
        # Back from the issuer's end_session_endpoint: RP-Initiated Logout 1.0 §3 returns our `state`.
        try:
            client.validate_logout_response(request)
            context["signed_out"] = True
        except OAuthError:
            pass  # someone else's or a stale state: the page is the same without the notice
    return _render(request, "home.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    """Send the browser to the issuer's authorization endpoint (OpenID Connect Core 1.0 §3.1.2.1)."""
    client = oidc_client()
    if client is None:
        return _not_registered(request, status=404)
    try:
        server_metadata(client)
        # authlib adds state, a nonce (the scope has openid) and the S256 challenge, and keeps
        # them and the verifier in the session for the callback. The issuer's pages speak this
        # page's language (`ui_locales`, OpenID Connect Core 1.0 §3.1.2.1).
        return client.authorize_redirect(
            request, request.build_absolute_uri(reverse("oidc-callback")), ui_locales=translation.get_language()
        )
    except SignInError as error:
        return _error_page(request, error)
    except (requests.RequestException, ValueError, RuntimeError) as error:
        return _error_page(request, issuer_unavailable(error))


@never_cache
@require_http_methods(["GET"])
def callback(request: HttpRequest) -> HttpResponse:
    """Take the authorization response, redeem the code, and sign the user in to this app."""
    client = oidc_client()
    if client is None:
        return _not_registered(request, status=404)
    try:
        identity = _redeem(request, client)
    except SignInError as error:
        return _error_page(request, error)
    # Session fixation: the signed-in session gets a key the browser never had before.
    request.session.cycle_key()
    request.session[SESSION_KEY] = identity
    return HttpResponseRedirect(reverse("home"))


def _redeem(request: HttpRequest, client: DjangoOAuth2App) -> dict[str, Any]:
    error = request.GET.get("error")
    if error:
        # RFC 6749 §4.1.2.1: the issuer refused, or the user declined.
        declined = error == "access_denied"
        raise SignInError(
            403 if declined else 400,
            _("Sign-in was cancelled") if declined else _("Sign-in failed"),
            _("You did not allow this app to sign you in.") if declined else _("Kunci could not sign you in to this app."),
            error[:64],
        )
    metadata = server_metadata(client)
    # RFC 9207 §2.4: an `iss` that is not our issuer's is a mix-up attack; refuse before the code is sent anywhere.
    iss = request.GET.get("iss")
    if iss != metadata["issuer"] and (iss is not None or metadata.get("authorization_response_iss_parameter_supported")):
        raise _bad_response(_("The answer did not come from the sign-in service this app trusts."), "issuer_mismatch", 400)
    # authlib checks `aud` only when told to: with no claims_options it checks iss, and azp
    # against our client_id, so an id_token minted for another client whose azp names us would pass.
    # OpenID Connect Core 1.0 §3.1.3.7 (2, 3): iss is the issuer's, and aud contains our client_id.
    claims_options = {
        "iss": {"essential": True, "value": metadata["issuer"]},
        "aud": {"essential": True, "value": client.client_id},
    }
    try:
        token = client.authorize_access_token(request, claims_options=claims_options)
    except MismatchingStateError as error:
        raise _bad_response(_("This sign-in was not started here, or was already used. Start again."), "invalid_state", 400) from error
    except OAuthError as error:
        logger.warning("the token endpoint refused the code: %s", error.error)
        raise _bad_response(_("Kunci did not accept this sign-in. Start again."), "token_refused", 502) from error
    except JoseError as error:
        # The id_token's signature or claims (iss, aud, exp, nonce, at_hash...) did not verify.
        logger.warning("refused an id_token: %s", error)
        raise _bad_response(_("The sign-in answer could not be verified."), "invalid_id_token", 502) from error
    except (requests.RequestException, ValueError, RuntimeError) as error:
        raise issuer_unavailable(error) from error
    claims = token.get("userinfo")
    if not claims:
        # OpenID Connect Core 1.0 §3.1.3.3: the token response of the code flow carries an id_token.
        raise _bad_response(_("The sign-in answer had no id_token."), "invalid_id_token", 502)
    profile = _userinfo(client, metadata, token, claims["sub"])
    return {
        "claims": dict(claims),
        "profile": profile,
        "id_token": token["id_token"],
        "token": {
            name: token[name]
            for name in ("access_token", "refresh_token", "token_type", "expires_at", "scope")
            if name in token
        },
    }


def _bad_response(detail: str, code: str, status: int) -> SignInError:
    return SignInError(status, _("Sign-in failed"), detail, code)


def _bearer(access_token: str) -> dict[str, str]:
    # No expires_at and no refresh_token: authlib then only sends the header, and never refreshes
    # behind our back (a second use of a rotated refresh token would end the user's session).
    return {"access_token": access_token, "token_type": "Bearer"}


def _userinfo(client: DjangoOAuth2App, metadata: dict[str, Any], token: dict[str, Any], sub: str) -> dict[str, Any]:
    """Return the UserInfo claims (name, email...), which an id_token from the code flow need not carry."""
    if not metadata.get("userinfo_endpoint"):
        return {}
    try:
        profile = client.userinfo(token=_bearer(token["access_token"]))
    except (requests.RequestException, ValueError, OAuthError) as error:
        raise issuer_unavailable(error) from error
    # OpenID Connect Core 1.0 §5.3.2: the UserInfo `sub` must be the id_token's, or the answer is not used.
    if profile.get("sub") != sub:
        raise _bad_response(_("The sign-in service answered for another user."), "userinfo_sub_mismatch", 502)
    return dict(profile)


def _fresh_access_token(request: HttpRequest, client: DjangoOAuth2App, identity: dict[str, Any]) -> str:
    """Return a usable access token, refreshing it first (RFC 6749 §6) when it expires within REFRESH_LEEWAY."""
    stored = identity["token"]
    if not OAuth2Token.from_dict(stored).is_expired(leeway=REFRESH_LEEWAY):
        return stored["access_token"]
    if not stored.get("refresh_token"):
        raise _session_ended(request)
    server_metadata(client)
    try:
        token = client.fetch_access_token(grant_type="refresh_token", refresh_token=stored["refresh_token"])
    except OAuthError as error:
        # invalid_grant: the session at the issuer ended (sign-out elsewhere, a revoked grant).
        logger.info("the issuer refused the refresh token: %s", error.error)
        raise _session_ended(request) from error
    except (requests.RequestException, ValueError) as error:
        raise issuer_unavailable(error) from error
    identity["token"] = {
        "access_token": token["access_token"],
        # RFC 6749 §6: the issuer may keep the refresh token; Kunci rotates it.
        "refresh_token": token.get("refresh_token", stored["refresh_token"]),
        "token_type": token.get("token_type", "Bearer"),
        **({"expires_at": token["expires_at"]} if "expires_at" in token else {}),
    }
    request.session[SESSION_KEY] = identity
    return token["access_token"]


def _session_ended(request: HttpRequest) -> SignInError:
    request.session.flush()
    return SignInError(403, _("Signed out"), _("Your Kunci session has ended. Sign in again."), "session_ended")


@never_cache
@require_http_methods(["POST"])
def whoami(request: HttpRequest) -> HttpResponse:
    """Call this app's own `/api/whoami` with the user's access token and show its answer."""
    client = oidc_client()
    identity = signed_in_identity(request)
    if client is None or identity is None:
        return HttpResponseRedirect(reverse("home"))
    try:
        access_token = _fresh_access_token(request, client, identity)
        response = client.get(request.build_absolute_uri(reverse("whoami")), token=_bearer(access_token))
    except SignInError as error:
        return _error_page(request, error)
    except (requests.RequestException, OAuthError) as error:
        logger.warning("calling /api/whoami failed: %s", error)
        return _error_page(
            request, SignInError(502, _("The API call failed"), _("This app's /api/whoami did not answer."), "api_unavailable")
        )
    try:
        shown = json.dumps(response.json(), indent=2, sort_keys=True)
    except ValueError:
        shown = response.text
    result = {"status": response.status_code, "body": shown[:MAX_SHOWN_BYTES]}
    return _render(request, "home.html", {"registered": True, "identity": identity, "whoami": result})


@never_cache
@require_http_methods(["GET", "POST"])
def logout(request: HttpRequest) -> HttpResponse:
    """Sign out here, then at the issuer through its end_session_endpoint (RP-Initiated Logout 1.0 §2).

    GET asks for confirmation: a sign-out must be a POST, or any page could sign the user out.
    """
    identity = signed_in_identity(request)
    if request.method != "POST":
        if identity is None:
            return HttpResponseRedirect(reverse("home"))
        return _render(request, "logout.html", {"identity": identity})
    request.session.flush()
    client = oidc_client()
    if client is None or identity is None:
        return HttpResponseRedirect(reverse("home"))
    try:
        metadata = server_metadata(client)
    except SignInError:
        metadata = {}
    if not metadata.get("end_session_endpoint"):
        return _render(request, "logout.html", {"signed_out_locally": True})
    # authlib adds `state` and keeps it in the (new, empty) session, for home() to recognise on return.
    return client.logout_redirect(
        request,
        post_logout_redirect_uri=request.build_absolute_uri(reverse("home")),
        id_token_hint=identity.get("id_token"),
        client_id=client.client_id,
        # RP-Initiated Logout 1.0 §2: the issuer's confirmation page, if it shows one, in this page's language.
        ui_locales=translation.get_language(),
    )
