"""Connecting a store with WooCommerce's key-granting endpoint (``/wc-auth/v1/authorize``).

1. ``auth_request_start``: the merchant gives their store URL; we keep a single-use, expiring
   nonce and send them to the store's authorize page with the nonce as ``user_id``.
2. ``auth_callback_complete``: WordPress POSTs the new REST keys to our callback (server to
   server, before it redirects the merchant). We claim the nonce once, check the keys with one
   API call (``system_status``) and only then install the store (encrypted keys, a new webhook
   secret) and connect it (webhooks, then backfill, after commit). A key that does not work
   installs nothing: the failure is kept on the request and shown to the merchant on return.
3. ``auth_return_claim``: the merchant comes back (``return_url``) in the browser that started;
   we claim the nonce a second time and the view opens their admin session.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import zoneinfo
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from integrations.connection import store_connect
from integrations.exceptions import PlatformError, RetryablePlatformError
from integrations.woocommerce.client import (
    WooCommerceClient,
    is_loopback_host,
    normalise_site_url,
)
from integrations.woocommerce.models import AuthRequest, Site
from xsell_plugin.core.exceptions import ApplicationError, ValidationFailed
from xsell_plugin.stores.models import Store
from xsell_plugin.stores.services import Credentials, store_install

logger = logging.getLogger(__name__)

NONCE_TTL = timedelta(minutes=30)
SCOPE = "read_write"
SESSION_NONCE = "xsell_woocommerce_nonce"
STATUS_FIELDS = "environment.version,environment.home_url,settings.currency"


class AuthRequestInvalid(ApplicationError):
    code = "woocommerce_auth_invalid"
    status_code = 400
    default_message = "This connection request is not valid."


class AuthRequestUsed(AuthRequestInvalid):
    code = "woocommerce_auth_used"
    status_code = 409
    default_message = "This connection request was used already. Start again from the beginning."


class AuthRequestExpired(AuthRequestInvalid):
    code = "woocommerce_auth_expired"
    default_message = "This connection request has expired. Start again from the beginning."


# -- step 1 ----------------------------------------------------------------------------------

def site_url_validate(raw: str) -> str:
    """The merchant's store URL, normalised; https only (plain http for loopback hosts when
    XSELL_ALLOW_LOOPBACK_HTTP is on). Raises ``ValidationFailed`` with a sentence to show."""
    raw = (raw or "").strip()
    if not raw:
        raise ValidationFailed("Enter your store's address, e.g. https://shop.example.com.",
                               code="store_url_missing")
    if "://" not in raw:
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        raise ValidationFailed("That is not a web address.", code="store_url_invalid") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        raise ValidationFailed("That is not a web address.", code="store_url_invalid")
    if parts.query or parts.fragment:
        raise ValidationFailed("Give the store's address without ?query or #fragment.",
                               code="store_url_invalid")
    loopback = is_loopback_host(host)
    if parts.scheme == "http" and not (loopback and settings.XSELL_ALLOW_LOOPBACK_HTTP):
        raise ValidationFailed("Your store must use https:// (WooCommerce sends API keys only "
                               "over https).", code="store_url_https_required")
    if loopback and not settings.XSELL_ALLOW_LOOPBACK_HTTP:
        raise ValidationFailed("That address is this machine, not a store.",
                               code="store_url_invalid")
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None and not ip.is_loopback and not ip.is_global:
        raise ValidationFailed("That address is on a private network we cannot reach.",
                               code="store_url_private")
    if ip is None and "." not in host and not loopback:
        raise ValidationFailed("Give the store's full domain, e.g. shop.example.com.",
                               code="store_url_invalid")
    return normalise_site_url(raw)


def store_domain(site_url: str) -> str:
    """``host[:port][/path]``: how the store is named in ``Store.domain``."""
    return site_url.split("://", 1)[1].lower()


def auth_request_start(*, site_url: str, now: datetime | None = None) -> AuthRequest:
    now = now or timezone.now()
    # Requests a day past their expiry are of no use, even to explain a failure: drop them.
    AuthRequest.objects.filter(expires_at__lt=now - timedelta(days=1)).delete()
    return AuthRequest.objects.create(nonce=secrets.token_urlsafe(32), site_url=site_url,
                                      created_at=now, expires_at=now + NONCE_TTL)


def authorize_url(auth_request: AuthRequest) -> str:
    public = settings.XSELL_PUBLIC_URL
    query = {
        "app_name": settings.XSELL_WOOCOMMERCE_APP_NAME,
        "scope": SCOPE,
        "user_id": auth_request.nonce,
        "return_url": public + reverse("woocommerce-return"),
        "callback_url": public + reverse("woocommerce-callback"),
    }
    return f"{auth_request.site_url}/wc-auth/v1/authorize?{urlencode(query)}"


# -- step 2 ----------------------------------------------------------------------------------

def _text(body: Mapping, key: str, limit: int = 200) -> str:
    value = body.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise AuthRequestInvalid(f"The callback lacks a valid {key}.", extra={"field": key})
    return value.strip()


def _claim(nonce: str, now: datetime) -> AuthRequest:
    claimed = AuthRequest.objects.filter(nonce=nonce, callback_at__isnull=True,
                                         expires_at__gt=now).update(callback_at=now)
    request = AuthRequest.objects.filter(nonce=nonce).first()
    if request is None:
        raise AuthRequestInvalid("Unknown connection request.")
    if not claimed:
        if request.callback_at is not None:
            raise AuthRequestUsed()
        raise AuthRequestExpired()
    return request


def _timezone_of(index: Mapping[str, Any]) -> str:
    name = str(index.get("timezone_string") or "")
    if name in zoneinfo.available_timezones():
        return name
    try:
        offset = float(index.get("gmt_offset") or 0)
    except (TypeError, ValueError):
        return "UTC"
    if offset and offset.is_integer() and -12 <= offset <= 14:
        # POSIX sign: Etc/GMT-2 is two hours ahead of UTC.
        return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(int(offset))}"
    return "UTC"


def _merchant_message(exc: PlatformError, site_url: str) -> str:
    code = exc.code
    if code == "woocommerce_unauthorized":
        return ("Your store refused the API key it had just created for us. This usually means "
                "the web server drops the HTTP Authorization header before WordPress sees it, or "
                "a security plugin blocks the WooCommerce REST API. Ask your host to pass the "
                "Authorization header through to WordPress, or allow the WooCommerce REST API in "
                "your security plugin, then connect again.")
    if code == "woocommerce_not_found":
        return (f"We could not find the WooCommerce REST API at {site_url}/wp-json/wc/v3/. Check "
                "that WooCommerce is active and that WordPress permalinks are not set to "
                "\u201cPlain\u201d, then connect again.")
    if code == "woocommerce_redirected":
        location = exc.extra.get("location") or "another address"
        return (f"Your store redirected our API call to {location}. Connect with the store's "
                "exact address (https, with or without www, as WordPress has it).")
    if code == "woocommerce_address_refused":
        return "Your store's address is on a network we cannot reach."
    if isinstance(exc, RetryablePlatformError):
        return ("Your store did not answer our API call in time or had an error. Try connecting "
                "again in a few minutes.")
    return f"Your store rejected our API call: {exc.message}"


def auth_callback_complete(*, body: Any, now: datetime | None = None) -> AuthRequest:
    """Handle WooCommerce's key delivery. Raises ``AuthRequestInvalid`` (and subclasses) for a
    request we must refuse (unknown, used or expired nonce; malformed body). A key that fails
    its check is not an exception: the request comes back with ``error`` set, nothing installed.
    """
    now = now or timezone.now()
    if not isinstance(body, Mapping):
        raise AuthRequestInvalid("The callback body is not a JSON object.")
    nonce = _text(body, "user_id")
    consumer_key = _text(body, "consumer_key")
    consumer_secret = _text(body, "consumer_secret")
    permissions = str(body.get("key_permissions") or "")
    request = _claim(nonce, now)

    def fail(code: str, message: str) -> AuthRequest:
        AuthRequest.objects.filter(pk=request.pk).update(error_code=code, error=message)
        request.error_code, request.error = code, message
        logger.warning("woocommerce connect %s failed: %s", request.site_url, code)
        return request

    if permissions != SCOPE:
        return fail("woocommerce_permissions",
                    f"The key was granted with \u201c{permissions or 'no'}\u201d access; we need "
                    "read/write access to create coupons and webhooks. Connect again and approve.")
    client = WooCommerceClient(request.site_url, consumer_key, consumer_secret)
    try:
        status = client.get("system_status", {"_fields": STATUS_FIELDS}).data or {}
    except PlatformError as exc:
        return fail(exc.code, _merchant_message(exc, request.site_url))
    try:
        index = client.site_index()
    except PlatformError:
        index = {}  # public and optional: name and time zone fall back
    environment = status.get("environment") if isinstance(status, Mapping) else None
    environment = environment if isinstance(environment, Mapping) else {}
    store_settings = status.get("settings") if isinstance(status, Mapping) else None
    store_settings = store_settings if isinstance(store_settings, Mapping) else {}
    currency = str(store_settings.get("currency") or "").upper()
    if len(currency) != 3 or not currency.isalpha():
        currency = "USD"
    domain = store_domain(request.site_url)
    name = str(index.get("name") or "").strip()[:255] or domain
    with transaction.atomic():
        store, _ = store_install(
            platform=Store.Platform.WOOCOMMERCE, domain=domain,
            credentials=Credentials(consumer_key=consumer_key, consumer_secret=consumer_secret,
                                    webhook_secret=secrets.token_urlsafe(32)),
            name=name, currency=currency, timezone_name=_timezone_of(index))
        Site.objects.update_or_create(store=store, defaults={
            "base_url": request.site_url,
            "wc_version": str(environment.get("version") or "")[:32],
            "key_permissions": permissions,
            "webhook_secret_fingerprint": "",  # a new secret: existing webhooks get it
            "updated_at": now,
        })
        AuthRequest.objects.filter(pk=request.pk).update(store=store, error_code="", error="")
        store_connect(store=store)
    request.store = store
    logger.info("woocommerce store %s connected (%s)", store.pk, domain)
    return request


# -- step 3 ----------------------------------------------------------------------------------

def auth_return_claim(*, nonce: str, session_nonce: str | None, success: bool,
                      now: datetime | None = None) -> Store:
    """The merchant is back. Returns the store to open a session for, or raises an
    ``ApplicationError`` whose message is what the merchant should read."""
    now = now or timezone.now()
    if not nonce or not session_nonce or not secrets.compare_digest(nonce, session_nonce):
        raise AuthRequestInvalid("This connection was started in another browser (or the "
                                 "session ended). Start again from the same browser.",
                                 code="woocommerce_auth_browser")
    claimed = AuthRequest.objects.filter(nonce=nonce, returned_at__isnull=True).update(
        returned_at=now)
    request = AuthRequest.objects.filter(nonce=nonce).select_related("store").first()
    if request is None:
        raise AuthRequestInvalid("Unknown connection request.")
    if not claimed:
        raise AuthRequestUsed()
    if not success:
        raise AuthRequestInvalid("The store did not grant access, so nothing was connected.",
                                 code="woocommerce_auth_denied")
    if request.error:
        raise ApplicationError(request.error, code=request.error_code or "woocommerce_auth_failed")
    if request.store is None or not request.store.is_active:
        raise AuthRequestInvalid("Your store never delivered the API keys to us, so nothing was "
                                 "connected. Start again; if it keeps failing, check that the "
                                 "store can reach this app's address over https.",
                                 code="woocommerce_auth_incomplete")
    return request.store
