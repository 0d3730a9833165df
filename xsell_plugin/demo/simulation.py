"""``manage.py xsell_simulate``: the demo store's real orders replayed through the whole pipeline
with a simulated clock.

A fresh simulation store (platform ``demo``, its own domain, recreated on every run) gets the
demo catalogue and customers, and the orders placed before the simulated period as a *backfill*
(written straight through the upsert services, like a platform backfill: it must enrol nobody).
Then the clock (``time-machine``) walks the period in ticks of ``tick_minutes``. At each tick:

1. orders placed in the tick arrive as webhooks of the ``DemoPlatform`` below
   (``integrations.webhooks.webhook_event_record`` then ``webhook_event_process``: the real
   ingestion path, tasks run inline), so do the synthetic events of earlier ticks (abandoned
   checkouts, orders after a click);
2. the trigger scan runs (``sequences.triggers.triggers_scan``), then the dispatcher claims the
   due sends and each ``send_step`` runs and sends through the store's mailer, which for a demo
   store is the local outbox (nothing leaves the machine);
3. some recipients click (``tracking.services.click_record`` with the message's own signed
   link) and some of those buy the clicked item later.

Randomness comes from ``random.Random`` seeded per decision with the seed and stable keys
(customer, sequence, step, day), never from database ids, so a seed gives the same report.
"""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.module_loading import import_string

from integrations.base import (
    CheckoutData,
    CheckoutLineData,
    ConsentState,
    DiscountCodeRequest,
    IssuedDiscount,
    OrderData,
    OrderLineData,
    Page,
)
from integrations.webhooks import webhook_event_process, webhook_event_record
from xsell_plugin.activity.services import activity_event_record, checkout_upsert
from xsell_plugin.catalog.services import products_upsert
from xsell_plugin.customers.services import customers_upsert
from xsell_plugin.demo import mappers
from xsell_plugin.demo.dataset import sample_dataset
from xsell_plugin.demo.services import DEMO_NAME
from xsell_plugin.orders.services import orders_upsert
from xsell_plugin.stores.models import Store

SIM_DOMAIN = "complete-journey-simulation.demo"
ATTRIBUTION_WINDOW = timedelta(days=7)


# The demo platform ---------------------------------------------------------------------------------

def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def order_payload(order: OrderData) -> dict[str, Any]:
    """The demo platform's webhook body for an order (its own small wire format)."""
    return {
        "id": order.external_id, "name": order.name, "placed_at": order.placed_at.isoformat(),
        "updated_at": order.updated_at.isoformat(), "currency": order.currency,
        "subtotal": str(order.subtotal), "discount_total": str(order.discount_total),
        "total": str(order.total), "customer_id": order.customer_external_id, "email": order.email,
        "financial_status": order.financial_status, "fulfillment_status": order.fulfillment_status,
        "source": order.source,
        "lines": [{"id": ln.external_id, "title": ln.title, "quantity": ln.quantity,
                   "unit_price": str(ln.unit_price), "total_discount": str(ln.total_discount),
                   "product_id": ln.product_external_id, "variant_id": ln.variant_external_id,
                   "sku": ln.sku} for ln in order.lines],
    }


def order_from_payload(body: dict[str, Any]) -> OrderData:
    return OrderData(
        external_id=str(body["id"]), name=body.get("name", ""), placed_at=_dt(body["placed_at"]),
        updated_at=_dt(body["updated_at"]), currency=body["currency"], subtotal=_dec(body["subtotal"]),
        discount_total=_dec(body["discount_total"]), total=_dec(body["total"]),
        customer_external_id=str(body.get("customer_id") or ""), email=body.get("email", ""),
        financial_status=body.get("financial_status", ""),
        fulfillment_status=body.get("fulfillment_status", ""), source=body.get("source", ""),
        lines=tuple(OrderLineData(
            external_id=str(ln["id"]), title=ln["title"], quantity=int(ln["quantity"]),
            unit_price=_dec(ln["unit_price"]), total_discount=_dec(ln.get("total_discount", "0")),
            product_external_id=str(ln.get("product_id") or ""),
            variant_external_id=str(ln.get("variant_id") or ""), sku=ln.get("sku", ""))
            for ln in body["lines"]),
    )


def checkout_payload(checkout: CheckoutData) -> dict[str, Any]:
    return {"id": checkout.external_id, "updated_at": checkout.updated_at.isoformat(),
            "currency": checkout.currency, "kind": checkout.kind,
            "customer_id": checkout.customer_external_id, "email": checkout.email,
            "subtotal": str(checkout.subtotal),
            "lines": [{"title": ln.title, "quantity": ln.quantity, "unit_price": str(ln.unit_price),
                       "product_id": ln.product_external_id, "variant_id": ln.variant_external_id}
                      for ln in checkout.lines]}


def checkout_from_payload(body: dict[str, Any]) -> CheckoutData:
    return CheckoutData(
        external_id=str(body["id"]), updated_at=_dt(body["updated_at"]), currency=body["currency"],
        kind=body.get("kind", "checkout"), customer_external_id=str(body.get("customer_id") or ""),
        email=body.get("email", ""), subtotal=_dec(body.get("subtotal", "0")),
        lines=tuple(CheckoutLineData(ln["title"], int(ln["quantity"]), _dec(ln["unit_price"]),
                                     str(ln.get("product_id") or ""), str(ln.get("variant_id") or ""))
                    for ln in body["lines"]))


class DemoPlatform:
    """The ``demo`` platform (``settings.XSELL_PLATFORMS["demo"]``): no remote store behind it.
    Its webhooks are the simulation's events; pulls find nothing; discount codes are local."""

    name = "demo"

    def __init__(self, store: Store) -> None:
        self.store = store

    def verify_credentials(self) -> None:
        return None

    def register_webhooks(self) -> None:
        return None

    def iter_products(self, *, cursor=None, updated_since=None) -> Iterator[Page]:
        return iter(())

    def iter_customers(self, *, cursor=None, updated_since=None) -> Iterator[Page]:
        return iter(())

    def iter_orders(self, *, cursor=None, updated_since=None) -> Iterator[Page]:
        return iter(())

    def create_discount_code(self, request: DiscountCodeRequest) -> IssuedDiscount:
        return IssuedDiscount(code=request.code, external_id=f"demo-{request.code}",
                              ends_at=request.ends_at)

    def cart_url(self, lines: Sequence[tuple[str, int]], *, discount_code: str = "") -> str:
        items = ",".join(f"{variant}:{qty}" for variant, qty in lines)
        suffix = f"?discount={discount_code}" if discount_code else ""
        return f"https://{self.store.domain}/cart/{items}{suffix}"

    def update_marketing_consent(self, *, customer_external_id: str, email: str,
                                 state: ConsentState) -> None:
        return None

    def handle_webhook(self, topic: str, payload: dict, *, triggered_at: datetime | None = None) -> bool:
        if topic == "orders/create":
            orders_upsert(store=self.store, orders=[order_from_payload(payload)])
            return True
        if topic == "checkouts/update":
            checkout_upsert(store=self.store, checkout=checkout_from_payload(payload))
            return True
        if topic == "activity/event":
            activity_event_record(store=self.store, event_id=str(payload["id"]), kind=payload["kind"],
                                  customer_external_id=str(payload["customer_id"]),
                                  product_external_id=str(payload["product_id"]),
                                  occurred_at=_dt(payload["occurred_at"]))
            return True
        return False


# The simulation ------------------------------------------------------------------------------------

@dataclass
class SimulationReport:
    seed: int
    days: int
    start: datetime
    end: datetime
    households: int
    history_orders: int = 0
    replayed_orders: int = 0
    synthetic_orders: int = 0
    abandoned_checkouts: int = 0
    browse_events: int = 0
    wishlist_adds: int = 0
    codes_issued: int = 0
    enrolled: dict[str, int] = field(default_factory=dict)  # holdouts included
    held_out: int = 0  # enrolled in a sequence's holdout: logged, never emailed
    enrolled_during_backfill: int = 0
    sent: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    cancelled: dict[str, int] = field(default_factory=dict)
    exits: dict[str, int] = field(default_factory=dict)
    deferrals: int = 0
    still_scheduled: int = 0
    emails: dict[str, int] = field(default_factory=dict)
    clicks: int = 0
    clicking_customers: int = 0
    attributed_orders: int = 0
    attributed_revenue: Decimal = Decimal("0")
    max_emails_per_customer_7d: int = 0
    outbox_messages: int = 0

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data.update(start=self.start.isoformat(), end=self.end.isoformat(),
                    attributed_revenue=str(self.attributed_revenue))
        return data


@dataclass(order=True)
class _Event:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    data: dict = field(compare=False, default_factory=dict)


@contextmanager
def _inline_tasks() -> Iterator[None]:
    """Run enqueued tasks in this process at once (the simulation's broker)."""

    def run_now(func, *args, queue=None, **kwargs):
        path = func if isinstance(func, str) else f"{func.__module__}.{func.__qualname__}"
        import_string(path)(*args, **kwargs)
        return "inline"

    with mock.patch("xsell_plugin.core.tasks.enqueue_now", run_now):
        yield


def _chance(seed: int, *parts: Any) -> random.Random:
    return random.Random(":".join(str(p) for p in (seed, *parts)))  # noqa: S311 (simulation)


def simulation_store_reset() -> Store:
    """The simulation's own store, empty (a previous run's rows are deleted)."""
    Store.objects.filter(platform=Store.Platform.DEMO, domain=SIM_DOMAIN).delete()
    return Store.objects.create(platform=Store.Platform.DEMO, domain=SIM_DOMAIN,
                                name=f"{DEMO_NAME} simulation", currency=mappers.CURRENCY,
                                timezone=mappers.STORE_TIMEZONE, status=Store.Status.ACTIVE,
                                email_from=f"hello@{SIM_DOMAIN}")


ProgressFactory = Callable[[str, int], Any]


def simulate(*, days: int = 30, seed: int = 7, households: int | None = None, tick_minutes: int = 15,
             click_rate: float = 0.12, buy_after_click_rate: float = 0.25,
             abandon_rate: float = 0.05, browse_rate: float = 0.04, wishlist_rate: float = 0.02,
             progress: ProgressFactory | None = None) -> SimulationReport:
    """Run the simulation (see the module docstring) and return its report."""
    import time_machine  # a dev/test dependency: the simulated clock

    from xsell_plugin.recommendations.services import recs_model_refresh
    from xsell_plugin.sequences.dispatch import dispatch_due
    from xsell_plugin.sequences.services import default_sequences_install, send_step
    from xsell_plugin.sequences.triggers import triggers_scan

    dataset = sample_dataset(limit_households=households)
    orders = sorted(_orders(dataset), key=lambda o: (o.placed_at, o.external_id))
    last = orders[-1].placed_at
    tz = mappers.STORE_TZ
    end = datetime.combine((last + timedelta(days=1)).astimezone(tz).date(), datetime.min.time(), tzinfo=tz)
    start = end - timedelta(days=days)
    history = [o for o in orders if o.placed_at < start]
    replay = [o for o in orders if start <= o.placed_at < end]
    report = SimulationReport(seed=seed, days=days, start=start, end=end, households=len(dataset.households),
                              history_orders=len(history), replayed_orders=len(replay))

    with time_machine.travel(start - timedelta(hours=1), tick=False), _inline_tasks():
        store = simulation_store_reset()
        products_upsert(store=store, products=[mappers.product_data(dataset.products[pid])
                                               for pid in sorted(dataset.products, key=int)])
        customers_upsert(store=store, customers=[mappers.customer_data(hid, dataset.households[hid])
                                                 for hid in sorted(dataset.households, key=int)])
        for batch_start in range(0, len(history), 1000):
            orders_upsert(store=store, orders=history[batch_start:batch_start + 1000])
        default_sequences_install(store=store)
        _demo_offers(store)
        recs_model_refresh(store=store, now=start - timedelta(hours=1))
        triggers_scan(store=store, now=start - timedelta(hours=1))
        report.enrolled_during_backfill = _enrolments(store)

    events: list[_Event] = []
    counter = iter(range(10**9))
    catalogue = sorted(dataset.products, key=int)
    for o in replay:
        heapq.heappush(events, _Event(o.placed_at, next(counter), "order", {"order": o}))
        rng = _chance(seed, "abandon", o.external_id)
        if rng.random() < abandon_rate:
            heapq.heappush(events, _Event(o.placed_at - timedelta(hours=rng.randint(3, 30)),
                                          next(counter), "checkout", {"order": o}))
        # Browsing and wishlists (the data has none): a few customers look at a product three
        # times over a day or two before an order, or add one to their wishlist, and do not buy it.
        rng = _chance(seed, "browse", o.external_id)
        if rng.random() < browse_rate:
            product = rng.choice(catalogue)
            for n in range(3):
                at = o.placed_at - timedelta(hours=rng.randint(2, 40)) + timedelta(minutes=n)
                heapq.heappush(events, _Event(at, next(counter), "activity", {
                    "order": o, "kind": "browse", "product": product, "n": n}))
        if rng.random() < wishlist_rate:
            at = o.placed_at - timedelta(hours=rng.randint(2, 40))
            heapq.heappush(events, _Event(at, next(counter), "activity", {
                "order": o, "kind": "wishlist_add", "product": rng.choice(catalogue), "n": 0}))
    titles = {pid: mappers.product_title(dataset.products[pid]) for pid in dataset.products}

    ticks = int(timedelta(days=days) / timedelta(minutes=tick_minutes))
    bar = progress("simulating", ticks) if progress else None
    delivery = 0
    clickers: set[int] = set()
    with _inline_tasks():
        for n in range(1, ticks + 1):
            now = start + timedelta(minutes=tick_minutes * n)
            with time_machine.travel(now, tick=False):
                while events and events[0].at <= now:
                    event = heapq.heappop(events)
                    delivery += 1
                    _deliver(store, event, delivery=delivery, report=report, seed=seed)
                triggers_scan(store=store, now=now)
                claimed: list[int] = []
                dispatch_due(now=now, store_id=store.pk,
                             enqueue=lambda ids, into=claimed: into.extend(ids) or len(ids))
                for pk in claimed:
                    outcome = send_step(pk, now=now, deliver=True)
                    if outcome.email_status == "sent":
                        _maybe_click(store, outcome.outbound_id, now=now, seed=seed, events=events,
                                     counter=counter, click_rate=click_rate,
                                     buy_rate=buy_after_click_rate, titles=titles, clickers=clickers)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    _summarise(store, report, clickers=clickers)
    return report


def _orders(dataset) -> Iterator[OrderData]:
    basket: list = []
    titles = {pid: mappers.product_title(row) for pid, row in dataset.products.items()}
    for line in dataset.iter_lines():
        if basket and line.basket_id != basket[0].basket_id:
            yield mappers.order_data(basket, titles)
            basket = []
        basket.append(line)
    if basket:
        yield mappers.order_data(basket, titles)


def _webhook(store: Store, topic: str, body: dict, key: str) -> None:
    event, created = webhook_event_record(store=store, platform="demo", dedupe_key=key, topic=topic,
                                          body=json.dumps(body).encode(), triggered_at=timezone.now())
    if created and event is not None:
        # Inline tasks already processed it on commit; this is a no-op then (claimed once).
        webhook_event_process(event_id=event.pk)


def _demo_offers(store: Store) -> None:
    """What a merchant would set up: a modest thank-you code that escalation may offer from the
    second email of a sequence on (the offers rules keep the margin floor)."""
    from xsell_plugin.offers.models import Incentive

    Incentive.objects.get_or_create(store=store, name="5% thank-you", defaults={
        "kind": "percent_off", "percent_off": Decimal("5.00"), "level": 1, "segments": ["any"],
        "code_valid_hours": 72, "code_prefix": "SIM"})


def _deliver(store: Store, event: _Event, *, delivery: int, report: SimulationReport, seed: int) -> None:
    order: OrderData = event.data["order"]
    if event.kind == "activity":
        kind = event.data["kind"]
        if kind == "browse":
            report.browse_events += 1
        else:
            report.wishlist_adds += 1
        key = f"sim-{kind}-{order.external_id}-{event.data['n']}"
        _webhook(store, "activity/event", {
            "id": key, "kind": kind, "customer_id": order.customer_external_id,
            "product_id": event.data["product"], "occurred_at": event.at.isoformat()}, key)
        return
    if event.kind == "order":
        if event.data.get("synthetic"):
            report.synthetic_orders += 1
        _webhook(store, "orders/create", order_payload(order), f"sim-order-{order.external_id}")
        return
    if event.kind == "checkout":
        report.abandoned_checkouts += 1
        checkout = CheckoutData(
            external_id=f"sim-checkout-{order.external_id}", updated_at=event.at, currency=order.currency,
            kind="checkout", customer_external_id=order.customer_external_id, email=order.email,
            subtotal=order.subtotal, recovery_url=f"https://{store.domain}/checkouts/{order.external_id}",
            lines=tuple(CheckoutLineData(ln.title, ln.quantity, ln.unit_price, ln.product_external_id,
                                         ln.variant_external_id) for ln in order.lines))
        _webhook(store, "checkouts/update", checkout_payload(checkout), f"sim-checkout-{order.external_id}")


def _maybe_click(store: Store, outbound_id: int, *, now: datetime, seed: int, events: list, counter,
                 click_rate: float, buy_rate: float, titles: dict, clickers: set) -> None:
    from emails.models import OutboundEmail
    from xsell_plugin.tracking import links
    from xsell_plugin.tracking.models import TrackedLink
    from xsell_plugin.tracking.services import click_record

    outbound = OutboundEmail.objects.select_related("customer").get(pk=outbound_id)
    key = (outbound.customer.external_id, outbound.context.get("sequence"), outbound.context.get("step"),
           now.date().isoformat())
    rng = _chance(seed, "click", *key)
    if rng.random() >= click_rate:
        return
    tracked = list(TrackedLink.objects.for_store(store).filter(outbound_id=outbound_id).order_by("position"))
    product_links = [t for t in tracked if t.label.startswith(("product:", "upgrade:", "bundle-item:"))]
    link = rng.choice(product_links) if product_links else (tracked[0] if tracked else None)
    if link is None:
        return
    url = links.click_url(store_id=store.pk, outbound_id=outbound_id, position=link.position)
    token = url.rsplit("/", 1)[1]
    click_record(token=token, now=now)
    clickers.add(outbound.customer_id)
    product = link.label.partition(":")[2] if link in product_links else ""
    if product and rng.random() < buy_rate:
        at = now + timedelta(minutes=rng.randint(30, 48 * 60))
        from xsell_plugin.catalog.models import Variant

        variant = (Variant.objects.for_store(store).filter(product__external_id=product)
                   .order_by("position").first())
        price = variant.price if variant is not None else Decimal("1.00")
        synthetic = OrderData(
            external_id=f"sim-{outbound.customer.external_id}-{at:%Y%m%d%H%M}", name="#sim", placed_at=at,
            updated_at=at, currency=store.currency, total=price, subtotal=price,
            lines=(OrderLineData(external_id=product, title=titles.get(product, product), quantity=1,
                                 unit_price=price, product_external_id=product,
                                 variant_external_id=mappers.variant_external_id(product)),),
            customer_external_id=outbound.customer.external_id, email=outbound.customer.email,
            financial_status="paid", source="web")
        heapq.heappush(events, _Event(at, next(counter), "order", {"order": synthetic, "synthetic": True}))


def _enrolments(store: Store) -> int:
    from xsell_plugin.sequences.models import Enrollment

    return Enrollment.objects.for_store(store).count()


def _summarise(store: Store, report: SimulationReport, *, clickers: set) -> None:
    from emails.models import OutboundEmail, OutboxMessage
    from xsell_plugin.orders.models import Order
    from xsell_plugin.sequences.models import Enrollment, ScheduledSend
    from xsell_plugin.tracking.models import Click

    enrollments = Enrollment.objects.for_store(store)
    report.enrolled = {row["sequence__key"]: row["n"] for row in enrollments.values("sequence__key")
                       .annotate(n=Count("pk")).order_by("-n", "sequence__key")}
    report.held_out = enrollments.filter(exit_reason="holdout").count()
    report.exits = {row["exit_reason"]: row["n"] for row in enrollments.filter(status="exited")
                    .values("exit_reason").annotate(n=Count("pk")).order_by("-n", "exit_reason")}
    sends = ScheduledSend.objects.for_store(store)

    def by_reason(status: str) -> dict[str, int]:
        return {row["reason"]: row["n"] for row in sends.filter(status=status).values("reason")
                .annotate(n=Count("pk")).order_by("-n", "reason")}

    report.skipped = by_reason(ScheduledSend.Status.SKIPPED)
    report.cancelled = by_reason(ScheduledSend.Status.CANCELLED)
    report.deferrals = sends.aggregate(n=Sum("deferrals"))["n"] or 0
    report.still_scheduled = sends.filter(status__in=["scheduled", "queued"]).count()
    outbound = OutboundEmail.objects.for_store(store)
    report.sent = {row["kind"]: row["n"] for row in outbound.filter(status="sent").values("kind")
                   .annotate(n=Count("pk")).order_by("-n", "kind")}
    report.emails = {row["status"]: row["n"] for row in outbound.values("status").annotate(n=Count("pk"))
                     .order_by("status")}
    report.outbox_messages = OutboxMessage.objects.for_store(store).count()
    from xsell_plugin.offers.models import IssuedCode

    report.codes_issued = IssuedCode.objects.for_store(store).filter(status="issued").count()
    clicks = list(Click.objects.for_store(store).values_list("customer_id", "clicked_at"))
    report.clicks = len(clicks)
    report.clicking_customers = len(clickers)
    first_click: dict[int, list[datetime]] = {}
    for customer_id, at in clicks:
        first_click.setdefault(customer_id, []).append(at)
    attributed = 0
    revenue = Decimal("0")
    for customer_id, placed_at, total in Order.objects.for_store(store).filter(
            customer_id__in=list(first_click), placed_at__gte=report.start).values_list(
            "customer_id", "placed_at", "total"):
        if any(at <= placed_at <= at + ATTRIBUTION_WINDOW for at in first_click[customer_id]):
            attributed += 1
            revenue += total
    report.attributed_orders = attributed
    report.attributed_revenue = revenue
    per_customer: dict[int, list[datetime]] = {}
    for customer_id, at in outbound.filter(status="sent").values_list("customer_id", "sent_at"):
        per_customer.setdefault(customer_id, []).append(at)
    worst = 0
    for times in per_customer.values():
        times.sort()
        for i, t in enumerate(times):
            worst = max(worst, sum(1 for u in times[i:] if u < t + timedelta(days=7)))
    report.max_emails_per_customer_7d = worst

