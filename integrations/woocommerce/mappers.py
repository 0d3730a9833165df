"""WooCommerce payloads (REST v3 / webhook bodies, our cart events) to the frozen DTOs, and back
(coupon bodies). Nothing below this module sees a raw dict.

Conventions: ids become strings; prices are strings in WooCommerce and become ``Decimal``; times
come from the ``*_gmt`` fields (UTC without an offset). A simple product becomes one variant whose
id is the product's own id, so a "variant id" is always what WooCommerce's add-to-cart takes (a
simple product id or a variation id; both are WordPress post ids and never collide).
A malformed payload raises ``MalformedPayload`` (a ``ValueError``: failed, not retried).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.utils.html import strip_tags

from integrations.base import (
    CheckoutData,
    CheckoutLineData,
    CollectionData,
    ConsentData,
    ConsentState,
    CustomerData,
    DiscountCodeRequest,
    IssuedDiscount,
    OrderData,
    OrderLineData,
    ProductData,
    ProductStatus,
    RefundData,
    StockStatus,
    VariantData,
)

_CENT = Decimal("0.01")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STOCK = {"instock": StockStatus.IN_STOCK, "outofstock": StockStatus.OUT_OF_STOCK,
          "onbackorder": StockStatus.BACKORDER}
_PRODUCT_STATUS = {"publish": ProductStatus.ACTIVE, "trash": ProductStatus.ARCHIVED}
# Order statuses that mean "this is not a sale" (cancelled_at is set).
_VOID = {"cancelled", "failed", "trash"}
_FINANCIAL = {"pending": "pending", "on-hold": "pending", "checkout-draft": "pending",
              "processing": "paid", "completed": "paid", "refunded": "refunded",
              "cancelled": "voided", "failed": "voided", "trash": "voided"}
_TRUE = {"1", "yes", "true", "on", "subscribed", "opt-in", "optin"}
_FALSE = {"0", "no", "false", "off", "unsubscribed", "opt-out", "optout"}
COUPON_META_KEY = "_xsell_issued"


class MalformedPayload(ValueError):
    """The payload lacks a field we need or has one of the wrong type."""


# -- scalars ---------------------------------------------------------------------------------

def parse_time(value: Any) -> datetime | None:
    """A ``*_gmt`` time (``2026-01-05T10:00:00``, UTC) or an ISO time with an offset."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise MalformedPayload(f"not a time: {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedPayload(f"not a time: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def money(value: Any, default: str = "0") -> Decimal:
    if value in (None, ""):
        return Decimal(default)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise MalformedPayload(f"not an amount: {value!r}") from None
    if not amount.is_finite():
        raise MalformedPayload(f"not an amount: {value!r}")
    return amount


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP)


def _id(value: Any) -> str:
    if isinstance(value, bool) or value in (None, "", 0, "0"):
        return ""
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return str(int(value))
    raise MalformedPayload(f"not an id: {value!r}")


def required_id(payload: Mapping, key: str = "id") -> str:
    value = _id(payload.get(key))
    if not value:
        raise MalformedPayload(f"missing {key}")
    return value


def _dict(payload: Any, what: str) -> Mapping:
    if not isinstance(payload, Mapping):
        raise MalformedPayload(f"{what} is not an object")
    return payload


def _list(value: Any, what: str) -> list:
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise MalformedPayload(f"{what} is not a list")
    return value


def _int(value: Any, what: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise MalformedPayload(f"{what} is not a whole number: {value!r}") from None


def _updated_at(payload: Mapping) -> datetime:
    return (parse_time(payload.get("date_modified_gmt")) or parse_time(payload.get("date_created_gmt"))
            or _EPOCH)


def _meta(payload: Mapping, key: str) -> Any:
    for item in _list(payload.get("meta_data"), "meta_data"):
        if isinstance(item, Mapping) and item.get("key") == key:
            return item.get("value")
    return None


def resource_time(payload: Mapping) -> datetime | None:
    """When the resource last changed, if the payload says (deleted payloads only carry an id)."""
    return parse_time(payload.get("date_modified_gmt")) or parse_time(payload.get("date_created_gmt"))


def is_variation(payload: Mapping) -> bool:
    """A variation sent through the products endpoint (``product.updated`` for a variation)."""
    return payload.get("type") == "variation" and bool(_id(payload.get("parent_id")))


# -- catalogue -------------------------------------------------------------------------------

def _stock(payload: Mapping, parent: Mapping | None = None) -> tuple[int | None, StockStatus]:
    status = _STOCK.get(str(payload.get("stock_status") or "instock"), StockStatus.IN_STOCK)
    manage = payload.get("manage_stock")
    quantity = None
    if manage is True:
        quantity = _int(payload.get("stock_quantity"), "stock_quantity")
    elif manage == "parent" and parent is not None and parent.get("manage_stock") is True:
        quantity = _int(parent.get("stock_quantity"), "stock_quantity")
    if payload.get("purchasable") is False:
        status = StockStatus.OUT_OF_STOCK  # no price, or otherwise not for sale
    return quantity, status


def _cost(payload: Mapping) -> Decimal | None:
    """WooCommerce's cost of goods (core COGS, 9.5+), else the Cost of Goods plugin's meta."""
    cogs = payload.get("cost_of_goods_sold")
    if isinstance(cogs, Mapping) and cogs.get("total_value") not in (None, ""):
        return money(cogs.get("total_value"))
    value = _meta(payload, "_wc_cog_cost")
    return money(value) if value not in (None, "") else None


def _prices(payload: Mapping) -> tuple[Decimal, Decimal | None]:
    price = money(payload.get("price") or payload.get("regular_price"))
    regular = money(payload.get("regular_price"), default="0")
    compare = regular if payload.get("on_sale") and regular > price else None
    return max(price, Decimal("0")), compare


def variant_from_variation(payload: Mapping, *, parent: Mapping | None = None,
                           position: int = 0) -> VariantData:
    payload = _dict(payload, "variation")
    price, compare = _prices(payload)
    quantity, status = _stock(payload, parent)
    title = str(payload.get("name") or "")
    options = [str(a.get("option")) for a in _list(payload.get("attributes"), "attributes")
               if isinstance(a, Mapping) and a.get("option")]
    if options:
        title = " / ".join(options)
    return VariantData(
        external_id=required_id(payload), title=title or "Default", price=price,
        sku=str(payload.get("sku") or ""), compare_at_price=compare, cost=_cost(payload),
        inventory_quantity=quantity, stock_status=status,
        position=_int(payload.get("menu_order"), "menu_order") or position,
    )


def product_from_payload(payload: Mapping, variations: Sequence[Mapping] = ()) -> ProductData:
    """A product (and, for a variable product, its variations fetched apart)."""
    payload = _dict(payload, "product")
    try:
        external_id = required_id(payload)
        kind = str(payload.get("type") or "simple")
        if kind == "variable":
            variants = tuple(variant_from_variation(v, parent=payload, position=i)
                             for i, v in enumerate(variations))
        elif kind == "grouped":
            variants = ()  # its children are products of their own
        else:
            price, compare = _prices(payload)
            quantity, stock = _stock(payload)
            variants = (VariantData(
                external_id=external_id, title="Default", price=price,
                sku=str(payload.get("sku") or ""), compare_at_price=compare, cost=_cost(payload),
                inventory_quantity=quantity, stock_status=stock),)
        status = _PRODUCT_STATUS.get(str(payload.get("status") or ""), ProductStatus.DRAFT)
        if kind in ("grouped", "external") and status == ProductStatus.ACTIVE:
            status = ProductStatus.DRAFT  # cannot go into a cart by our links
        categories = [c for c in _list(payload.get("categories"), "categories")
                      if isinstance(c, Mapping)]
        brands = [b for b in _list(payload.get("brands"), "brands") if isinstance(b, Mapping)]
        images = [i for i in _list(payload.get("images"), "images") if isinstance(i, Mapping)]
        return ProductData(
            external_id=external_id,
            title=str(payload.get("name") or ""),
            updated_at=_updated_at(payload),
            variants=variants,
            handle=str(payload.get("slug") or ""),
            vendor=str(brands[0].get("name") or "") if brands else "",
            product_type=str(categories[0].get("name") or "") if categories else "",
            tags=tuple(str(t.get("name")) for t in _list(payload.get("tags"), "tags")
                       if isinstance(t, Mapping) and t.get("name")),
            status=status,
            collections=tuple(
                CollectionData(external_id=required_id(c), title=str(c.get("name") or ""),
                               handle=str(c.get("slug") or ""))
                for c in categories),
            description=strip_tags(str(payload.get("short_description")
                                       or payload.get("description") or "")).strip(),
            image_url=str(images[0].get("src") or "") if images else "",
            url=str(payload.get("permalink") or ""),
            created_at=parse_time(payload.get("date_created_gmt")),
            upsell_ids=tuple(_id(i) for i in _list(payload.get("upsell_ids"), "upsell_ids")
                             if _id(i)),
            cross_sell_ids=tuple(_id(i) for i in
                                 _list(payload.get("cross_sell_ids"), "cross_sell_ids") if _id(i)),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise MalformedPayload(f"product: {type(exc).__name__}: {exc}") from None


# -- customers -------------------------------------------------------------------------------

def consent_from_meta(value: Any, *, key: str, at: datetime | None) -> ConsentData:
    text = str(value).strip().lower() if value not in (None, "") else ""
    if isinstance(value, bool):
        text = "1" if value else "0"
    if text in _TRUE:
        return ConsentData(ConsentState.SUBSCRIBED, f"woocommerce:meta:{key}", at)
    if text in _FALSE:
        return ConsentData(ConsentState.NOT_SUBSCRIBED, f"woocommerce:meta:{key}", at)
    return ConsentData(ConsentState.UNKNOWN, "woocommerce", at)


def customer_from_payload(payload: Mapping, *, consent_meta_key: str = "") -> CustomerData:
    """WooCommerce keeps no marketing consent: UNKNOWN, unless the store records it in a
    customer meta key named by ``XSELL_WOOCOMMERCE_CONSENT_META_KEY`` (docs/woocommerce.md)."""
    payload = _dict(payload, "customer")
    try:
        updated_at = _updated_at(payload)
        billing = payload.get("billing") if isinstance(payload.get("billing"), Mapping) else {}
        consent = ConsentData(ConsentState.UNKNOWN, "woocommerce", None)
        if consent_meta_key:
            consent = consent_from_meta(_meta(payload, consent_meta_key), key=consent_meta_key,
                                        at=updated_at)
        role = str(payload.get("role") or "")
        return CustomerData(
            external_id=required_id(payload),
            email=str(payload.get("email") or billing.get("email") or ""),
            updated_at=updated_at,
            consent=consent,
            first_name=str(payload.get("first_name") or billing.get("first_name") or ""),
            last_name=str(payload.get("last_name") or billing.get("last_name") or ""),
            created_at=parse_time(payload.get("date_created_gmt")),
            tags=(f"role:{role}",) if role else (),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise MalformedPayload(f"customer: {type(exc).__name__}: {exc}") from None


# -- orders ----------------------------------------------------------------------------------

def _line(item: Mapping) -> OrderLineData:
    quantity = _int(item.get("quantity"), "quantity") or 0
    subtotal = money(item.get("subtotal"))  # before discounts, without tax
    total = money(item.get("total"))
    unit = _cents(subtotal / quantity) if quantity else _cents(subtotal)
    product_id = _id(item.get("product_id"))
    variation_id = _id(item.get("variation_id"))
    return OrderLineData(
        external_id=required_id(item), title=str(item.get("name") or ""), quantity=quantity,
        unit_price=unit, total_discount=_cents(max(subtotal - total, Decimal("0"))),
        product_external_id=product_id, variant_external_id=variation_id or product_id,
        sku=str(item.get("sku") or ""),
    )


def order_from_payload(payload: Mapping) -> OrderData:
    payload = _dict(payload, "order")
    try:
        status = str(payload.get("status") or "")
        updated_at = _updated_at(payload)
        placed_at = parse_time(payload.get("date_created_gmt")) or updated_at
        lines = tuple(_line(_dict(i, "line item"))
                      for i in _list(payload.get("line_items"), "line_items"))
        refunds_list = [_dict(r, "refund") for r in _list(payload.get("refunds"), "refunds")]
        # The order payload lists refunds without dates: the order's last change stands in.
        refunds = tuple(
            RefundData(external_id=required_id(r), amount=abs(money(r.get("total"))),
                       created_at=updated_at, reason=str(r.get("reason") or ""))
            for r in refunds_list)
        financial = _FINANCIAL.get(status, status)
        if refunds and financial == "paid":
            financial = "partially_refunded"
        billing = payload.get("billing") if isinstance(payload.get("billing"), Mapping) else {}
        number = str(payload.get("number") or payload.get("id") or "")
        return OrderData(
            external_id=required_id(payload),
            placed_at=placed_at,
            updated_at=updated_at,
            currency=str(payload.get("currency") or "").upper()[:3],
            total=money(payload.get("total")),
            lines=lines,
            subtotal=sum((money(i.get("subtotal")) for i in _list(payload.get("line_items"),
                                                                  "line_items")), Decimal("0")),
            discount_total=money(payload.get("discount_total")),
            shipping_total=money(payload.get("shipping_total")),
            tax_total=money(payload.get("total_tax")),
            name=f"#{number}" if number else "",
            customer_external_id=_id(payload.get("customer_id")),
            email=str(billing.get("email") or ""),
            financial_status=financial,
            fulfillment_status="fulfilled" if status == "completed" else "unfulfilled",
            cancelled_at=updated_at if status in _VOID else None,
            discount_codes=tuple(str(c.get("code")) for c in
                                 _list(payload.get("coupon_lines"), "coupon_lines")
                                 if isinstance(c, Mapping) and c.get("code")),
            refunds=refunds,
            source=str(payload.get("created_via") or ""),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise MalformedPayload(f"order: {type(exc).__name__}: {exc}") from None


# -- carts (our companion endpoint; schema in docs/woocommerce.md) ---------------------------

def checkout_from_cart(payload: Mapping) -> CheckoutData:
    payload = _dict(payload, "cart")
    cart_id = payload.get("cart_id")
    if not isinstance(cart_id, str | int) or isinstance(cart_id, bool) or not str(cart_id).strip():
        raise MalformedPayload("cart_id is required")
    updated_at = parse_time(payload.get("updated_at"))
    if updated_at is None:
        raise MalformedPayload("updated_at is required")
    currency = payload.get("currency")
    if not isinstance(currency, str) or len(currency.strip()) != 3:
        raise MalformedPayload("currency must be a 3-letter code")
    lines = []
    for raw in _list(payload.get("lines"), "lines"):
        line = _dict(raw, "cart line")
        product_id = _id(line.get("product_id"))
        if not product_id:
            raise MalformedPayload("every cart line needs a product_id")
        quantity = _int(line.get("quantity"), "quantity")
        if quantity is None or quantity < 1:
            raise MalformedPayload("every cart line needs a quantity of at least 1")
        variation_id = _id(line.get("variation_id"))
        lines.append(CheckoutLineData(
            title=str(line.get("name") or ""), quantity=quantity, unit_price=money(line.get("price")),
            product_external_id=product_id, variant_external_id=variation_id or product_id))
    subtotal = (money(payload.get("subtotal")) if payload.get("subtotal") not in (None, "")
                else sum((ln.unit_price * ln.quantity for ln in lines), Decimal("0")))
    order_id = _id(payload.get("order_id"))
    return CheckoutData(
        external_id=f"cart:{str(cart_id).strip()[:240]}",
        updated_at=updated_at,
        currency=currency.strip().upper(),
        lines=tuple(lines),
        kind="cart",
        customer_external_id=_id(payload.get("customer_id")),
        email=str(payload.get("email") or ""),
        subtotal=subtotal,
        recovery_url=str(payload.get("recovery_url") or ""),
        created_at=parse_time(payload.get("created_at")),
        completed_at=updated_at if order_id else None,
        order_external_id=order_id,
    )


# -- coupons ---------------------------------------------------------------------------------

def _amount_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def coupon_body(request: DiscountCodeRequest) -> dict[str, Any]:
    """A per-recipient coupon: one use, one customer (by billing email), expiring."""
    if request.free_shipping:
        if request.percent_off is not None or request.amount_off is not None:
            raise ValueError("a free-shipping coupon takes no percent_off or amount_off")
    elif (request.percent_off is None) == (request.amount_off is None):
        raise ValueError("a discount is either percent_off or amount_off")
    product_ids = [int(i) for i in request.product_external_ids]
    body: dict[str, Any] = {
        "code": request.code,
        "individual_use": True,
        "usage_limit": request.usage_limit,
        "usage_limit_per_user": 1,
        "email_restrictions": [request.customer_email] if request.customer_email else [],
        "date_expires_gmt": request.ends_at.astimezone(UTC).replace(tzinfo=None)
        .isoformat(timespec="seconds"),
        "product_ids": product_ids,
        "description": "Issued by xsell for one recipient.",
        "meta_data": [{"key": COUPON_META_KEY, "value": "1"}],
    }
    if request.free_shipping:
        # WooCommerce's free-shipping coupon: nothing off the goods, and it unlocks the store's
        # "free shipping" method (which must allow "a valid free shipping coupon").
        body |= {"discount_type": "fixed_cart", "amount": "0", "free_shipping": True}
    elif request.percent_off is not None:
        body |= {"discount_type": "percent", "amount": _amount_text(request.percent_off)}
    elif product_ids:
        # The amount off one matching item (not off every unit in the cart).
        body |= {"discount_type": "fixed_product", "amount": _amount_text(request.amount_off),
                 "limit_usage_to_x_items": 1}
    else:
        body |= {"discount_type": "fixed_cart", "amount": _amount_text(request.amount_off)}
    return body


def issued_from_coupon(payload: Mapping, *, ends_at: datetime) -> IssuedDiscount:
    payload = _dict(payload, "coupon")
    return IssuedDiscount(code=str(payload.get("code") or ""), external_id=required_id(payload),
                          ends_at=parse_time(payload.get("date_expires_gmt")) or ends_at)
