"""Shopify payloads -> the frozen DTOs of ``integrations.base``. Nothing below these functions sees
a raw payload.

Two shapes come in: GraphQL Admin API nodes (bulk JSONL lines assembled with their children,
reconciliation pages, single fetches) and the REST-shaped JSON of webhooks. Both map to the same
DTOs with the same external ids (GIDs, ``gid://shopify/<Type>/<id>``) and money in the shop's
currency (``shopMoney`` / the webhook's shop-currency amounts).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from integrations.base import (
    CheckoutData,
    CheckoutLineData,
    CollectionData,
    ConsentData,
    ConsentState,
    CustomerData,
    OrderData,
    OrderLineData,
    ProductData,
    ProductStatus,
    RefundData,
    StockStatus,
    VariantData,
)

_ZERO = Decimal("0")
_CONSENT = {
    "SUBSCRIBED": ConsentState.SUBSCRIBED,
    "NOT_SUBSCRIBED": ConsentState.NOT_SUBSCRIBED,
    "UNSUBSCRIBED": ConsentState.UNSUBSCRIBED,
    "PENDING": ConsentState.PENDING,
    "REDACTED": ConsentState.REDACTED,
    "INVALID": ConsentState.UNSUBSCRIBED,  # bounced/invalid address: never mail it
}
_PRODUCT_STATUS = {
    "ACTIVE": ProductStatus.ACTIVE,
    "DRAFT": ProductStatus.DRAFT,
    "ARCHIVED": ProductStatus.ARCHIVED,
    "UNLISTED": ProductStatus.DRAFT,  # reachable by link only: never recommend it
}


class MappingError(ValueError):
    """A payload lacks what we need (a ValueError: the webhook event fails, it is not retried)."""


# --- small helpers ----------------------------------------------------------------------------
def gid(kind: str, value: Any) -> str:
    if value in (None, ""):
        return ""
    text = str(value)
    return text if text.startswith("gid://") else f"gid://shopify/{kind}/{text}"


def numeric_id(value: str) -> str:
    """``gid://shopify/ProductVariant/123`` -> ``123``."""
    return str(value).rsplit("/", 1)[-1].split("?", 1)[0]


def when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise MappingError(f"not a timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        raise MappingError(f"timestamp without offset: {value!r}")
    return parsed


def required_when(value: Any, field: str) -> datetime:
    parsed = when(value)
    if parsed is None:
        raise MappingError(f"missing {field}")
    return parsed


def money(value: Any) -> Decimal:
    if value in (None, ""):
        return _ZERO
    if isinstance(value, dict):  # MoneyBag {shopMoney {amount}} / {shop_money {amount}}
        value = (value.get("shopMoney") or value.get("shop_money") or {}).get("amount")
        return money(value)
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise MappingError(f"not an amount: {value!r}") from exc


def optional_money(value: Any) -> Decimal | None:
    return None if value in (None, "") else money(value)


def nodes(connection: Any) -> list[dict]:
    """A connection as a list: ``{nodes: [...]}``, ``{edges: [{node}]}`` or an assembled list."""
    if not connection:
        return []
    if isinstance(connection, list):
        return connection
    if "nodes" in connection:
        return list(connection["nodes"] or [])
    return [edge["node"] for edge in connection.get("edges") or []]


def _tags(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(",") if t.strip())
    return tuple(str(t) for t in value or ())


def _consent(state: Any, level: Any, at: Any) -> ConsentData:
    key = str(state or "").upper()
    if not key:
        return ConsentData(ConsentState.UNKNOWN)
    source = f"shopify:{str(level).upper()}" if level else "shopify"
    return ConsentData(_CONSENT.get(key, ConsentState.UNKNOWN), source, when(at))


# --- GraphQL nodes ----------------------------------------------------------------------------
def variant_from_node(node: dict, position: int = 0) -> VariantData:
    item = node.get("inventoryItem") or {}
    tracked = item.get("tracked", True)
    quantity = node.get("inventoryQuantity")
    policy = str(node.get("inventoryPolicy") or "DENY").upper()
    if not tracked or quantity is None:
        stock, quantity = StockStatus.IN_STOCK, None
    elif quantity > 0:
        stock = StockStatus.IN_STOCK
    else:
        stock = StockStatus.BACKORDER if policy == "CONTINUE" else StockStatus.OUT_OF_STOCK
    cost = ((item.get("unitCost") or {}).get("amount"))
    return VariantData(
        external_id=gid("ProductVariant", node["id"]), title=node.get("title") or "",
        price=money(node.get("price")), sku=node.get("sku") or "",
        compare_at_price=optional_money(node.get("compareAtPrice")),
        cost=optional_money(cost), inventory_quantity=quantity, stock_status=stock,
        position=int(node.get("position") or position),
    )


def product_from_node(node: dict) -> ProductData:
    if not node.get("id"):
        raise MappingError("product without id")
    image = ((((node.get("featuredMedia") or {}).get("preview") or {}).get("image")) or {}).get("url")
    return ProductData(
        external_id=node["id"], title=node.get("title") or "",
        updated_at=required_when(node.get("updatedAt"), "updatedAt"),
        variants=tuple(variant_from_node(v, i + 1) for i, v in enumerate(nodes(node.get("variants")))),
        handle=node.get("handle") or "", vendor=node.get("vendor") or "",
        product_type=node.get("productType") or "", tags=_tags(node.get("tags")),
        status=_PRODUCT_STATUS.get(str(node.get("status") or "ACTIVE").upper(), ProductStatus.DRAFT),
        collections=tuple(CollectionData(c["id"], c.get("title") or "", c.get("handle") or "")
                          for c in nodes(node.get("collections"))),
        description=node.get("description") or "", image_url=image or "",
        url=node.get("onlineStoreUrl") or "", created_at=when(node.get("createdAt")),
    )


def customer_from_node(node: dict) -> CustomerData:
    if not node.get("id"):
        raise MappingError("customer without id")
    address = node.get("defaultEmailAddress") or {}
    return CustomerData(
        external_id=node["id"], email=address.get("emailAddress") or "",
        updated_at=required_when(node.get("updatedAt"), "updatedAt"),
        consent=_consent(address.get("marketingState"), address.get("marketingOptInLevel"),
                         address.get("marketingUpdatedAt")),
        first_name=node.get("firstName") or "", last_name=node.get("lastName") or "",
        created_at=when(node.get("createdAt")), tags=_tags(node.get("tags")),
    )


def order_line_from_node(node: dict) -> OrderLineData:
    return OrderLineData(
        external_id=node["id"], title=node.get("title") or "",
        quantity=int(node.get("quantity") or 0),
        unit_price=money(node.get("originalUnitPriceSet")),
        total_discount=money(node.get("totalDiscountSet")),
        product_external_id=(node.get("product") or {}).get("id") or "",
        variant_external_id=(node.get("variant") or {}).get("id") or "",
        sku=node.get("sku") or "",
    )


def order_from_node(node: dict) -> OrderData:
    if not node.get("id"):
        raise MappingError("order without id")
    created = required_when(node.get("createdAt"), "createdAt")
    return OrderData(
        external_id=node["id"], placed_at=when(node.get("processedAt")) or created,
        updated_at=required_when(node.get("updatedAt"), "updatedAt"),
        currency=node.get("currencyCode") or "", total=money(node.get("totalPriceSet")),
        lines=tuple(order_line_from_node(n) for n in nodes(node.get("lineItems"))),
        subtotal=money(node.get("subtotalPriceSet")),
        discount_total=money(node.get("totalDiscountsSet")),
        shipping_total=money(node.get("totalShippingPriceSet")),
        tax_total=money(node.get("totalTaxSet")), name=node.get("name") or "",
        customer_external_id=(node.get("customer") or {}).get("id") or "",
        email=node.get("email") or "",
        financial_status=str(node.get("displayFinancialStatus") or "").lower(),
        fulfillment_status=str(node.get("displayFulfillmentStatus") or "").lower(),
        cancelled_at=when(node.get("cancelledAt")),
        discount_codes=tuple(node.get("discountCodes") or ()),
        refunds=tuple(
            RefundData(r["id"], money(r.get("totalRefundedSet")),
                       required_when(r.get("createdAt"), "refund createdAt"), r.get("note") or "")
            for r in node.get("refunds") or ()
        ),
        source=node.get("sourceName") or "",
    )


# --- webhook payloads (REST-shaped) -----------------------------------------------------------
def _payload_id(payload: dict, kind: str) -> str:
    value = payload.get("admin_graphql_api_id") or gid(kind, payload.get("id"))
    if not value:
        raise MappingError(f"{kind} payload without id")
    return value


def _line_discount(line: dict) -> Decimal:
    allocations = line.get("discount_allocations")
    if allocations:
        return sum((money(a.get("amount_set") or a.get("amount")) for a in allocations), _ZERO)
    return money(line.get("total_discount_set") or line.get("total_discount"))


def _refund_amount(refund: dict) -> Decimal:
    transactions = [t for t in refund.get("transactions") or ()
                    if t.get("kind") == "refund" and t.get("status") in (None, "success")]
    if transactions:
        return sum((money(t.get("amount")) for t in transactions), _ZERO)
    return sum((money(i.get("subtotal_set") or i.get("subtotal")) for i in
                refund.get("refund_line_items") or ()), _ZERO)


_FULFILMENT = {None: "unfulfilled", "": "unfulfilled", "partial": "partially_fulfilled"}


def order_from_payload(payload: dict) -> OrderData:
    created = required_when(payload.get("created_at"), "created_at")
    customer = payload.get("customer") or {}
    fulfilment = payload.get("fulfillment_status")
    return OrderData(
        external_id=_payload_id(payload, "Order"),
        placed_at=when(payload.get("processed_at")) or created,
        updated_at=required_when(payload.get("updated_at"), "updated_at"),
        currency=payload.get("currency") or "",
        total=money(payload.get("total_price_set") or payload.get("total_price")),
        lines=tuple(
            OrderLineData(
                external_id=_payload_id(line, "LineItem"), title=line.get("title") or "",
                quantity=int(line.get("quantity") or 0),
                unit_price=money(line.get("price_set") or line.get("price")),
                total_discount=_line_discount(line),
                product_external_id=gid("Product", line.get("product_id")),
                variant_external_id=gid("ProductVariant", line.get("variant_id")),
                sku=line.get("sku") or "",
            )
            for line in payload.get("line_items") or ()
        ),
        subtotal=money(payload.get("subtotal_price_set") or payload.get("subtotal_price")),
        discount_total=money(payload.get("total_discounts_set") or payload.get("total_discounts")),
        shipping_total=money(payload.get("total_shipping_price_set")),
        tax_total=money(payload.get("total_tax_set") or payload.get("total_tax")),
        name=payload.get("name") or "",
        customer_external_id=customer.get("admin_graphql_api_id") or gid("Customer", customer.get("id")),
        email=payload.get("email") or payload.get("contact_email") or "",
        financial_status=str(payload.get("financial_status") or "").lower(),
        fulfillment_status=_FULFILMENT.get(fulfilment, str(fulfilment).lower()),
        cancelled_at=when(payload.get("cancelled_at")),
        discount_codes=tuple(d.get("code", "") for d in payload.get("discount_codes") or ()),
        refunds=tuple(
            RefundData(_payload_id(r, "Refund"), _refund_amount(r),
                       required_when(r.get("created_at"), "refund created_at"), r.get("note") or "")
            for r in payload.get("refunds") or ()
        ),
        source=payload.get("source_name") or "",
    )


def customer_from_payload(payload: dict) -> CustomerData:
    consent = payload.get("email_marketing_consent") or {}
    return CustomerData(
        external_id=_payload_id(payload, "Customer"), email=payload.get("email") or "",
        updated_at=required_when(payload.get("updated_at"), "updated_at"),
        consent=_consent(consent.get("state"), consent.get("opt_in_level"),
                         consent.get("consent_updated_at")),
        first_name=payload.get("first_name") or "", last_name=payload.get("last_name") or "",
        created_at=when(payload.get("created_at")), tags=_tags(payload.get("tags")),
    )


def consent_from_payload(payload: dict) -> tuple[str, ConsentData]:
    """customers/email_marketing_consent_update -> (customer GID, consent)."""
    customer_id = gid("Customer", payload.get("customer_id"))
    if not customer_id:
        raise MappingError("consent payload without customer_id")
    consent = payload.get("email_marketing_consent") or {}
    return customer_id, _consent(consent.get("state"), consent.get("opt_in_level"),
                                 consent.get("consent_updated_at"))


def checkout_from_payload(payload: dict) -> CheckoutData:
    token = payload.get("token") or payload.get("id")
    if not token:
        raise MappingError("checkout payload without token")
    customer = payload.get("customer") or {}
    return CheckoutData(
        external_id=f"checkout:{token}",
        updated_at=required_when(payload.get("updated_at"), "updated_at"),
        currency=payload.get("currency") or "",
        lines=tuple(
            CheckoutLineData(
                title=line.get("title") or "", quantity=int(line.get("quantity") or 0),
                unit_price=money(line.get("price")),
                product_external_id=gid("Product", line.get("product_id")),
                variant_external_id=gid("ProductVariant", line.get("variant_id")),
            )
            for line in payload.get("line_items") or ()
        ),
        kind="checkout",
        customer_external_id=customer.get("admin_graphql_api_id") or gid("Customer", customer.get("id")),
        email=payload.get("email") or customer.get("email") or "",
        subtotal=money(payload.get("subtotal_price")),
        recovery_url=payload.get("abandoned_checkout_url") or "",
        created_at=when(payload.get("created_at")),
        completed_at=when(payload.get("completed_at")),
        order_external_id=gid("Order", payload.get("order_id")),
    )


def product_gid_from_payload(payload: dict) -> str:
    return _payload_id(payload, "Product")


def inventory_item_gid_from_payload(payload: dict) -> str:
    value = gid("InventoryItem", payload.get("inventory_item_id"))
    if not value:
        raise MappingError("inventory level payload without inventory_item_id")
    return value


def compliance_customer(payload: dict) -> tuple[str, str]:
    """customers/data_request and customers/redact -> (customer GID, email)."""
    customer = payload.get("customer") or {}
    return gid("Customer", customer.get("id")), customer.get("email") or ""


def scopes_from_payload(payload: dict) -> str:
    current: Iterable[str] = payload.get("current") or ()
    return ",".join(sorted(str(s) for s in current))
