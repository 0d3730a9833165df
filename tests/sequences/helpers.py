"""Shared by the sequence tests: catalogue, customers and orders through the domain services, a
deterministic content builder, and an engine that runs scans and due sends at exact times."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import count

import time_machine

from emails.models import OutboundEmail
from integrations import base
from tests.emails.helpers import snapshot
from tests.factories import CustomerDataFactory, OrderDataFactory, OrderLineDataFactory, ProductDataFactory
from xsell_plugin.activity.services import activity_event_record, checkout_upsert
from xsell_plugin.catalog.services import products_upsert
from xsell_plugin.customers.models import Customer
from xsell_plugin.customers.services import customers_upsert
from xsell_plugin.orders.services import order_upsert
from xsell_plugin.sequences.dispatch import dispatch_due
from xsell_plugin.sequences.models import ScheduledSend
from xsell_plugin.sequences.services import Content, send_step
from xsell_plugin.sequences.triggers import triggers_scan

_ids = count(1)
CONTENT = "tests.sequences.helpers.content"


def content(*, store, customer, enrollment, step, kind, variant, now, config=None):
    """Every kind gets a valid snapshot; the 'recommended' products are the trigger's."""
    products = tuple((enrollment.facts or {}).get("products") or ("p1",))[:2]
    return Content(kind=kind, context=snapshot(kind), product_ids=products)


def product(store, ext: str, *, product_type: str = "Laptop", price: str = "49.00",
            upsell_ids: tuple[str, ...] = ()) -> str:
    products_upsert(store=store, products=[ProductDataFactory(
        external_id=ext, product_type=product_type, upsell_ids=upsell_ids,
        variants=(base.VariantData(f"{ext}-v", "Default", Decimal(price), inventory_quantity=10),))])
    return ext


def customer(store, ext: str | None = None, *, consent=base.ConsentState.SUBSCRIBED,
             timezone: str = "", email: str | None = None) -> Customer:
    ext = ext or f"cust-{next(_ids)}"
    customers_upsert(store=store, customers=[CustomerDataFactory(
        external_id=ext, email=email or f"{ext}@example.com", timezone=timezone,
        consent=base.ConsentData(consent, "test"))])
    return Customer.objects.for_store(store).get(external_id=ext)


def order(store, who: Customer, at: datetime, products: tuple[str, ...] = ("p1",),
          ext: str | None = None) -> str:
    """An order placed at ``at``, arriving now (the travelled clock)."""
    ext = ext or f"order-{next(_ids)}"
    order_upsert(store=store, order=OrderDataFactory(
        external_id=ext, placed_at=at, updated_at=at, customer_external_id=who.external_id,
        email=who.email, lines=tuple(OrderLineDataFactory(product_external_id=p, title=p) for p in products)))
    return ext


def checkout(store, who: Customer, at: datetime, *, kind: str = "checkout", ext: str | None = None,
             completed: bool = False, products: tuple[str, ...] = ("p1",)) -> str:
    ext = ext or f"co-{next(_ids)}"
    checkout_upsert(store=store, checkout=base.CheckoutData(
        external_id=ext, updated_at=at, currency="USD", kind=kind,
        lines=tuple(base.CheckoutLineData(p, 1, Decimal("49.00"), p) for p in products),
        customer_external_id=who.external_id, email=who.email,
        completed_at=at if completed else None))
    return ext


def activity(store, who: Customer, at: datetime, kind: str, product_ext: str = "p1") -> None:
    activity_event_record(store=store, event_id=f"ev-{next(_ids)}", kind=kind,
                          customer_external_id=who.external_id, product_external_id=product_ext,
                          occurred_at=at)


@dataclass
class Engine:
    """Runs the pipeline at exact instants: ``scan(at)``, and ``run_until(end)`` which jumps
    from one due send to the next, dispatching and sending each (outbox) at its due time."""

    store: object
    log: list[tuple[datetime, int]] = field(default_factory=list)

    def at(self, moment: datetime):
        return time_machine.travel(moment, tick=False)

    def scan(self, moment: datetime):
        with self.at(moment):
            return triggers_scan(store=self.store, now=moment)

    def dispatch(self, moment: datetime) -> list:
        claimed: list[int] = []
        with self.at(moment):
            dispatch_due(now=moment, enqueue=lambda ids: claimed.extend(ids) or len(ids))
            return [send_step(pk, now=moment, deliver=True) for pk in claimed]

    def run_until(self, end: datetime, *, scan_every: timedelta | None = None) -> None:
        while True:
            due = (ScheduledSend.objects.for_store(self.store).filter(
                status=ScheduledSend.Status.SCHEDULED, due_at__lte=end).order_by("due_at")
                .values_list("due_at", flat=True).first())
            if due is None:
                return
            self.dispatch(due)


def sent(store, who: Customer | None = None) -> list[tuple[str, datetime]]:
    rows = OutboundEmail.objects.for_store(store).filter(status=OutboundEmail.Status.SENT)
    if who is not None:
        rows = rows.filter(customer=who)
    return list(rows.order_by("sent_at", "pk").values_list("kind", "sent_at"))


def sends(store, who: Customer | None = None):
    rows = ScheduledSend.objects.for_store(store).select_related("step", "enrollment__sequence")
    if who is not None:
        rows = rows.filter(enrollment__customer=who)
    return [(s.enrollment.sequence.key, s.step.position, s.status, s.reason, s.due_at)
            for s in rows.order_by("pk")]
