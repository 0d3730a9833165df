"""``ShopifyPlatform``: the ``integrations.base.Platform`` protocol on the GraphQL Admin API.

Backfill uses bulk operations. ``iter_*`` first starts the operation and yields an empty page
whose cursor names it, so the sync runner checkpoints the operation before anything else; then it
polls, checkpoints the result URL, streams the JSONL line by line (children joined to their
parent through ``__parentId``) and yields pages whose cursor carries the line offset of the next
parent. After a crash the stored cursor resumes the same operation at that line while its URL is
valid (Shopify keeps results for a week); an expired URL or operation starts a new one
(the upserts are idempotent). With ``updated_since`` (reconciliation) they page instead, newest
changes filtered by ``updated_at``.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.utils import timezone

from integrations import connection
from integrations.base import (
    ConsentState,
    CustomerData,
    DiscountCodeRequest,
    IssuedDiscount,
    OrderData,
    Page,
    ProductData,
)
from integrations.exceptions import (
    PlatformNotReady,
    RetryablePlatformError,
    TerminalPlatformError,
)
from integrations.shopify import endpoints, mappers, queries, topics
from integrations.shopify.client import BulkResultGone, ShopifyClient
from integrations.shopify.services import StoreTokens
from xsell_plugin.activity.services import checkouts_upsert
from xsell_plugin.catalog.services import product_mark_deleted, products_upsert, variant_stock_set
from xsell_plugin.customers.models import Customer
from xsell_plugin.customers.services import (
    customer_consent_set,
    customer_data_export_record,
    customer_redact,
    customers_upsert,
    normalise_email,
)
from xsell_plugin.orders.services import orders_upsert
from xsell_plugin.stores.models import Store
from xsell_plugin.stores.services import store_credentials_update, store_redact

logger = logging.getLogger(__name__)

BULK_PAGE_SIZE = 500  # parents per page written in one transaction
INCREMENTAL_PAGE_SIZE = 100
POLL_DEADLINE = 60.0  # seconds one run waits for a bulk operation before handing back
MAX_RESTARTS = 2


@dataclass(frozen=True)
class _Kind:
    root: str
    bulk_query: str
    page_query: str
    children: dict[str, str]  # child GID type -> connection name on the parent
    to_dto: Callable[[dict], Any]


_PRODUCTS = _Kind("products", queries.BULK_PRODUCTS, queries.PRODUCTS_PAGE,
                  {"ProductVariant": "variants", "Collection": "collections"},
                  mappers.product_from_node)
_CUSTOMERS = _Kind("customers", queries.BULK_CUSTOMERS, queries.CUSTOMERS_PAGE, {},
                   mappers.customer_from_node)
_ORDERS = _Kind("orders", queries.BULK_ORDERS, queries.ORDERS_PAGE, {"LineItem": "lineItems"},
                mappers.order_from_node)


def encode_cursor(state: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str | None) -> dict | None:
    if not cursor:
        return None
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        logger.warning("ignoring an unreadable sync cursor")
        return None
    return state if isinstance(state, dict) else None


def _child_type(gid: str) -> str:
    return gid.split("/")[3] if gid.startswith("gid://shopify/") and gid.count("/") >= 4 else ""


class ShopifyPlatform:
    name = "shopify"

    def __init__(self, store: Store, *, client: ShopifyClient | None = None) -> None:
        self.store = store
        self._client = client

    @property
    def client(self) -> ShopifyClient:
        if self._client is None:
            self._client = ShopifyClient(shop=self.store.domain, tokens=StoreTokens(self.store))
        return self._client

    # --- connection ---------------------------------------------------------------------------
    def verify_credentials(self) -> None:
        self.client.execute(queries.SHOP)

    def register_webhooks(self) -> None:
        """Subscribe to every topic we handle (not the compliance ones: the app's TOML has
        those). Idempotent: existing subscriptions are listed first; a wrong URI is updated."""
        uri = endpoints.webhook_callback_url()
        existing: dict[str, list[dict]] = {}
        after = None
        while True:
            conn = self.client.execute(queries.WEBHOOKS, {"after": after}).get("webhookSubscriptions") or {}
            for sub in mappers.nodes(conn):
                existing.setdefault(sub.get("topic", ""), []).append(sub)
            info = conn.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                break
            after = info.get("endCursor")
        for topic in topics.SUBSCRIBED:
            enum = topics.graphql_enum(topic)
            subs = existing.get(enum, [])
            if any(s.get("uri") == uri for s in subs):
                continue
            sub_input = {"uri": uri}
            if subs:
                self.client.mutate(queries.WEBHOOK_UPDATE, {"id": subs[0]["id"], "sub": sub_input},
                                   "webhookSubscriptionUpdate")
            else:
                self.client.mutate(queries.WEBHOOK_CREATE, {"topic": enum, "sub": sub_input},
                                   "webhookSubscriptionCreate")

    # --- backfill and reconciliation ------------------------------------------------------------
    def iter_products(self, *, cursor: str | None = None,
                      updated_since: datetime | None = None) -> Iterator[Page[ProductData]]:
        return self._iter(_PRODUCTS, cursor, updated_since)

    def iter_customers(self, *, cursor: str | None = None,
                       updated_since: datetime | None = None) -> Iterator[Page[CustomerData]]:
        return self._iter(_CUSTOMERS, cursor, updated_since)

    def iter_orders(self, *, cursor: str | None = None,
                    updated_since: datetime | None = None) -> Iterator[Page[OrderData]]:
        return self._iter(_ORDERS, cursor, updated_since)

    def _iter(self, kind: _Kind, cursor: str | None, updated_since: datetime | None) -> Iterator[Page]:
        if updated_since is not None:
            return self._iter_pages(kind, decode_cursor(cursor), updated_since)
        return self._iter_bulk(kind, decode_cursor(cursor))

    def _iter_bulk(self, kind: _Kind, state: dict | None) -> Iterator[Page]:
        restarts = 0
        if not state or state.get("mode") != "bulk":
            state = {"mode": "bulk", "op": self._bulk_start(kind), "url": None, "line": 0}
            yield Page((), encode_cursor(state))
        while True:
            if not state.get("url"):
                op = self._bulk_wait(state["op"])
                if op is None:
                    restarts += 1
                    if restarts > MAX_RESTARTS:
                        raise RetryablePlatformError("Shopify's bulk operation keeps failing.",
                                                     retry_after=60)
                    state = {"mode": "bulk", "op": self._bulk_start(kind), "url": None, "line": 0}
                    yield Page((), encode_cursor(state))
                    continue
                if not op.get("url"):  # completed with nothing to read
                    yield Page((), None)
                    return
                state = {**state, "url": op["url"], "count": int(op.get("objectCount") or 0),
                         "line": 0}
                yield Page((), encode_cursor(state))
            try:
                yield from self._bulk_read(kind, state)
                return
            except BulkResultGone:
                logger.info("store %s: bulk result expired, running the operation again", self.store.pk)
                restarts += 1
                if restarts > MAX_RESTARTS:
                    raise RetryablePlatformError("Bulk results keep expiring.", retry_after=60) from None
                state = {"mode": "bulk", "op": self._bulk_start(kind), "url": None, "line": 0}
                yield Page((), encode_cursor(state))

    def _bulk_start(self, kind: _Kind) -> str:
        result = self.client.execute(queries.BULK_RUN, {"query": kind.bulk_query}).get(
            "bulkOperationRunQuery") or {}
        errors = result.get("userErrors") or []
        if errors:
            text = "; ".join(e.get("message", "") for e in errors)
            if any(e.get("code") == "OPERATION_IN_PROGRESS" or "in progress" in e.get("message", "")
                   for e in errors):
                raise RetryablePlatformError(f"Another bulk operation is running: {text}", retry_after=30)
            raise TerminalPlatformError(f"Shopify refused the bulk operation: {text}",
                                        extra={"user_errors": errors})
        return result["bulkOperation"]["id"]

    def _bulk_wait(self, op_id: str) -> dict | None:
        """The completed operation, or None when it failed/expired/vanished (start another)."""
        interval = float(settings.XSELL_SHOPIFY_BULK_POLL_SECONDS)
        deadline = time.monotonic() + POLL_DEADLINE
        while True:
            node = self.client.execute(queries.BULK_POLL, {"id": op_id}).get("node")
            status = (node or {}).get("status")
            if status == "COMPLETED":
                return node
            if node is None or status in ("FAILED", "CANCELED", "CANCELING", "EXPIRED"):
                if (node or {}).get("errorCode") == "ACCESS_DENIED":
                    raise TerminalPlatformError("The bulk operation was denied access (scopes).")
                logger.warning("store %s: bulk operation %s ended %s (%s)", self.store.pk, op_id,
                               status, (node or {}).get("errorCode"))
                return None
            if time.monotonic() + interval > deadline:
                raise PlatformNotReady("The bulk operation is still running.",
                                             retry_after=max(interval, 15.0))
            self.client.sleep(interval)
            interval = min(interval * 1.5, 10.0)

    def _bulk_read(self, kind: _Kind, state: dict) -> Iterator[Page]:
        buffer: dict[str, tuple[dict, dict[str, list]]] = {}
        last = state["line"] - 1
        for number, raw in self.client.bulk_lines(state["url"], skip=state["line"]):
            last = number
            if not raw:
                continue
            obj = json.loads(raw)
            parent = obj.pop("__parentId", None)
            if parent is None:
                if len(buffer) >= BULK_PAGE_SIZE:
                    yield Page(self._assemble(kind, buffer), encode_cursor({**state, "line": number}))
                    buffer = {}
                buffer[obj["id"]] = (obj, {})
                continue
            entry = buffer.get(parent)
            connection_name = kind.children.get(_child_type(obj.get("id", "")))
            if entry is None or connection_name is None:
                logger.warning("store %s: bulk line %s has no parent in this page", self.store.pk, number)
                continue
            entry[1].setdefault(connection_name, []).append(obj)
        expected = state.get("count") or 0
        if expected and last + 1 < expected:
            raise RetryablePlatformError(
                f"The bulk result ended after {last + 1} of {expected} lines.", retry_after=5)
        yield Page(self._assemble(kind, buffer), None)

    def _assemble(self, kind: _Kind, buffer: dict) -> tuple:
        items = []
        for node, children in buffer.values():
            try:
                items.append(kind.to_dto({**node, **children}))
            except mappers.MappingError as exc:
                logger.warning("store %s: skipping %s %s: %s", self.store.pk, kind.root,
                               node.get("id"), exc)
        return tuple(items)

    def _iter_pages(self, kind: _Kind, state: dict | None, since: datetime) -> Iterator[Page]:
        after = state.get("after") if state and state.get("mode") == "page" else None
        search = f"updated_at:>='{since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"
        while True:
            conn = self.client.execute(kind.page_query, {
                "first": INCREMENTAL_PAGE_SIZE, "after": after, "query": search}).get(kind.root) or {}
            items = tuple(kind.to_dto(self._complete(kind, n)) for n in mappers.nodes(conn))
            info = conn.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                yield Page(items, None)
                return
            after = info.get("endCursor")
            yield Page(items, encode_cursor({"mode": "page", "after": after}))

    def _complete(self, kind: _Kind, node: dict) -> dict:
        """Fetch what did not fit in a paged query's nested connections (replaced whole on
        upsert, so a truncated list would delete rows)."""
        node = dict(node)
        for connection_name in kind.children.values():
            conn = node.get(connection_name) or {}
            info = conn.get("pageInfo") or {}
            if not isinstance(conn, dict) or not info.get("hasNextPage"):
                continue
            query = {"variants": queries.PRODUCT_VARIANTS, "collections": queries.PRODUCT_COLLECTIONS,
                     "lineItems": queries.ORDER_LINE_ITEMS}[connection_name]
            root = "order" if connection_name == "lineItems" else "product"
            items = list(mappers.nodes(conn))
            after = info.get("endCursor")
            while after:
                more = ((self.client.execute(query, {"id": node["id"], "after": after}).get(root) or {})
                        .get(connection_name) or {})
                items += mappers.nodes(more)
                page_info = more.get("pageInfo") or {}
                after = page_info.get("endCursor") if page_info.get("hasNextPage") else None
            node[connection_name] = items
        return node

    def _fetch(self, query: str, root: str, object_id: str, kind: _Kind) -> dict | None:
        node = self.client.execute(query, {"id": object_id}).get(root)
        return self._complete(kind, node) if node else None

    # --- incentives and consent -----------------------------------------------------------------
    def _customer_gid(self, email: str) -> str:
        email = normalise_email(email)
        if not email:
            return ""
        local = (Customer.objects.for_store(self.store).filter(email=email)
                 .values_list("external_id", flat=True).first())
        if local:
            return local
        escaped = email.replace("\\", "\\\\").replace('"', '\\"')
        found = mappers.nodes(self.client.execute(queries.CUSTOMER_BY_EMAIL, {
            "query": f'email:"{escaped}"'}).get("customers"))
        return found[0]["id"] if found else ""

    def create_discount_code(self, request: DiscountCodeRequest) -> IssuedDiscount:
        if request.is_buy_x_get_y:
            return self._create_bxgy(request)
        if request.free_shipping:
            if request.percent_off is not None or request.amount_off is not None:
                raise ValueError("a free-shipping discount takes no percent_off or amount_off")
            return self._create_code(
                request, queries.DISCOUNT_FREE_SHIPPING_CREATE, "discountCodeFreeShippingCreate", {
                    "destination": {"all": True},
                    "appliesOncePerCustomer": True,
                    "combinesWith": {"productDiscounts": True, "orderDiscounts": False},
                })
        if (request.percent_off is None) == (request.amount_off is None):
            raise ValueError("a discount takes exactly one of percent_off and amount_off")
        if request.percent_off is not None:
            value: dict[str, Any] = {"percentage": _fraction(request.percent_off)}
        else:
            if request.amount_off is None or request.amount_off <= 0:
                raise ValueError("amount_off must be positive")
            value = {"discountAmount": {"amount": str(request.amount_off), "appliesOnEachItem": False}}
        items = ({"products": {"productsToAdd": list(request.product_external_ids)}}
                 if request.product_external_ids else {"all": True})
        return self._create_code(request, queries.DISCOUNT_BASIC_CREATE, "discountCodeBasicCreate", {
            "customerGets": {"value": value, "items": items},
            "appliesOncePerCustomer": True,
            "combinesWith": {"productDiscounts": False, "orderDiscounts": False,
                             "shippingDiscounts": True},
        })

    def _create_bxgy(self, request: DiscountCodeRequest) -> IssuedDiscount:
        """Buy X get Y: e.g. buy the laptop, get the sleeve free (percent_off 100)."""
        if request.percent_off is None or request.amount_off is not None:
            raise ValueError("a buy-X-get-Y discount takes percent_off (100 = free)")
        if not request.product_external_ids:
            raise ValueError("a buy-X-get-Y discount needs the products the customer gets")
        if request.buy_quantity < 1 or request.get_quantity < 1:
            raise ValueError("buy_quantity and get_quantity must be at least 1")
        return self._create_code(request, queries.DISCOUNT_BXGY_CREATE, "discountCodeBxgyCreate", {
            "customerBuys": {
                "value": {"quantity": str(request.buy_quantity)},
                "items": {"products": {"productsToAdd": list(request.buy_product_external_ids)}},
            },
            "customerGets": {
                "value": {"discountOnQuantity": {
                    "quantity": str(request.get_quantity),
                    "effect": {"percentage": _fraction(request.percent_off)}}},
                "items": {"products": {"productsToAdd": list(request.product_external_ids)}},
            },
            "usesPerOrderLimit": 1,
            "appliesOncePerCustomer": True,
            "combinesWith": {"productDiscounts": False, "orderDiscounts": False,
                             "shippingDiscounts": True},
        })

    def _create_code(self, request: DiscountCodeRequest, mutation: str, root: str,
                     fields: dict[str, Any]) -> IssuedDiscount:
        customer = self._customer_gid(request.customer_email) if request.customer_email else ""
        if request.customer_email and not customer:
            logger.info("store %s: discount %s not restricted: no Shopify customer for the email",
                        self.store.pk, request.code)
        result = self.client.mutate(mutation, {"input": {
            "title": f"xsell {request.code}", "code": request.code,
            "startsAt": timezone.now().isoformat(), "endsAt": request.ends_at.isoformat(),
            "context": {"customers": {"add": [customer]}} if customer else {"all": "ALL"},
            "usageLimit": request.usage_limit,
            **fields,
        }}, root)
        node = result.get("codeDiscountNode") or {}
        ends_at = mappers.when((node.get("codeDiscount") or {}).get("endsAt")) or request.ends_at
        return IssuedDiscount(code=request.code, external_id=node.get("id", ""), ends_at=ends_at)

    def cart_url(self, lines: Sequence[tuple[str, int]], *, discount_code: str = "") -> str:
        """A storefront cart permalink: ``https://<shop>/cart/<variant id>:<qty>,...``."""
        parts = [f"{mappers.numeric_id(variant)}:{int(qty)}" for variant, qty in lines if int(qty) > 0]
        url = f"https://{self.store.domain}/cart/{','.join(parts)}"
        return f"{url}?discount={quote(discount_code, safe='')}" if discount_code else url

    def update_marketing_consent(self, *, customer_external_id: str, email: str,
                                 state: ConsentState) -> None:
        """Write our consent changes (unsubscribes, mostly) back to Shopify."""
        marketing = {ConsentState.UNSUBSCRIBED: "UNSUBSCRIBED",
                     ConsentState.SUBSCRIBED: "SUBSCRIBED"}.get(ConsentState(state))
        if marketing is None:
            logger.info("store %s: consent %s is not written back", self.store.pk, state)
            return
        customer = customer_external_id or self._customer_gid(email)
        if not customer:
            return
        consent = {"marketingState": marketing, "consentUpdatedAt": timezone.now().isoformat()}
        if marketing == "SUBSCRIBED":
            consent["marketingOptInLevel"] = "SINGLE_OPT_IN"
        self.client.mutate(queries.CONSENT_UPDATE, {"input": {
            "customerId": customer, "emailMarketingConsent": consent}},
            "customerEmailMarketingConsentUpdate")

    # --- webhooks -------------------------------------------------------------------------------
    def handle_webhook(self, topic: str, payload: dict, *,
                       triggered_at: datetime | None = None) -> bool:
        handler = _HANDLERS.get(topic)
        if handler is None:
            return False
        if not self.store.is_active and topic not in topics.COMPLIANCE:
            logger.info("store %s is not active: %s ignored", self.store.pk, topic)
            return False
        if not isinstance(payload, dict):
            raise mappers.MappingError("a webhook body must be a JSON object")
        handler(self, payload, triggered_at or timezone.now())
        return True

    def _on_order(self, payload: dict, at: datetime) -> None:
        orders_upsert(store=self.store, orders=[mappers.order_from_payload(payload)])

    def _on_refund(self, payload: dict, at: datetime) -> None:
        """A refund alone cannot be applied (an order's refunds are replaced whole): read the
        order as Shopify has it now."""
        node = self._fetch(queries.ORDER, "order", mappers.gid("Order", payload.get("order_id")),
                           _ORDERS)
        if node is not None:
            orders_upsert(store=self.store, orders=[mappers.order_from_node(node)])

    def _on_product(self, payload: dict, at: datetime) -> None:
        """Product webhooks carry neither collections nor unit costs, and the upsert replaces
        both: read the product as Shopify has it now (gone: a delete follows)."""
        node = self._fetch(queries.PRODUCT, "product", mappers.product_gid_from_payload(payload),
                           _PRODUCTS)
        if node is None:
            return
        product = mappers.product_from_node(node)
        sent = mappers.when(payload.get("updated_at"))
        if sent is not None and product.updated_at < sent:
            raise RetryablePlatformError("Shopify served an older product than the webhook.",
                                         retry_after=30)
        products_upsert(store=self.store, products=[product])

    def _on_product_delete(self, payload: dict, at: datetime) -> None:
        product_mark_deleted(store=self.store, external_id=mappers.product_gid_from_payload(payload),
                             deleted_at=at)

    def _on_inventory(self, payload: dict, at: datetime) -> None:
        """Levels are per location and name an inventory item: read the variant's total."""
        item = self.client.execute(queries.INVENTORY_ITEM, {
            "id": mappers.inventory_item_gid_from_payload(payload)}).get("inventoryItem") or {}
        variant = item.get("variant")
        if not variant:
            return
        quantity = variant.get("inventoryQuantity") if item.get("tracked", True) else None
        variant_stock_set(store=self.store, external_id=variant["id"], quantity=quantity,
                          updated_at=mappers.when(payload.get("updated_at")) or at)

    def _on_customer(self, payload: dict, at: datetime) -> None:
        customers_upsert(store=self.store, customers=[mappers.customer_from_payload(payload)])

    def _on_consent(self, payload: dict, at: datetime) -> None:
        customer_id, consent = mappers.consent_from_payload(payload)
        customer_consent_set(store=self.store, external_id=customer_id, consent=consent, at=at)

    def _on_checkout(self, payload: dict, at: datetime) -> None:
        checkouts_upsert(store=self.store, checkouts=[mappers.checkout_from_payload(payload)])

    def _on_uninstalled(self, payload: dict, at: datetime) -> None:
        connection.store_disconnect(store=self.store)

    def _on_scopes(self, payload: dict, at: datetime) -> None:
        store_credentials_update(store=self.store, scopes=mappers.scopes_from_payload(payload))

    def _on_data_request(self, payload: dict, at: datetime) -> None:
        customer_id, email = mappers.compliance_customer(payload)
        request_id = str((payload.get("data_request") or {}).get("id") or "")
        if not request_id:
            raise mappers.MappingError("data request without id")
        customer_data_export_record(store=self.store, request_id=f"shopify:{request_id}",
                                    external_id=customer_id, email=email)

    def _on_customer_redact(self, payload: dict, at: datetime) -> None:
        customer_id, email = mappers.compliance_customer(payload)
        customer_redact(store=self.store, external_id=customer_id, email=email)

    def _on_shop_redact(self, payload: dict, at: datetime) -> None:
        """48 h after uninstall: erase the store. Skipped if the shop has reinstalled since."""
        if self.store.status != Store.Status.UNINSTALLED:
            logger.warning("store %s: shop/redact for an installed shop ignored", self.store.pk)
            return
        store_redact(store=self.store)


_HANDLERS: dict[str, Callable[[ShopifyPlatform, dict, datetime], None]] = {
    topics.ORDERS_CREATE: ShopifyPlatform._on_order,
    topics.ORDERS_UPDATED: ShopifyPlatform._on_order,
    topics.ORDERS_PAID: ShopifyPlatform._on_order,
    topics.REFUNDS_CREATE: ShopifyPlatform._on_refund,
    topics.PRODUCTS_CREATE: ShopifyPlatform._on_product,
    topics.PRODUCTS_UPDATE: ShopifyPlatform._on_product,
    topics.PRODUCTS_DELETE: ShopifyPlatform._on_product_delete,
    topics.INVENTORY_LEVELS_UPDATE: ShopifyPlatform._on_inventory,
    topics.CUSTOMERS_CREATE: ShopifyPlatform._on_customer,
    topics.CUSTOMERS_UPDATE: ShopifyPlatform._on_customer,
    topics.CUSTOMERS_CONSENT_UPDATE: ShopifyPlatform._on_consent,
    topics.CHECKOUTS_CREATE: ShopifyPlatform._on_checkout,
    topics.CHECKOUTS_UPDATE: ShopifyPlatform._on_checkout,
    topics.APP_UNINSTALLED: ShopifyPlatform._on_uninstalled,
    topics.APP_SCOPES_UPDATE: ShopifyPlatform._on_scopes,
    topics.CUSTOMERS_DATA_REQUEST: ShopifyPlatform._on_data_request,
    topics.CUSTOMERS_REDACT: ShopifyPlatform._on_customer_redact,
    topics.SHOP_REDACT: ShopifyPlatform._on_shop_redact,
}


def _fraction(percent: Decimal) -> float:
    if not Decimal("0") < percent <= Decimal("100"):
        raise ValueError("percent_off must be in (0, 100]")
    return float(percent / Decimal(100))
