"""factory_boy factories: model rows, and the frozen DTOs the domain services take."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import factory

from integrations import base
from xsell_plugin.stores.models import Store

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    platform = Store.Platform.SHOPIFY
    domain = factory.Sequence(lambda n: f"shop-{n}.myshopify.com")
    name = factory.Sequence(lambda n: f"Shop {n}")
    currency = "USD"
    timezone = "America/New_York"
    status = Store.Status.ACTIVE


class VariantDataFactory(factory.Factory):
    class Meta:
        model = base.VariantData

    external_id = factory.Sequence(lambda n: f"gid://shopify/ProductVariant/{n}")
    title = "Default"
    price = Decimal("49.00")
    sku = factory.Sequence(lambda n: f"SKU-{n}")
    cost = Decimal("20.00")
    inventory_quantity = 10


class ProductDataFactory(factory.Factory):
    class Meta:
        model = base.ProductData

    external_id = factory.Sequence(lambda n: f"gid://shopify/Product/{n}")
    title = factory.Sequence(lambda n: f"Product {n}")
    updated_at = T0
    variants = factory.LazyFunction(lambda: (VariantDataFactory(),))
    product_type = "Laptop"
    vendor = "Acme"
    tags = ("electronics",)
    collections = (base.CollectionData("gid://shopify/Collection/1", "Computers", "computers"),)


class CustomerDataFactory(factory.Factory):
    class Meta:
        model = base.CustomerData

    external_id = factory.Sequence(lambda n: f"gid://shopify/Customer/{n}")
    email = factory.Sequence(lambda n: f"Buyer{n}@Example.com")
    updated_at = T0
    consent = factory.LazyFunction(
        lambda: base.ConsentData(base.ConsentState.SUBSCRIBED, "shopify:SINGLE_OPT_IN", T0))
    first_name = "Ada"
    last_name = "Lovelace"


class OrderLineDataFactory(factory.Factory):
    class Meta:
        model = base.OrderLineData

    external_id = factory.Sequence(lambda n: f"gid://shopify/LineItem/{n}")
    title = "Laptop"
    quantity = 1
    unit_price = Decimal("999.00")
    total_discount = Decimal("0")


class OrderDataFactory(factory.Factory):
    class Meta:
        model = base.OrderData

    external_id = factory.Sequence(lambda n: f"gid://shopify/Order/{n}")
    placed_at = T0
    updated_at = T0 + timedelta(minutes=1)
    currency = "USD"
    lines = factory.LazyFunction(lambda: (OrderLineDataFactory(),))
    total = factory.LazyAttribute(
        lambda o: sum((ln.unit_price * ln.quantity - ln.total_discount for ln in o.lines), Decimal("0")))
    subtotal = factory.LazyAttribute(lambda o: o.total)
    name = factory.Sequence(lambda n: f"#{1000 + n}")
    email = "buyer@example.com"
    financial_status = "paid"


class CheckoutDataFactory(factory.Factory):
    class Meta:
        model = base.CheckoutData

    external_id = factory.Sequence(lambda n: f"checkout-{n}")
    updated_at = T0
    currency = "USD"
    lines = factory.LazyFunction(lambda: (
        base.CheckoutLineData("Laptop", 1, Decimal("999.00"), "gid://shopify/Product/1"),))
    email = "Cart@Example.com"
    subtotal = Decimal("999.00")
