from __future__ import annotations

from xsell_plugin.activity.models import Checkout
from xsell_plugin.catalog.models import Product, Variant
from xsell_plugin.customers.models import Customer
from xsell_plugin.orders.models import Order, OrderLine
from xsell_plugin.stores.models import Store


def store_counts(*, store: Store) -> dict[str, int]:
    return {
        "products": Product.objects.for_store(store).count(),
        "variants": Variant.objects.for_store(store).count(),
        "customers": Customer.objects.for_store(store).count(),
        "orders": Order.objects.for_store(store).count(),
        "order_lines": OrderLine.objects.for_store(store).count(),
        "checkouts": Checkout.objects.for_store(store).count(),
    }
