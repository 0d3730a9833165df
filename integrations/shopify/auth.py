"""Who is calling, and the token endpoints: install-link HMAC, session tokens (App Bridge ID
tokens), token exchange, the authorization-code grant and the refresh of expiring offline tokens.

Shopify's ``shopifyapp`` package does the parts it offers: webhook HMAC verification, ID-token
verification (``verify_app_home_req``), token exchange and refresh. Its HTTP calls go through
``OutboundTransport``, an httpx transport that sends them with our outbound session to the
shop's (or the fake's) URL, so they keep our timeouts, redirect and address rules. It has no
authorization-code grant and no install-link (query-string) HMAC check: those are here, with
``hmac`` and a plain POST (docs/shopify.md says why).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import requests
from django.conf import settings
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from shopify_app import ShopifyApp

from integrations.exceptions import (
    PlatformNotConfigured,
    RetryablePlatformError,
    TerminalPlatformError,
)
from integrations.shopify import endpoints
from xsell_plugin.core.exceptions import ApplicationError, OutboundRequestRefused
from xsell_plugin.core.http import outbound_session
from xsell_plugin.stores.models import Store

logger = logging.getLogger(__name__)

PATCH_ID_TOKEN_PATH = "/auth/shopify/patch-id-token"  # noqa: S105 (a path, not a secret)
HMAC_MAX_AGE = timedelta(minutes=5)  # install links and OAuth callbacks older than this are refused


class InstallRequestInvalid(ApplicationError):
    code = "shopify_install_invalid"
    status_code = 400
    default_message = "This install request is not valid."


class SessionTokenInvalid(ApplicationError):
    code = "shopify_session_token_invalid"
    status_code = 401
    default_message = "The Shopify session token is not valid."


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    scopes: str
    expires_at: datetime | None  # None: a non-expiring token
    refresh_token: str = ""
    refresh_expires_at: datetime | None = None


# --- configuration ----------------------------------------------------------------------------
def api_key() -> str:
    if not settings.XSELL_SHOPIFY_API_KEY or not settings.XSELL_SHOPIFY_API_SECRET:
        raise PlatformNotConfigured("XSELL_SHOPIFY_API_KEY and XSELL_SHOPIFY_API_SECRET must be set.")
    return settings.XSELL_SHOPIFY_API_KEY


def secrets() -> list[str]:
    """The app secret, then the previous one while a rotation is under way."""
    api_key()
    return [s for s in (settings.XSELL_SHOPIFY_API_SECRET, settings.XSELL_SHOPIFY_OLD_API_SECRET) if s]


def shopify_app() -> ShopifyApp:
    return ShopifyApp(client_id=api_key(), client_secret=settings.XSELL_SHOPIFY_API_SECRET,
                      old_client_secret=settings.XSELL_SHOPIFY_OLD_API_SECRET or None)


class OutboundTransport(httpx.BaseTransport):
    """Sends the library's requests (built for ``https://<shop>/...``) through our outbound
    session, to ``endpoints.admin_url(shop, path)``. Anything not aimed at a shop is refused."""

    _DROP = frozenset({"host", "content-length", "transfer-encoding", "connection",
                       "content-encoding"})

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = endpoints.rewrite_shop_url(str(request.url))
        if target is None:
            raise httpx.ConnectError("refusing a request that is not for a shop", request=request)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in self._DROP}
        try:
            response = outbound_session().request(request.method, target, headers=headers,
                                                  data=request.read())
        except (requests.RequestException, OutboundRequestRefused) as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}", request=request) from None
        return httpx.Response(
            response.status_code, request=request, content=response.content,
            headers=[(k, v) for k, v in response.headers.items() if k.lower() not in self._DROP])


def _library_http() -> httpx.Client:
    return httpx.Client(transport=OutboundTransport())


def _parse_expiry(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _issued(token: Any) -> IssuedToken:
    return IssuedToken(access_token=token.token, scopes=token.scope or "",
                       expires_at=_parse_expiry(token.expires),
                       refresh_token=token.refresh_token or "",
                       refresh_expires_at=_parse_expiry(token.refresh_token_expires))


# --- install link / OAuth callback HMAC --------------------------------------------------------
def _query_message(params: Mapping[str, Sequence[str]]) -> str:
    parts = []
    for key in sorted(k for k in params if k not in ("hmac", "signature")):
        values = list(params[key])
        if key.endswith("[]") or len(values) > 1:
            value = "[" + ", ".join(f'"{v}"' for v in values) + "]"
            key = key.removesuffix("[]")
        else:
            value = values[0] if values else ""
        parts.append(f"{key}={value}")
    return "&".join(parts)


def query_hmac(params: Mapping[str, Sequence[str]], secret: str) -> str:
    """Shopify's query-string HMAC: sorted ``key=value`` pairs (no ``hmac``) joined by ``&``."""
    return hmac.new(secret.encode(), _query_message(params).encode(), hashlib.sha256).hexdigest()


def _first(params: Mapping[str, Sequence[str]], key: str) -> str:
    return next(iter(params.get(key) or [""]))


def verify_query(params: Mapping[str, Sequence[str]], *, now: float | None = None) -> str:
    """Check an install link or OAuth callback; returns its shop domain or raises."""
    received = _first(params, "hmac").lower()
    if not received or not any(hmac.compare_digest(received, query_hmac(params, s))
                               for s in secrets()):
        raise InstallRequestInvalid("The request's HMAC signature is not valid.",
                                    code="shopify_hmac_invalid")
    shop = endpoints.shop_domain(_first(params, "shop"))
    if shop is None:
        raise InstallRequestInvalid("The shop must be a <name>.myshopify.com domain.",
                                    code="shopify_shop_invalid")
    try:
        stamp = int(_first(params, "timestamp") or "0")
    except ValueError:
        stamp = 0
    now = time.time() if now is None else now
    if abs(now - stamp) > HMAC_MAX_AGE.total_seconds():
        raise InstallRequestInvalid("The request has expired; start the install again.",
                                    code="shopify_request_expired")
    return shop


# --- session tokens (App Bridge ID tokens) ------------------------------------------------------
def request_input(method: str, url: str, headers: Mapping[str, str], body: str = "") -> dict:
    return {"method": method, "url": url, "headers": dict(headers), "body": body}


def verify_app_home(method: str, url: str, headers: Mapping[str, str]):
    """The library's App Home check for a document request (``id_token`` in the query, or a
    redirect to the patch-ID-token page). Returns its result."""
    return shopify_app().verify_app_home_req(request_input(method, url, headers),
                                             app_home_patch_id_token_path=PATCH_ID_TOKEN_PATH)


def check_claims(claims: Mapping[str, Any]) -> str:
    """What the library leaves to us: ``exp`` and ``dest`` present, ``iss`` on the same shop.
    Returns the shop domain."""
    if "exp" not in claims or "nbf" not in claims:
        raise SessionTokenInvalid("The session token has no expiry.", code="session_token_no_exp")
    shop = endpoints.shop_domain(urlsplit(str(claims.get("dest", ""))).hostname or "")
    issuer = urlsplit(str(claims.get("iss", ""))).hostname or ""
    if shop is None or endpoints.shop_domain(issuer) != shop:
        raise SessionTokenInvalid("The session token names no valid shop.",
                                  code="session_token_bad_dest")
    return shop


def verify_session_token(token: str, url: str = "https://app.invalid/") -> tuple[str, dict]:
    """Verify a ``Bearer`` session token (HS256 with the app secret, ``aud`` = API key, ``exp`` and
    ``nbf`` with 10 s leeway). Returns (shop domain, claims)."""
    result = shopify_app().verify_app_home_req(
        request_input("GET", url, {"authorization": f"Bearer {token}"}),
        app_home_patch_id_token_path=PATCH_ID_TOKEN_PATH)
    if not result.ok or result.id_token is None:
        raise SessionTokenInvalid(code=f"session_token_{result.log.code}")
    claims = dict(result.id_token.claims)
    return check_claims(claims), claims


class ShopifySessionTokenAuthentication(BaseAuthentication):
    """DRF authentication for the embedded admin's API calls: ``Authorization: Bearer <session
    token>``. ``request.auth`` is the shop's installed, active Store."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if scheme != self.keyword or not token:
            return None
        try:
            shop, _ = verify_session_token(token.strip(), request.build_absolute_uri())
        except ApplicationError as exc:
            raise AuthenticationFailed(exc.message, code=exc.code) from None
        store = Store.objects.filter(platform=Store.Platform.SHOPIFY, domain=shop,
                                     status=Store.Status.ACTIVE).first()
        if store is None:
            raise AuthenticationFailed("This shop has not installed the app.",
                                       code="shop_not_installed")
        return (None, store)

    def authenticate_header(self, request) -> str:
        return self.keyword


# --- token endpoints --------------------------------------------------------------------------
def exchange_session_token(id_token) -> IssuedToken:
    """Token exchange: a verified ID token -> an expiring offline access token + refresh token."""
    result = shopify_app().exchange_using_token_exchange(
        "offline", id_token=id_token, expiring=True, http_client=_library_http())
    if result.ok and result.access_token is not None:
        return _issued(result.access_token)
    code = result.log.code
    if code == "invalid_subject_token":
        raise SessionTokenInvalid("Shopify refused the session token.", code="session_token_refused")
    if code in ("network_error", "rate_limit_exceeded", "server_error"):
        raise RetryablePlatformError(f"Token exchange failed ({code}).", retry_after=5)
    raise TerminalPlatformError(f"Token exchange failed ({code}).", code="shopify_token_exchange")


def refresh_access_token(*, shop: str, refresh_token: str,
                         refresh_expires_at: datetime | None) -> IssuedToken:
    """Rotate an expiring offline token (the library's refresh; always forced: we decide when)."""
    result = shopify_app().refresh_token_exchanged_access_token(
        {"shop": shop.removesuffix(".myshopify.com"), "refresh_token": refresh_token,
         "expires": None, "access_mode": "offline",
         "refresh_token_expires": (refresh_expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                                   if refresh_expires_at else None)},
        http_client=_library_http())
    if result.ok and result.access_token is not None:
        return _issued(result.access_token)
    code = result.log.code
    if code in ("network_error", "server_error"):
        raise RetryablePlatformError(f"Token refresh failed ({code}).", retry_after=5)
    raise TerminalPlatformError(
        f"Token refresh failed ({code}); the merchant must open the app again.",
        code="shopify_refresh_failed", extra={"shop": shop, "reason": code})


def exchange_authorization_code(*, shop: str, code: str) -> IssuedToken:
    """Authorization-code grant (non-embedded installs), asking for an expiring offline token."""
    try:
        response = outbound_session().post(endpoints.token_url(shop), json={
            "client_id": api_key(), "client_secret": settings.XSELL_SHOPIFY_API_SECRET,
            "code": code, "expiring": 1,
        }, headers={"Accept": "application/json"})
    except OutboundRequestRefused as exc:
        raise TerminalPlatformError(exc.message) from None
    except requests.RequestException as exc:
        raise RetryablePlatformError(f"Token request failed: {type(exc).__name__}",
                                     retry_after=5) from None
    if response.status_code >= 500 or response.status_code == 429:
        raise RetryablePlatformError(f"Token request answered HTTP {response.status_code}.",
                                     retry_after=5)
    try:
        data = response.json()
    except ValueError:
        data = {}
    if response.status_code != 200 or not data.get("access_token"):
        raise InstallRequestInvalid("Shopify refused the authorization code.",
                                    code="shopify_code_refused",
                                    extra={"error": str(data.get("error", response.status_code))})
    now = datetime.now(UTC)
    expires_in = data.get("expires_in")
    refresh_in = data.get("refresh_token_expires_in")
    return IssuedToken(
        access_token=data["access_token"], scopes=data.get("scope", ""),
        expires_at=now + timedelta(seconds=int(expires_in)) if expires_in else None,
        refresh_token=data.get("refresh_token") or "",
        refresh_expires_at=now + timedelta(seconds=int(refresh_in)) if refresh_in else None,
    )


# --- webhooks ---------------------------------------------------------------------------------
def verify_webhook(headers: Mapping[str, str], body: str):
    """The library's webhook check: HMAC-SHA256 (base64) of the raw body, constant-time, with the
    app secret (and the previous one during a rotation); both header spellings."""
    return shopify_app().verify_webhook_req(
        request_input("POST", endpoints.webhook_callback_url(), headers, body))
