"""Writes to shopping activity: checkout/cart snapshots, browse and wishlist events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.base import CheckoutData
from xsell_plugin.activity.models import ActivityEvent, Checkout
from xsell_plugin.catalog.models import Product
from xsell_plugin.core.exceptions import NotFound
from xsell_plugin.core.upsert import UpsertResult, upsert_rows
from xsell_plugin.customers.models import Customer
from xsell_plugin.stores.models import Store

_CHECKOUT_FIELDS = (
    "kind", "status", "customer_id", "customer_external_id", "email", "currency", "subtotal",
    "lines", "recovery_url", "order_external_id", "source_created_at", "completed_at",
    "source_updated_at", "updated_at",
)


def checkouts_upsert(*, store: Store, checkouts: Sequence[CheckoutData]) -> UpsertResult:
    """Keep the newest snapshot of each cart/checkout; a completed one stays completed."""
    now = timezone.now()
    wanted = {c.customer_external_id for c in checkouts if c.customer_external_id}
    customers = dict(
        Customer.objects.for_store(store).filter(external_id__in=wanted)
        .values_list("external_id", "pk")
    ) if wanted else {}
    with transaction.atomic():
        applied = upsert_rows(
            Checkout,
            (
                {
                    "store_id": store.pk, "external_id": c.external_id, "kind": c.kind,
                    "status": (Checkout.Status.COMPLETED
                               if c.completed_at or c.order_external_id else Checkout.Status.OPEN),
                    "customer_id": customers.get(c.customer_external_id),
                    "customer_external_id": c.customer_external_id,
                    "email": c.email.strip().lower(), "currency": c.currency,
                    "subtotal": c.subtotal,
                    "lines": [
                        {"title": ln.title, "quantity": ln.quantity,
                         "unit_price": str(ln.unit_price),
                         "product_external_id": ln.product_external_id,
                         "variant_external_id": ln.variant_external_id}
                        for ln in c.lines
                    ],
                    "recovery_url": c.recovery_url, "order_external_id": c.order_external_id,
                    "source_created_at": c.created_at, "completed_at": c.completed_at,
                    "source_updated_at": c.updated_at, "updated_at": now,
                }
                for c in checkouts
            ),
            unique=("store_id", "external_id"), update=_CHECKOUT_FIELDS,
            version="source_updated_at",
        )
    return UpsertResult(received=len(checkouts), applied=len(applied))


def checkout_upsert(*, store: Store, checkout: CheckoutData) -> bool:
    return checkouts_upsert(store=store, checkouts=[checkout]).applied == 1


def activity_event_record(*, store: Store, event_id: str, kind: str, customer_external_id: str,
                          product_external_id: str, occurred_at: datetime) -> bool:
    """Record a browse/wishlist event once; a replay of the same event id does nothing.
    Returns True when recorded now."""
    if kind not in ActivityEvent.Kind.values:
        raise ValueError(f"unknown activity kind {kind!r}")
    customer = Customer.objects.for_store(store).filter(external_id=customer_external_id).first()
    product = Product.objects.for_store(store).filter(external_id=product_external_id).first()
    if customer is None or product is None:
        raise NotFound("Unknown customer or product for this store.",
                       extra={"customer": customer_external_id, "product": product_external_id})
    try:
        with transaction.atomic():
            ActivityEvent.objects.create(store=store, event_id=event_id, kind=kind,
                                         customer=customer, product=product,
                                         occurred_at=occurred_at)
    except IntegrityError:
        return False
    return True
