"""Catalogue and order rows written straight to the database for the service tests."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from xsell_plugin.catalog.models import Product, Variant
from xsell_plugin.customers.models import Customer
from xsell_plugin.orders.models import Order, OrderLine

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def product(store, ext, *, title=None, product_type="Camping", price="20.00", cost="8.00",
            quantity=10, **fields) -> Product:
    p = Product.objects.create(store=store, external_id=ext, title=title or f"Product {ext}",
                               product_type=product_type, **fields)
    Variant.objects.create(store=store, product=p, external_id=f"{ext}-v", price=Decimal(price),
                           cost=Decimal(cost) if cost is not None else None,
                           inventory_quantity=quantity)
    return p


def customer(store, ext) -> Customer:
    return Customer.objects.create(store=store, external_id=ext, email=f"{ext}@example.com")


def order(store, cust, ext, products, *, days_ago=1) -> Order:
    placed = NOW - timedelta(days=days_ago)
    o = Order.objects.create(store=store, customer=cust, external_id=ext, currency="USD",
                             total=Decimal("0"), placed_at=placed, email=cust.email if cust else "")
    for i, p in enumerate(products):
        price = p.variants.first().price
        OrderLine.objects.create(store=store, order=o, product=p, external_id=f"{ext}-{i}",
                                 title=p.title, quantity=1, unit_price=price, line_total=price)
    return o


def shop_with_orders(store, prefix="a"):
    """A tent shop: tent + sleeping bag bought together by 6 customers."""
    tent = product(store, f"{prefix}-tent", title="Trail Tent", product_type="Tent", price="100.00",
                   cost="40.00")
    bag = product(store, f"{prefix}-bag", title="Down Bag", product_type="Sleeping bag",
                  price="60.00", cost="20.00")
    stove = product(store, f"{prefix}-stove", title="Camp Stove", product_type="Stove",
                    price="45.00", cost="15.00")
    customers = [customer(store, f"{prefix}-c{i}") for i in range(8)]
    for i, c in enumerate(customers[:6]):
        order(store, c, f"{prefix}-o{i}", [tent, bag], days_ago=10 + i)
    for i, c in enumerate(customers[6:]):
        order(store, c, f"{prefix}-s{i}", [tent, stove], days_ago=5 + i)
    return {"tent": tent, "bag": bag, "stove": stove, "customers": customers}
