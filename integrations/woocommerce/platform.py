"""``WooCommercePlatform``: the ``integrations.base.Platform`` protocol for one WooCommerce store."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import cached_property
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from integrations import base
from integrations.exceptions import TerminalPlatformError
from integrations.woocommerce import mappers, topics
from integrations.woocommerce.client import USER_AGENT, WooCommerceClient, WooCommerceNotFound
from integrations.woocommerce.models import Site
from xsell_plugin.activity.services import checkouts_upsert
from xsell_plugin.catalog.services import product_mark_deleted, products_upsert, variants_upsert
from xsell_plugin.core.exceptions import NotFound
from xsell_plugin.core.http import outbound_session
from xsell_plugin.customers.services import customers_upsert
from xsell_plugin.orders.services import orders_upsert
from xsell_plugin.stores.models import Store, StoreCredentials

logger = logging.getLogger(__name__)

# WooCommerce 10.0 brought shareable checkout links (/checkout-link/?products=..&coupon=..).
CHECKOUT_LINK_VERSION = (10, 0)
# Calls made while a webhook is applied run inside its transaction: one try, short timeout;
# the webhook event's own retry (with backoff, outside any transaction) does the rest.
WEBHOOK_CALL_TIMEOUT = 10.0
COUPON_EXISTS = "woocommerce_rest_coupon_code_already_exists"
# Variable products' variations fetched at once during a backfill (polite to small hosts).
VARIATION_FETCHES = 4


def version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in (version or "").split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _gmt(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def secret_fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class WooCommercePlatform:
    name = "woocommerce"

    def __init__(self, store: Store, *, client: WooCommerceClient | None = None) -> None:
        self.store = store
        if client is not None:
            self.__dict__["client"] = client

    # -- wiring ----------------------------------------------------------------------------

    @cached_property
    def site(self) -> Site | None:
        return Site.objects.for_store(self.store).first()

    @cached_property
    def credentials(self) -> StoreCredentials:
        creds = StoreCredentials.objects.filter(store=self.store).first()
        if creds is None or not creds.consumer_key or not creds.consumer_secret:
            raise TerminalPlatformError("This WooCommerce store has no API keys (not connected).",
                                        code="woocommerce_not_connected",
                                        extra={"store": self.store.pk})
        return creds

    @property
    def site_url(self) -> str:
        return self.site.base_url if self.site else f"https://{self.store.domain}"

    @cached_property
    def client(self) -> WooCommerceClient:
        return WooCommerceClient(self.site_url, self.credentials.consumer_key,
                                 self.credentials.consumer_secret)

    @cached_property
    def webhook_client(self) -> WooCommerceClient:
        """For calls made while applying a webhook (see WEBHOOK_CALL_TIMEOUT)."""
        return WooCommerceClient(
            self.site_url, self.credentials.consumer_key, self.credentials.consumer_secret,
            session=outbound_session(timeout=WEBHOOK_CALL_TIMEOUT, user_agent=USER_AGENT),
            attempts=1)

    def delivery_url(self) -> str:
        path = reverse("woocommerce-webhook", kwargs={"store_id": self.store.pk})
        return f"{settings.XSELL_PUBLIC_URL}{path}"

    # -- Platform --------------------------------------------------------------------------

    def verify_credentials(self) -> None:
        self.client.get("system_status", {"_fields": "environment.version"})

    def register_webhooks(self) -> None:
        """Idempotent: create missing webhooks, re-activate disabled ones, drop duplicates, and
        rewrite the secret when ours changed (a reinstall). Safe to call every hour."""
        secret = self.credentials.webhook_secret
        if not secret:
            raise TerminalPlatformError("This store has no webhook secret.",
                                        code="woocommerce_not_connected")
        client = self.client
        delivery = self.delivery_url()
        fingerprint = secret_fingerprint(secret)
        rotate = self.site is not None and self.site.webhook_secret_fingerprint != fingerprint
        ours: dict[str, list[dict]] = {}
        for hook in client.all("webhooks", {"context": "edit"}):
            if str(hook.get("delivery_url") or "").rstrip("/") == delivery.rstrip("/"):
                ours.setdefault(str(hook.get("topic") or ""), []).append(hook)
        for topic, hooks in ours.items():
            if topic not in topics.SUBSCRIBED:
                for hook in hooks:
                    client.delete(f"webhooks/{hook['id']}", {"force": True})
        for topic in topics.SUBSCRIBED:
            hooks = sorted(ours.get(topic, []),
                           key=lambda h: (h.get("status") != "active", int(h["id"])))
            if not hooks:
                client.post("webhooks", {
                    "name": f"{settings.XSELL_WOOCOMMERCE_APP_NAME} {topic}", "topic": topic,
                    "delivery_url": delivery, "secret": secret, "status": "active"})
                continue
            keep, extras = hooks[0], hooks[1:]
            for hook in extras:
                client.delete(f"webhooks/{hook['id']}", {"force": True})
            change: dict[str, Any] = {}
            if keep.get("status") == "disabled":
                change["status"] = "active"
            elif keep.get("status") != "active":
                logger.warning("store %s: webhook %s (%s) is %s; left as the merchant set it",
                               self.store.pk, keep["id"], topic, keep.get("status"))
            stated = keep.get("secret")
            if rotate or (stated not in (None, "") and stated != secret):
                change["secret"] = secret
            if change:
                client.put(f"webhooks/{keep['id']}", change)
        if self.site is not None:
            updates = {"webhook_secret_fingerprint": fingerprint, "updated_at": timezone.now()}
            version = self._store_version(client)
            if version:
                updates["wc_version"] = version
            Site.objects.filter(pk=self.site.pk).update(**updates)

    def _store_version(self, client: WooCommerceClient) -> str:
        try:
            data = client.get("system_status", {"_fields": "environment.version"}).data
            return str(((data or {}).get("environment") or {}).get("version") or "")[:32]
        except Exception:  # a version refresh is a nicety; never fail registration for it
            logger.warning("store %s: WooCommerce version not refreshed", self.store.pk,
                           exc_info=True)
            return ""

    def _since(self, updated_since: datetime | None) -> dict[str, Any]:
        if updated_since is None:
            return {}
        return {"modified_after": _gmt(updated_since), "dates_are_gmt": True}

    def iter_products(self, *, cursor: str | None = None, updated_since: datetime | None = None
                      ) -> Iterator[base.Page[base.ProductData]]:
        client = self.client
        with ThreadPoolExecutor(max_workers=VARIATION_FETCHES, thread_name_prefix="woo") as pool:
            for items, nxt in client.pages("products", self._since(updated_since), cursor=cursor):
                # Variations come one product at a time: a few in flight at once.
                products = pool.map(lambda item: self._product(client, item), items)
                yield base.Page(tuple(products), nxt)

    def _product(self, client: WooCommerceClient, payload: dict) -> base.ProductData:
        variations: list[dict] = []
        if payload.get("type") == "variable":
            variations = client.all(f"products/{int(payload['id'])}/variations")
        return mappers.product_from_payload(payload, variations)

    def iter_customers(self, *, cursor: str | None = None, updated_since: datetime | None = None
                       ) -> Iterator[base.Page[base.CustomerData]]:
        """The customers endpoint has no ``modified_after`` (WooCommerce issue 41371): a
        reconciliation reads every page and keeps the customers changed since."""
        key = settings.XSELL_WOOCOMMERCE_CONSENT_META_KEY
        for items, nxt in self.client.pages("customers", cursor=cursor):
            customers = [mappers.customer_from_payload(item, consent_meta_key=key)
                         for item in items]
            if updated_since is not None:
                customers = [c for c in customers if c.updated_at >= updated_since]
            yield base.Page(tuple(customers), nxt)

    def iter_orders(self, *, cursor: str | None = None, updated_since: datetime | None = None
                    ) -> Iterator[base.Page[base.OrderData]]:
        params = {"status": "any", **self._since(updated_since)}
        for items, nxt in self.client.pages("orders", params, cursor=cursor):
            yield base.Page(tuple(mappers.order_from_payload(item) for item in items
                                  if item.get("status") != "checkout-draft"), nxt)

    def create_discount_code(self, request: base.DiscountCodeRequest) -> base.IssuedDiscount:
        """A single-use coupon for one recipient. Safe to retry: if the code exists already and
        is the same recipient's (an earlier attempt that timed out), it is returned."""
        if request.is_buy_x_get_y:
            raise TerminalPlatformError(
                "WooCommerce core has no buy-X-get-Y coupons; offer a product-scoped coupon.",
                code="platform_unsupported", extra={"feature": "buy_x_get_y"})
        body = mappers.coupon_body(request)
        try:
            created = self.client.post("coupons", body).data
        except TerminalPlatformError as exc:
            if exc.extra.get("wc_code") != COUPON_EXISTS:
                raise
            for coupon in self.client.get("coupons", {"code": request.code}).data or []:
                if (str(coupon.get("code", "")).lower() == request.code.lower()
                        and [e.lower() for e in coupon.get("email_restrictions") or []]
                        == [e.lower() for e in body["email_restrictions"]]):
                    return mappers.issued_from_coupon(coupon, ends_at=request.ends_at)
            raise TerminalPlatformError("That coupon code is taken on the store.",
                                        code="woocommerce_coupon_code_taken",
                                        extra={"code": request.code}) from None
        return mappers.issued_from_coupon(created, ends_at=request.ends_at)

    def cart_url(self, lines: Sequence[tuple[str, int]], *, discount_code: str = "") -> str:
        """A link that fills the cart (and applies the code where the store can).

        WooCommerce 10.0+: ``/checkout-link/?products=<id>:<qty>,...&coupon=<code>`` (core:
        every line, the coupon, straight to checkout). Older stores: core's
        ``?add-to-cart=<id>&quantity=<n>`` for the first line; further lines ride in
        ``xsell_add=<id>:<qty>,...`` and the code in ``coupon_code``, both applied by the small
        snippet in docs/woocommerce.md (without it the first item still lands in the cart).
        Ids are variant ids: a simple product's id or a variation's id.
        """
        home = self.site_url
        items = [(str(int(vid)), max(1, int(qty))) for vid, qty in lines]
        version = version_tuple(self.site.wc_version if self.site else "")
        if items and version >= CHECKOUT_LINK_VERSION:
            query = {"products": ",".join(f"{vid}:{qty}" for vid, qty in items)}
            if discount_code:
                query["coupon"] = discount_code
            return f"{home}/checkout-link/?{urlencode(query, safe=':,', quote_via=quote)}"
        query = {}
        if items:
            query = {"add-to-cart": items[0][0], "quantity": str(items[0][1])}
            if len(items) > 1:
                query["xsell_add"] = ",".join(f"{vid}:{qty}" for vid, qty in items[1:])
        if discount_code:
            query["coupon_code"] = discount_code
        return f"{home}/" + (f"?{urlencode(query, safe=':,', quote_via=quote)}" if query else "")

    def update_marketing_consent(self, *, customer_external_id: str, email: str,
                                 state: base.ConsentState) -> None:
        """WooCommerce has no marketing-consent API: nothing is written to the store. Our own
        consent record and suppression list govern every send (docs/woocommerce.md)."""
        logger.debug("store %s: WooCommerce keeps no consent; %s recorded locally only",
                     self.store.pk, state)

    def handle_webhook(self, topic: str, payload: dict, *,
                       triggered_at: datetime | None = None) -> bool:
        when = triggered_at or timezone.now()
        if topic in topics.ORDER_UPSERT:
            order = mappers.order_from_payload(payload)
            orders_upsert(store=self.store, orders=[order])
            return True
        if topic == topics.ORDER_DELETED:
            return self._order_deleted(mappers.required_id(payload, "id"))
        if topic in topics.PRODUCT_UPSERT:
            if mappers.is_variation(payload):
                return self._variation_changed(payload, when)
            product = self._product(self.webhook_client, payload)
            products_upsert(store=self.store, products=[product])
            return True
        if topic == topics.PRODUCT_DELETED:
            product_mark_deleted(store=self.store,
                                 external_id=mappers.required_id(payload, "id"), deleted_at=when)
            return True
        if topic in topics.CUSTOMER_UPSERT:
            customer = mappers.customer_from_payload(
                payload, consent_meta_key=settings.XSELL_WOOCOMMERCE_CONSENT_META_KEY)
            customers_upsert(store=self.store, customers=[customer])
            return True
        if topic == topics.CART:
            checkouts_upsert(store=self.store, checkouts=[mappers.checkout_from_cart(payload)])
            return True
        # customer.deleted, coupon.*: deliberately not applied (see topics.py); unknown: ignored.
        return False

    def _order_deleted(self, order_id: str) -> bool:
        """Trashed orders are still readable: upsert them (cancelled). A permanently deleted one
        answers 404; its trash event already marked it cancelled."""
        try:
            fresh = self.webhook_client.get(f"orders/{int(order_id)}").data
        except WooCommerceNotFound:
            logger.info("store %s: order %s deleted for good", self.store.pk, order_id)
            return True
        orders_upsert(store=self.store, orders=[mappers.order_from_payload(fresh)])
        return True

    def _variation_changed(self, payload: dict, when: datetime) -> bool:
        parent_id = mappers.required_id(payload, "parent_id")
        variant = mappers.variant_from_variation(payload)
        try:
            variants_upsert(store=self.store, product_external_id=parent_id, variants=[variant],
                            updated_at=mappers.resource_time(payload) or when)
        except NotFound:
            # The variation came before its product: read the product whole.
            parent = self.webhook_client.get(f"products/{int(parent_id)}").data
            products_upsert(store=self.store, products=[self._product(self.webhook_client, parent)])
        return True
