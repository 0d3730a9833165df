"""Reads for sequences: the store's policy, customer facts for segments, send history for the
guardrails. Each returns plain values the pure modules take."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Count, Q

from emails.models import OutboundEmail
from xsell_plugin.customers.models import Suppression
from xsell_plugin.customers.segments import CustomerFacts, OrderFact, facts
from xsell_plugin.orders.models import Order, OrderLine
from xsell_plugin.sequences.guardrails import Policy, SentEmail
from xsell_plugin.sequences.models import Enrollment, ScheduledSend, Sequence, SequenceSettings
from xsell_plugin.stores.models import Store
from xsell_plugin.tracking.models import Click, Open

# Outbound statuses that count against the caps: sent, on its way, or possibly delivered.
COUNTED = (OutboundEmail.Status.SENT, OutboundEmail.Status.SENDING, OutboundEmail.Status.SCHEDULED,
           OutboundEmail.Status.UNKNOWN)


def sequence_settings_get(*, store: Store) -> SequenceSettings:
    """The store's sending policy row, or an unsaved one holding the defaults."""
    return SequenceSettings.objects.for_store(store).first() or SequenceSettings(store=store)


def policy_for(store: Store) -> Policy:
    row = SequenceSettings.objects.for_store(store).first()
    if row is None:
        return Policy()
    return Policy(
        max_per_window=row.max_per_window, window=timedelta(days=row.window_days),
        min_spacing=timedelta(hours=row.min_spacing_hours),
        offer_gap=timedelta(hours=row.offer_gap_hours),
        frequent_buyer_orders=row.frequent_buyer_orders,
        frequent_buyer_period=timedelta(days=row.frequent_buyer_days),
        frequent_buyer_max_per_window=row.frequent_buyer_max_per_window,
        daily_cap=row.daily_cap, quiet_start_hour=row.quiet_start_hour,
        quiet_end_hour=row.quiet_end_hour, freshness=timedelta(hours=row.freshness_hours),
        soft_opt_in=row.soft_opt_in,
    )


def send_history(*, store: Store, customer_id: int, since: datetime) -> list[SentEmail]:
    """The customer's marketing emails (any sequence) from ``since`` on, for the guardrails."""
    rows = (OutboundEmail.objects.for_store(store)
            .filter(customer_id=customer_id, status__in=COUNTED)
            .filter(Q(sent_at__gte=since) | Q(sent_at__isnull=True, scheduled_for__gte=since))
            .values_list("sent_at", "scheduled_for", "kind"))
    return [SentEmail(at=sent_at or scheduled_for, kind=kind) for sent_at, scheduled_for, kind in rows]


def orders_since(*, store: Store, customer_id: int, since: datetime, now: datetime) -> int:
    return Order.objects.for_store(store).filter(
        customer_id=customer_id, placed_at__gt=since, placed_at__lte=now,
        cancelled_at__isnull=True).count()


def is_suppressed(*, store: Store, email: str) -> bool:
    return bool(email) and Suppression.objects.for_store(store).filter(email=email).exists()


def customer_facts(*, store: Store, customer_ids: Iterable[int], now: datetime,
                   lookback: timedelta = timedelta(days=730)) -> dict[int, CustomerFacts]:
    """Orders (with their product types), clicks, opens and sends of these customers."""
    ids = list(set(customer_ids))
    if not ids:
        return {}
    since = now - lookback
    orders = list(Order.objects.for_store(store).filter(
        customer_id__in=ids, placed_at__gt=since, placed_at__lte=now, cancelled_at__isnull=True)
        .values_list("pk", "customer_id", "placed_at", "total"))
    types: dict[int, list[str]] = defaultdict(list)
    order_ids = [o[0] for o in orders]
    for start in range(0, len(order_ids), 5000):
        for order_id, product_type in (OrderLine.objects.for_store(store)
                                       .filter(order_id__in=order_ids[start:start + 5000])
                                       .values_list("order_id", "product__product_type")):
            types[order_id].append(product_type or "")
    by_customer: dict[int, dict[str, list]] = {i: defaultdict(list) for i in ids}
    for pk, customer_id, placed_at, total in orders:
        by_customer[customer_id]["orders"].append(
            OrderFact(placed_at=placed_at, total=total, product_types=tuple(types.get(pk, ()))))
    for customer_id, at in (Click.objects.for_store(store)
                            .filter(customer_id__in=ids, clicked_at__gt=since, clicked_at__lte=now)
                            .values_list("customer_id", "clicked_at")):
        by_customer[customer_id]["clicks"].append(at)
    opens = (Open.objects.for_store(store).filter(opened_at__gt=since, opened_at__lte=now,
                                                  outbound__customer_id__in=ids)
             .values_list("outbound__customer_id", "opened_at"))
    for customer_id, at in opens:
        by_customer[customer_id]["opens"].append(at)
    for customer_id, at in (OutboundEmail.objects.for_store(store)
                            .filter(customer_id__in=ids, status=OutboundEmail.Status.SENT,
                                    sent_at__gt=since, sent_at__lte=now)
                            .values_list("customer_id", "sent_at")):
        by_customer[customer_id]["sends"].append(at)
    return {cid: facts(**parts) for cid, parts in by_customer.items()}


def clicked_since(*, store: Store, customer_id: int, since: datetime, now: datetime) -> bool:
    return Click.objects.for_store(store).filter(
        customer_id=customer_id, clicked_at__gte=since, clicked_at__lte=now).exists()


def scheduled_send_counts(*, store: Store) -> dict[str, int]:
    counts = {s: 0 for s in ScheduledSend.Status.values}
    for row in ScheduledSend.objects.for_store(store).values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts


def skip_reason_counts(*, store: Store) -> dict[str, int]:
    rows = (ScheduledSend.objects.for_store(store).filter(status=ScheduledSend.Status.SKIPPED)
            .values("reason").annotate(n=Count("pk")).order_by("-n", "reason"))
    return {row["reason"]: row["n"] for row in rows}


def active_enrollments(*, store: Store, customer_id: int):
    return Enrollment.objects.for_store(store).filter(customer_id=customer_id,
                                                      status=Enrollment.Status.ACTIVE)


def sequences_active(*, store: Store):
    return (Sequence.objects.for_store(store).filter(status=Sequence.Status.ACTIVE)
            .prefetch_related("steps").order_by("-priority", "pk"))
