"""Shopify-side writes: OAuth state nonces, installing a shop, and keeping its access token fresh.

Token refresh is serialised per store: the credentials row is locked (``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite every transaction starts ``BEGIN IMMEDIATE``, which already takes the
database's write lock) and re-read after the lock is taken, so of two workers that both saw an
expiring token only the first calls Shopify; the second finds the new token and uses it.
Shopify rotates the refresh token on every refresh, so two concurrent refreshes would leave one
worker holding a dead refresh token.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from integrations.connection import store_connect
from integrations.exceptions import TerminalPlatformError
from integrations.shopify import queries
from integrations.shopify.auth import IssuedToken, refresh_access_token
from integrations.shopify.client import ShopifyClient
from integrations.shopify.models import OAuthState
from xsell_plugin.stores.models import Store, StoreCredentials
from xsell_plugin.stores.services import Credentials, store_credentials_update, store_install

logger = logging.getLogger(__name__)

STATE_TTL = timedelta(minutes=10)
REFRESH_MARGIN = timedelta(minutes=5)  # refresh this long before the access token expires
LOCK_WAIT = 30.0  # seconds to keep trying for the credentials lock (SQLite shared cache)

T = TypeVar("T")


# --- OAuth state --------------------------------------------------------------------------------
def oauth_state_create(*, shop: str, now: datetime | None = None) -> str:
    now = now or timezone.now()
    nonce = secrets.token_urlsafe(32)
    OAuthState.objects.create(nonce=nonce, shop=shop, created_at=now, expires_at=now + STATE_TTL)
    OAuthState.objects.filter(expires_at__lt=now - STATE_TTL).delete()  # keep the table small
    return nonce


def oauth_state_consume(*, nonce: str, shop: str, now: datetime | None = None) -> bool:
    """Use a state once: a conditional UPDATE, so a replayed callback finds nothing to claim."""
    now = now or timezone.now()
    if not nonce:
        return False
    return OAuthState.objects.filter(
        nonce=nonce, shop=shop, used_at__isnull=True, expires_at__gt=now,
    ).update(used_at=now) == 1


# --- install --------------------------------------------------------------------------------------
class StaticTokens:
    """A token source for a token we were just given (no refresh possible yet)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get(self) -> str:
        return self.token

    def refresh(self, stale: str) -> str:
        raise TerminalPlatformError("Shopify refused a token it has just issued.")


def _credentials(issued: IssuedToken) -> Credentials:
    return Credentials(access_token=issued.access_token, refresh_token=issued.refresh_token,
                       access_token_expires_at=issued.expires_at,
                       refresh_token_expires_at=issued.refresh_expires_at, scopes=issued.scopes)


def shop_install(*, shop: str, issued: IssuedToken) -> Store:
    """Install (or reinstall) a shop with a freshly issued token: read its name, currency and
    time zone, store it, then (after commit) register webhooks and start the backfill."""
    info = ShopifyClient(shop=shop, tokens=StaticTokens(issued.access_token)).execute(
        queries.SHOP).get("shop") or {}
    with transaction.atomic():
        store, _ = store_install(
            platform=Store.Platform.SHOPIFY, domain=shop, credentials=_credentials(issued),
            name=info.get("name") or shop, currency=info.get("currencyCode") or "USD",
            timezone_name=info.get("ianaTimezone") or "UTC")
        store_connect(store=store)
    return store


def shop_needs_token(*, shop: str, now: datetime | None = None) -> bool:
    """True when an embedded load must exchange its session token: not installed, uninstalled,
    no token, a non-expiring token (moved to an expiring one: required of public apps from
    2027) or no refresh token that will still work."""
    now = now or timezone.now()
    creds = (StoreCredentials.objects.filter(
        store__platform=Store.Platform.SHOPIFY, store__domain=shop,
        store__status=Store.Status.ACTIVE).first())
    if creds is None or not creds.access_token or creds.access_token_expires_at is None:
        return True
    refresh_usable = bool(creds.refresh_token) and (
        creds.refresh_token_expires_at is None or creds.refresh_token_expires_at > now + REFRESH_MARGIN)
    return not refresh_usable


# --- access tokens ---------------------------------------------------------------------------------
def _stale(creds: StoreCredentials, now: datetime) -> bool:
    expires = creds.access_token_expires_at
    return expires is not None and expires <= now + REFRESH_MARGIN


def _locked(store: Store, work: Callable[[StoreCredentials], T]) -> T:
    """Run ``work`` on the store's credentials row while holding its lock."""
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            with transaction.atomic():
                creds = StoreCredentials.objects.select_for_update().filter(store=store).first()
                if creds is None:
                    raise TerminalPlatformError("This store has no credentials.",
                                                code="platform_no_credentials")
                return work(creds)
        except OperationalError as exc:
            # An in-memory SQLite database shared between threads answers "locked" at once
            # instead of waiting; a file database waits (timeout) before it does.
            if (connection.in_atomic_block or "locked" not in str(exc)
                    or time.monotonic() > deadline):
                raise
            time.sleep(0.02)


def access_token_get(*, store: Store, now: datetime | None = None) -> str:
    """A usable access token, refreshed first if it expires within ``REFRESH_MARGIN``."""
    now = now or timezone.now()
    creds = StoreCredentials.objects.filter(store=store).first()
    if creds is None or not creds.access_token:
        raise TerminalPlatformError("This store has no access token.", code="platform_no_credentials",
                                    extra={"store": store.pk})
    if not _stale(creds, now):
        return creds.access_token
    return access_token_refresh(store=store, stale=creds.access_token, now=now)


def access_token_refresh(*, store: Store, stale: str, force: bool = False,
                         now: datetime | None = None) -> str:
    """Refresh the store's access token, serialised with every other worker.

    ``stale`` is the token the caller holds. After taking the lock the row is read again: if the
    token there differs, someone else refreshed meanwhile and that token is returned. With
    ``force`` (Shopify answered 401) the refresh happens even if the stored expiry looks fine.
    """
    def work(creds: StoreCredentials) -> str:
        current = now or timezone.now()
        if creds.access_token and creds.access_token != stale:
            return creds.access_token  # refreshed by another worker while we waited
        if not force and not _stale(creds, current):
            return creds.access_token
        if not creds.refresh_token:
            raise TerminalPlatformError(
                "This store's token cannot be refreshed; the merchant must open the app again.",
                code="platform_no_refresh_token", extra={"store": store.pk})
        issued = refresh_access_token(shop=store.domain, refresh_token=creds.refresh_token,
                                      refresh_expires_at=creds.refresh_token_expires_at)
        store_credentials_update(
            store=store, access_token=issued.access_token,
            access_token_expires_at=issued.expires_at,
            refresh_token=issued.refresh_token or creds.refresh_token,
            refresh_token_expires_at=issued.refresh_expires_at or creds.refresh_token_expires_at,
            scopes=issued.scopes or creds.scopes)
        logger.info("store %s: Shopify access token refreshed", store.pk)
        return issued.access_token

    return _locked(store, work)


class StoreTokens:
    """The token source of a store's client: read, refresh before expiry, refresh on 401."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self) -> str:
        return access_token_get(store=self.store)

    def refresh(self, stale: str) -> str:
        return access_token_refresh(store=self.store, stale=stale, force=True)
