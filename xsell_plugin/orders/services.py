"""Writes to orders. Webhooks, backfills and the demo loader all call these."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from integrations.base import OrderData
from xsell_plugin.catalog.models import Product, Variant
from xsell_plugin.core.upsert import (
    UpsertResult,
    ids_by_key,
    insert_rows,
    rows_where_in,
    upsert_rows,
)
from xsell_plugin.customers.models import Customer
from xsell_plugin.orders.models import Order, OrderLine, Refund
from xsell_plugin.stores.models import Store

_ORDER_FIELDS = (
    "customer_id", "customer_external_id", "email", "name", "currency", "subtotal",
    "discount_total", "shipping_total", "tax_total", "total", "refunded_total",
    "financial_status", "fulfillment_status", "discount_codes", "source", "placed_at",
    "cancelled_at", "source_updated_at", "updated_at",
)
_LINE_FIELDS = (
    "product_id", "variant_id", "product_external_id", "variant_external_id", "title", "sku",
    "quantity", "unit_price", "total_discount", "line_total", "source_updated_at", "updated_at",
)
_CENT = Decimal("0.01")


def orders_upsert(*, store: Store, orders: Sequence[OrderData]) -> UpsertResult:
    """Insert or update orders with their lines and refunds, in one transaction.

    An order older than the stored one is skipped whole. For orders applied, lines and refunds
    are replaced by the incoming set. Customers, products and variants are linked by external id
    when we have them; ones that arrive later are linked then.
    """
    now = timezone.now()
    customers = ids_by_key(Customer, store_id=store.pk, field="external_id",
                           values=(o.customer_external_id for o in orders))
    with transaction.atomic():
        applied = upsert_rows(
            Order,
            (
                {
                    "store_id": store.pk, "external_id": o.external_id,
                    "customer_id": customers.get(o.customer_external_id),
                    "customer_external_id": o.customer_external_id,
                    "email": o.email.strip().lower(), "name": o.name, "currency": o.currency,
                    "subtotal": o.subtotal, "discount_total": o.discount_total,
                    "shipping_total": o.shipping_total, "tax_total": o.tax_total,
                    "total": o.total,
                    "refunded_total": sum((r.amount for r in o.refunds), Decimal("0")),
                    "financial_status": o.financial_status,
                    "fulfillment_status": o.fulfillment_status,
                    "discount_codes": list(o.discount_codes), "source": o.source,
                    "placed_at": o.placed_at, "cancelled_at": o.cancelled_at,
                    "source_updated_at": o.updated_at, "updated_at": now,
                }
                for o in orders
            ),
            unique=("store_id", "external_id"), update=_ORDER_FIELDS, version="source_updated_at",
        )
        applied_orders = [o for o in orders if (store.pk, o.external_id) in applied]
        if applied_orders:
            _children_replace(store=store, orders=applied_orders, order_ids=applied, now=now)
    return UpsertResult(received=len(orders), applied=len(applied))


def order_upsert(*, store: Store, order: OrderData) -> bool:
    return orders_upsert(store=store, orders=[order]).applied == 1


def orders_link_customers(*, store: Store, customer_external_ids: Sequence[str]) -> int:
    """Point orders that arrived before their customer at the customer row (one UPDATE)."""
    if not customer_external_ids:
        return 0
    return (
        Order.objects.for_store(store)
        .filter(customer__isnull=True, customer_external_id__in=customer_external_ids)
        .update(customer_id=Subquery(
            Customer.objects.for_store(store)
            .filter(external_id=OuterRef("customer_external_id")).values("pk")[:1]
        ))
    )


def order_lines_link_catalog(*, store: Store, product_external_ids: Sequence[str]) -> int:
    """Point order lines that arrived before their product/variant at the catalogue rows."""
    if not product_external_ids:
        return 0
    lines = OrderLine.objects.for_store(store).filter(
        product__isnull=True, product_external_id__in=product_external_ids
    )
    return lines.update(
        product_id=Subquery(
            Product.objects.for_store(store)
            .filter(external_id=OuterRef("product_external_id")).values("pk")[:1]
        ),
        variant_id=Subquery(
            Variant.objects.for_store(store)
            .filter(external_id=OuterRef("variant_external_id")).values("pk")[:1]
        ),
    )


def _children_replace(*, store: Store, orders: Sequence[OrderData], order_ids: dict, now) -> None:
    """Lines and refunds of applied orders become the incoming set. What the orders had before
    is read first (nothing, in a backfill), so rows just written are never read back."""
    ids = [order_ids[(store.pk, o.external_id)] for o in orders]
    had_lines = rows_where_in(OrderLine, store_id=store.pk, field="order_id", values=ids,
                              columns=("pk", "order_id", "external_id"))
    had_refunds = rows_where_in(Refund, store_id=store.pk, field="order_id", values=ids,
                                columns=("pk", "external_id"))
    lines = [(o, line) for o in orders for line in o.lines]
    products = ids_by_key(Product, store_id=store.pk, field="external_id",
                          values=(ln.product_external_id for _, ln in lines))
    variants = ids_by_key(Variant, store_id=store.pk, field="external_id",
                          values=(ln.variant_external_id for _, ln in lines))
    line_rows = [
        {
            "store_id": store.pk, "order_id": order_ids[(store.pk, o.external_id)],
            "external_id": ln.external_id,
            "product_id": products.get(ln.product_external_id),
            "variant_id": variants.get(ln.variant_external_id),
            "product_external_id": ln.product_external_id,
            "variant_external_id": ln.variant_external_id, "title": ln.title[:500],
            "sku": ln.sku, "quantity": ln.quantity, "unit_price": ln.unit_price,
            "total_discount": ln.total_discount,
            "line_total": (ln.unit_price * ln.quantity - ln.total_discount).quantize(_CENT),
            "source_updated_at": o.updated_at, "updated_at": now,
        }
        for o, ln in lines
    ]
    # Lines the order did not have are inserted plainly; the others are upserted. Nobody else
    # can add lines to these orders meanwhile: only this service writes lines, always after
    # upserting their order, whose row this transaction now holds (SQLite: the write lock).
    had = {(oid, ext) for _pk, oid, ext in had_lines}
    new_keys: set[tuple] = set()
    new_rows, known_rows = [], []
    for row in line_rows:
        key = (row["order_id"], row["external_id"])
        if key in had:
            known_rows.append(row)
        elif key not in new_keys:  # a line listed twice: the upsert keeps the last
            new_keys.add(key)
            new_rows.append(row)
        else:
            known_rows.append(row)
    insert_rows(OrderLine, new_rows)
    upsert_rows(OrderLine, known_rows, unique=("store_id", "order_id", "external_id"),
                update=_LINE_FIELDS, returning=False)
    refunds = [
        {"store_id": store.pk, "order_id": order_ids[(store.pk, o.external_id)],
         "external_id": r.external_id, "amount": r.amount, "reason": r.reason[:255],
         "refunded_at": r.created_at, "source_updated_at": o.updated_at, "updated_at": now}
        for o in orders for r in o.refunds
    ]
    upsert_rows(Refund, refunds, unique=("store_id", "external_id"),
                update=("amount", "reason", "refunded_at", "source_updated_at", "updated_at"),
                returning=False)
    keep_lines = {(row["order_id"], row["external_id"]) for row in line_rows}
    gone = [pk for pk, oid, ext in had_lines if (oid, ext) not in keep_lines]
    if gone:
        OrderLine.objects.filter(pk__in=gone).delete()
    keep_refunds = {r["external_id"] for r in refunds}
    gone = [pk for pk, ext in had_refunds if ext not in keep_refunds]
    if gone:
        Refund.objects.filter(pk__in=gone).delete()
