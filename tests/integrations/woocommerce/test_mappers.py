"""Recorded payloads to DTOs: prices as Decimal, stock, variations, orders, customers, carts."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from integrations.base import ConsentState, DiscountCodeRequest, ProductStatus, StockStatus
from integrations.woocommerce import mappers
from tests.integrations.woocommerce.conftest import load


def test_simple_product():
    p = mappers.product_from_payload(load("product.created"))
    assert (p.external_id, p.title, p.handle) == ("794", "Premium Quality", "premium-quality-19")
    assert p.updated_at == datetime(2026, 1, 3, 20, 1, 14, tzinfo=UTC)
    assert p.status == ProductStatus.ACTIVE and p.vendor == "Woo" and p.product_type == "Clothing"
    assert [(c.external_id, c.title) for c in p.collections] == [("9", "Clothing"), ("14", "T-shirts")]
    assert p.tags == ("cotton",)
    assert (p.upsell_ids, p.cross_sell_ids) == (("799",), ("31", "22"))
    assert p.description == "Pellentesque habitant morbi tristique senectus."
    assert p.image_url.endswith("T_2_front-4.jpg")
    (v,) = p.variants
    assert v.external_id == "794"  # the product's own id: what add-to-cart takes
    assert (v.price, v.compare_at_price, v.cost) == (Decimal("21.99"), Decimal("24.99"), Decimal("9.5"))
    assert (v.inventory_quantity, v.stock_status, v.sku) == (12, StockStatus.IN_STOCK, "PQ-19")


def test_variable_product_with_its_variations():
    p = mappers.product_from_payload(load("product.updated"), load("product.variations"))
    black, green = p.variants
    assert (black.external_id, black.title, black.price) == ("732", "Black", Decimal("18"))
    assert (black.compare_at_price, black.cost, black.inventory_quantity) == (
        Decimal("20"), Decimal("7.25"), 3)
    assert (green.stock_status, green.inventory_quantity, green.position) == (
        StockStatus.BACKORDER, None, 1)
    assert p.cross_sell_ids == ("794",)


@pytest.mark.parametrize(("changes", "status", "stock"), [
    ({"status": "draft"}, ProductStatus.DRAFT, StockStatus.IN_STOCK),
    ({"status": "private"}, ProductStatus.DRAFT, StockStatus.IN_STOCK),
    ({"stock_status": "outofstock"}, ProductStatus.ACTIVE, StockStatus.OUT_OF_STOCK),
    ({"purchasable": False}, ProductStatus.ACTIVE, StockStatus.OUT_OF_STOCK),
    ({"type": "external"}, ProductStatus.DRAFT, StockStatus.IN_STOCK),
])
def test_product_status_and_stock(changes, status, stock):
    p = mappers.product_from_payload(load("product.created") | changes)
    assert (p.status, p.variants[0].stock_status) == (status, stock)


def test_unmanaged_stock_is_untracked_and_empty_price_is_zero():
    p = mappers.product_from_payload(load("product.created") | {
        "manage_stock": False, "stock_quantity": None, "price": "", "regular_price": ""})
    assert (p.variants[0].inventory_quantity, p.variants[0].price) == (None, Decimal("0"))


def test_variation_payload_is_recognised():
    payload = load("product.updated.variation")
    assert mappers.is_variation(payload) and not mappers.is_variation(load("product.updated"))
    v = mappers.variant_from_variation(payload)
    assert (v.external_id, v.inventory_quantity, v.stock_status) == ("732", 0, StockStatus.OUT_OF_STOCK)


@pytest.mark.parametrize("broken", [{"id": None}, {"price": "twelve"}, {"categories": "x"},
                                    {"date_modified_gmt": "yesterday"}])
def test_malformed_product(broken):
    with pytest.raises(mappers.MalformedPayload):
        mappers.product_from_payload(load("product.created") | broken)


def test_customer_consent_unknown_by_default():
    c = mappers.customer_from_payload(load("customer.created"))
    assert (c.external_id, c.email, c.first_name) == ("25", "John.Doe@Example.com", "John")
    assert c.consent.state == ConsentState.UNKNOWN and c.tags == ("role:customer",)
    assert c.updated_at == datetime(2026, 1, 2, 13, 57, 5, tzinfo=UTC)


def test_customer_consent_from_a_configured_meta_key():
    payload = load("customer.created")
    c = mappers.customer_from_payload(payload, consent_meta_key="mailchimp_woocommerce_is_subscribed")
    assert c.consent.state == ConsentState.SUBSCRIBED
    assert c.consent.source == "woocommerce:meta:mailchimp_woocommerce_is_subscribed"
    payload["meta_data"][0]["value"] = "0"
    c = mappers.customer_from_payload(payload, consent_meta_key="mailchimp_woocommerce_is_subscribed")
    assert c.consent.state == ConsentState.NOT_SUBSCRIBED
    assert mappers.customer_from_payload(payload, consent_meta_key="absent").consent.state == (
        ConsentState.UNKNOWN)


def test_order():
    o = mappers.order_from_payload(load("order.created"))
    assert (o.external_id, o.name, o.currency, o.source) == ("727", "#727", "USD", "checkout")
    assert (o.total, o.subtotal, o.discount_total, o.shipping_total, o.tax_total) == (
        Decimal("56.34"), Decimal("47.98"), Decimal("2.00"), Decimal("10.00"), Decimal("1.35"))
    assert (o.customer_external_id, o.email, o.financial_status) == ("25", "John.Doe@example.com", "paid")
    assert o.placed_at == datetime(2026, 1, 5, 10, 24, 49, tzinfo=UTC)
    assert o.discount_codes == ("xs-ada-2026",) and o.cancelled_at is None and o.refunds == ()
    simple, variation = o.lines
    assert (simple.unit_price, simple.quantity, simple.total_discount) == (
        Decimal("21.99"), 2, Decimal("2.00"))
    assert (simple.product_external_id, simple.variant_external_id) == ("794", "794")
    assert (variation.product_external_id, variation.variant_external_id) == ("799", "732")


def test_order_update_with_refund_and_cancellations():
    o = mappers.order_from_payload(load("order.updated"))
    assert (o.fulfillment_status, o.financial_status) == ("fulfilled", "partially_refunded")
    (refund,) = o.refunds
    assert (refund.external_id, refund.amount, refund.reason) == (
        "726", Decimal("4.00"), "Damaged in transit")
    for status in ("cancelled", "failed", "trash"):
        cancelled = mappers.order_from_payload(load("order.created") | {"status": status})
        assert cancelled.cancelled_at == cancelled.updated_at and cancelled.financial_status == "voided"


def test_cart():
    c = mappers.checkout_from_cart(load("cart.updated"))
    assert (c.external_id, c.kind, c.currency, c.email) == (
        "cart:t_8f14e45fceea167a5a36dedd4bea2543", "cart", "USD", "john.doe@example.com")
    assert c.updated_at == datetime(2026, 1, 5, 10, 30, tzinfo=UTC) and c.completed_at is None
    assert [(ln.variant_external_id, ln.quantity, ln.unit_price) for ln in c.lines] == [
        ("794", 2, Decimal("21.99")), ("732", 1, Decimal("4.00"))]
    assert c.subtotal == Decimal("47.98") and c.customer_external_id == "25"


@pytest.mark.parametrize("broken", [{"cart_id": ""}, {"updated_at": None}, {"currency": "dollars"},
                                   {"lines": [{"product_id": 1, "quantity": 0}]},
                                   {"lines": [{"quantity": 1}]}, {"lines": "x"}])
def test_malformed_cart(broken):
    with pytest.raises(mappers.MalformedPayload):
        mappers.checkout_from_cart(load("cart.updated") | broken)


def test_coupon_body():
    ends = datetime(2026, 1, 11, 12, 0, tzinfo=UTC)
    body = mappers.coupon_body(DiscountCodeRequest(
        code="XS-ADA", ends_at=ends, percent_off=Decimal("15.0"), customer_email="ada@example.com",
        product_external_ids=("794", "732")))
    assert body | {"meta_data": None} == {
        "code": "XS-ADA", "discount_type": "percent", "amount": "15", "individual_use": True,
        "usage_limit": 1, "usage_limit_per_user": 1, "email_restrictions": ["ada@example.com"],
        "date_expires_gmt": "2026-01-11T12:00:00", "product_ids": [794, 732],
        "description": "Issued by xsell for one recipient.", "meta_data": None}
    fixed = mappers.coupon_body(DiscountCodeRequest(code="X", ends_at=ends, amount_off=Decimal("5.50")))
    assert (fixed["discount_type"], fixed["amount"], fixed["product_ids"]) == ("fixed_cart", "5.5", [])
    per_item = mappers.coupon_body(DiscountCodeRequest(code="X", ends_at=ends, amount_off=Decimal("5"),
                                                       product_external_ids=("794",)))
    assert (per_item["discount_type"], per_item["limit_usage_to_x_items"]) == ("fixed_product", 1)
    with pytest.raises(ValueError):
        mappers.coupon_body(DiscountCodeRequest(code="X", ends_at=ends))
