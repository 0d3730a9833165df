"""Triggers: a per-minute scan over what changed since the store's checkpoint.

Nothing hooks the ingestion paths (webhooks, backfills, reconciliation all write through the
same upsert services, and none of them knows about sequences). Each minute ``triggers_scan``
looks, per store, at rows that *arrived* since its ``TriggerCursor`` (orders and activity by
their insert time, checkouts by their last change, clicks, suppressions) and at moments that
*fell due* since it (win-back, anniversary, replenishment: an old order plus a delay), and turns
them into enrolments.

- Only recent events trigger: an order counts when it was *placed* within the store's freshness
  window (48 h) of now, so a backfill of last year's orders, which arrives now, enrols nobody.
- Arrival-based sources are rescanned with an overlap (10 min) so a row committed late (its
  transaction started before the previous scan) is not missed; enrolment is idempotent on
  (store, sequence, customer, trigger key), so seeing a row twice enrols once.
- After downtime a scan looks back at most ``XSELL_SEQUENCE_MAX_CATCH_UP_HOURS``; the first scan
  of a store starts now (installing does not replay history).
- Time-based triggers are day-scale and cost more (they read every customer's last order): they
  run every ``XSELL_SEQUENCE_TIMED_SCAN_MINUTES`` (60) over what fell due since their own mark.

Before enrolling, the same scan applies exits (an order ends the enrolments it should, a
completed checkout ends its abandonment enrolment, a new suppression ends everything for that
address) and pauses (a click holds the customer's other enrolments for a while).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Max, Q
from django.utils import timezone

from xsell_plugin.activity.models import ActivityEvent, Checkout
from xsell_plugin.catalog.models import ProductCollection
from xsell_plugin.customers.models import Customer, Suppression
from xsell_plugin.customers.segments import inter_purchase_gap, segment_matches
from xsell_plugin.orders.models import Order, OrderLine
from xsell_plugin.sequences.consent import contact_block_reason
from xsell_plugin.sequences.guardrails import Policy, Reason
from xsell_plugin.sequences.models import Enrollment, Sequence, TriggerCursor
from xsell_plugin.sequences.selectors import customer_facts, policy_for, sequences_active
from xsell_plugin.sequences.services import (
    HOLDOUT_REASON,
    enrollment_create,
    enrollments_exit,
    enrollments_pause,
)
from xsell_plugin.stores.models import Store
from xsell_plugin.tracking.models import Click

logger = logging.getLogger(__name__)
T = Sequence.Trigger

OVERLAP = timedelta(minutes=10)
CURSOR_LEASE = timedelta(minutes=5)
PURCHASE_TRIGGERS = (T.FIRST_PURCHASE, T.REPEAT_PURCHASE, T.PRODUCT_PURCHASE)


@dataclass(frozen=True)
class Candidate:
    """One event that may enrol one customer in the sequences of its trigger."""

    trigger: str
    customer_id: int
    key: str
    triggered_at: datetime
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScanResult:
    scanned: bool = True
    since: datetime | None = None
    until: datetime | None = None
    candidates: int = 0
    enrolled: Counter = field(default_factory=Counter)  # by sequence key (holdouts included)
    held_out: Counter = field(default_factory=Counter)  # by sequence key: enrolled, not emailed
    not_enrolled: Counter = field(default_factory=Counter)  # by reason
    exited: int = 0
    paused: int = 0


# The checkpoint ------------------------------------------------------------------------------------

def _cursor_claim(store: Store, now: datetime) -> TriggerCursor | None:
    """The store's cursor with a lease; None when another scan holds it or it was just created
    (a store's first scan only sets the checkpoint: installing replays no history)."""
    cursor, created = TriggerCursor.objects.get_or_create(
        store=store, defaults={"scanned_until": now, "created_at": now, "updated_at": now})
    if created:
        return None
    claimed = TriggerCursor.objects.filter(pk=cursor.pk).filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)).update(
        lease_expires_at=now + CURSOR_LEASE, updated_at=now)
    if claimed != 1:
        return None
    cursor.refresh_from_db()
    return cursor


def _cursor_release(cursor: TriggerCursor, until: datetime | None, now: datetime,
                    timed_until: datetime | None = None) -> None:
    changes: dict[str, Any] = {"lease_expires_at": None, "updated_at": now}
    if until is not None:
        changes["scanned_until"] = until
    if timed_until is not None:
        changes["timed_until"] = timed_until
    TriggerCursor.objects.filter(pk=cursor.pk).update(**changes)


def triggers_scan(*, store: Store, now: datetime | None = None) -> ScanResult:
    """One scan of one store (skipped when another worker holds its cursor)."""
    now = now or timezone.now()
    cursor = _cursor_claim(store, now)
    if cursor is None:
        return ScanResult(scanned=False)
    try:
        catch_up = timedelta(hours=int(settings.XSELL_SEQUENCE_MAX_CATCH_UP_HOURS))
        since = min(max(cursor.scanned_until, now - catch_up), now)
        timed_since = min(max(cursor.timed_until or cursor.scanned_until, now - catch_up), now)
        every = timedelta(minutes=int(settings.XSELL_SEQUENCE_TIMED_SCAN_MINUTES))
        timed = now - timed_since >= every
        result = _scan(store, since=since, now=now, timed_since=timed_since if timed else None)
    except Exception:
        _cursor_release(cursor, None, now)
        raise
    _cursor_release(cursor, now, now, timed_until=now if timed else None)
    return result


def triggers_scan_all(*, now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    totals: Counter = Counter()
    for store in list(Store.objects.filter(status=Store.Status.ACTIVE)):
        try:
            result = triggers_scan(store=store, now=now)
        except Exception:
            logger.exception("store %s: trigger scan failed", store.pk)
            totals["failed"] += 1
            continue
        totals["stores"] += int(result.scanned)
        totals["enrolled"] += sum(result.enrolled.values())
        totals["exited"] += result.exited
    return dict(totals)


# The scan -------------------------------------------------------------------------------------------

def _scan(store: Store, *, since: datetime, now: datetime,
          timed_since: datetime | None = None) -> ScanResult:
    result = ScanResult(since=since, until=now)
    policy = policy_for(store)
    arrived_after = since - OVERLAP
    _apply_exits_and_pauses(store, arrived_after=arrived_after, now=now, result=result)

    sequences = list(sequences_active(store=store))
    by_trigger: dict[str, list[Sequence]] = defaultdict(list)
    for sequence in sequences:
        by_trigger[sequence.trigger].append(sequence)
    if not by_trigger:
        return result
    fresh_after = now - policy.freshness

    candidates: list[Candidate] = []
    if any(t in by_trigger for t in PURCHASE_TRIGGERS):
        candidates += _purchase_candidates(store, arrived_after=arrived_after, fresh_after=fresh_after,
                                           now=now)
    for trigger, kind in ((T.ABANDONED_CHECKOUT, Checkout.Kind.CHECKOUT),
                          (T.ABANDONED_CART, Checkout.Kind.CART)):
        for sequence in by_trigger.get(trigger, ()):
            candidates += _checkout_candidates(store, sequence, kind=kind, since=arrived_after,
                                               fresh_after=fresh_after, now=now)
    if T.WISHLIST_ADD in by_trigger:
        candidates += _wishlist_candidates(store, arrived_after=arrived_after, fresh_after=fresh_after,
                                           now=now)
    for sequence in by_trigger.get(T.REPEATED_BROWSE, ()):
        candidates += _browse_candidates(store, sequence, arrived_after=arrived_after,
                                         fresh_after=fresh_after, now=now)
    for sequence in by_trigger.get(T.CLICKED_NO_ORDER, ()):
        candidates += _click_candidates(store, sequence, since=arrived_after, fresh=policy.freshness,
                                        now=now)
    if timed_since is not None:
        for sequence in by_trigger.get(T.WIN_BACK, ()):
            candidates += _win_back_candidates(store, sequence, since=timed_since, now=now)
        for sequence in by_trigger.get(T.UPGRADE_ANNIVERSARY, ()):
            candidates += _anniversary_candidates(store, sequence, since=timed_since, now=now)
        for sequence in by_trigger.get(T.REPLENISHMENT_DUE, ()):
            candidates += _replenishment_candidates(store, sequence, since=timed_since, now=now)

    result.candidates = len(candidates)
    if candidates:
        _enrol(store, candidates, by_trigger, policy=policy, now=now, result=result)
    return result


def _enrol(store: Store, candidates: list[Candidate], by_trigger: Mapping[str, list[Sequence]], *,
           policy: Policy, now: datetime, result: ScanResult) -> None:
    customer_ids = {c.customer_id for c in candidates}
    customers = {c.pk: c for c in Customer.objects.for_store(store).filter(pk__in=customer_ids)}
    emails = {c.email for c in customers.values() if c.email}
    suppressed = set(Suppression.objects.for_store(store).filter(email__in=emails)
                     .values_list("email", flat=True))
    ordered = set(Order.objects.for_store(store).filter(customer_id__in=customer_ids)
                  .values_list("customer_id", flat=True).distinct())
    needs_facts = any(s.audience for seqs in by_trigger.values() for s in seqs)
    facts = customer_facts(store=store, customer_ids=customer_ids, now=now) if needs_facts else {}

    for candidate in sorted(candidates, key=lambda c: (c.triggered_at, c.customer_id, c.key)):
        customer = customers.get(candidate.customer_id)
        if customer is None:
            continue
        blocked = contact_block_reason(
            consent_state=customer.consent_state, has_email=bool(customer.email),
            suppressed=customer.email in suppressed, soft_opt_in=policy.soft_opt_in,
            has_ordered=customer.pk in ordered)
        for sequence in by_trigger.get(candidate.trigger, ()):
            if not _config_matches(sequence, candidate):
                continue
            if blocked:
                result.not_enrolled[blocked] += 1
                continue
            if sequence.audience and not segment_matches(sequence.audience, facts[customer.pk], now):
                result.not_enrolled["audience"] += 1
                continue
            outcome = enrollment_create(store=store, sequence=sequence, customer=customer,
                                        trigger_key=candidate.key, triggered_at=candidate.triggered_at,
                                        facts=candidate.facts, now=now, policy=policy)
            if outcome.enrollment is not None:
                result.enrolled[sequence.key] += 1
                if outcome.reason == HOLDOUT_REASON:
                    result.held_out[sequence.key] += 1
            elif outcome.reason != "duplicate":
                result.not_enrolled[outcome.reason] += 1


def _config_matches(sequence: Sequence, candidate: Candidate) -> bool:
    """Purchase-type triggers may name product types and/or collections (any one matches)."""
    config = sequence.trigger_config or {}
    types = {t.lower() for t in config.get("product_types", ())}
    collections = {c.lower() for c in config.get("collections", ())}
    if not types and not collections:
        return True
    have_types = {t.lower() for t in candidate.facts.get("product_types", ())}
    have_collections = {c.lower() for c in candidate.facts.get("collections", ())}
    return bool(types & have_types) or bool(collections & have_collections)


# Exits and pauses -------------------------------------------------------------------------------

def _apply_exits_and_pauses(store: Store, *, arrived_after: datetime, now: datetime,
                            result: ScanResult) -> None:
    active = Enrollment.objects.for_store(store).filter(status=Enrollment.Status.ACTIVE)
    # New orders end the enrolments whose rule says so (the trigger's own order excepted).
    orders = list(Order.objects.for_store(store).filter(
        created_at__gt=arrived_after, created_at__lte=now, customer__isnull=False,
        cancelled_at__isnull=True).values_list("pk", "external_id", "customer_id", "placed_at"))
    if orders:
        by_customer: dict[int, list[tuple]] = defaultdict(list)
        for order in orders:
            by_customer[order[2]].append(order)
        affected = list(active.filter(customer_id__in=list(by_customer))
                        .exclude(sequence__exit_on=Sequence.ExitOn.NEVER).select_related("sequence"))
        lines: dict[int, set[str]] = defaultdict(set)
        wanted = [o[0] for e in affected if e.sequence.exit_on == Sequence.ExitOn.RECOMMENDED_ITEM
                  for o in by_customer[e.customer_id]]
        for order_id, product in OrderLine.objects.for_store(store).filter(order_id__in=wanted).values_list(
                "order_id", "product_external_id") if wanted else ():
            lines[order_id].add(product)
        ending = []
        for enrollment in affected:
            trigger_order = (enrollment.facts or {}).get("order")
            recommended = set(enrollment.recommended or ())
            for pk, external_id, _, placed_at in by_customer[enrollment.customer_id]:
                if external_id == trigger_order or placed_at <= enrollment.triggered_at:
                    continue
                if (enrollment.sequence.exit_on == Sequence.ExitOn.ANY_ORDER
                        or recommended & lines[pk]):
                    ending.append(enrollment.pk)
                    break
        result.exited += enrollments_exit(enrollment_ids=ending, reason=Reason.PURCHASED, now=now)
    # Completed checkouts end their abandonment enrolments.
    completed = list(Checkout.objects.for_store(store).filter(
        status=Checkout.Status.COMPLETED, updated_at__gt=arrived_after).values_list("external_id", flat=True))
    if completed:
        ending = [e.pk for e in active.filter(sequence__trigger__in=[T.ABANDONED_CHECKOUT, T.ABANDONED_CART])
                  if (e.facts or {}).get("checkout") in set(completed)]
        result.exited += enrollments_exit(enrollment_ids=ending, reason=Reason.CHECKOUT_COMPLETED, now=now)
    # A new suppression (unsubscribe, complaint, hard bounce) ends everything for that address.
    emails = list(Suppression.objects.for_store(store).filter(created_at__gt=arrived_after)
                  .values_list("email", flat=True))
    if emails:
        ending = list(active.filter(customer__email__in=emails).values_list("pk", flat=True))
        result.exited += enrollments_exit(enrollment_ids=ending, reason=Reason.SUPPRESSED, now=now)
    # A click is a meaningful action: hold the customer's other enrolments, then resume.
    clicks = (Click.objects.for_store(store).filter(created_at__gt=arrived_after, customer__isnull=False)
              .values("customer_id").annotate(at=Max("clicked_at")))
    for row in clicks:
        result.paused += enrollments_pause(store=store, customer_id=row["customer_id"], at=row["at"],
                                           now=now)


# Candidates --------------------------------------------------------------------------------------

def _product_details(store: Store, product_ids: Iterable[int]) -> tuple[dict[int, str], dict[int, set[str]]]:
    """Product id -> product type, and -> collection handles/titles/external ids."""
    from xsell_plugin.catalog.models import Product

    ids = [p for p in set(product_ids) if p]
    types = dict(Product.objects.for_store(store).filter(pk__in=ids).values_list("pk", "product_type"))
    collections: dict[int, set[str]] = defaultdict(set)
    for product_id, handle, title, external_id in ProductCollection.objects.for_store(store).filter(
            product_id__in=ids).values_list("product_id", "collection__handle", "collection__title",
                                            "collection__external_id"):
        collections[product_id].update(x for x in (handle, title, external_id) if x)
    return types, collections


def _order_facts(store: Store, order_ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = list(OrderLine.objects.for_store(store).filter(order_id__in=order_ids)
                .values_list("order_id", "product_id", "product_external_id"))
    types, collections = _product_details(store, (r[1] for r in rows))
    out: dict[int, dict[str, Any]] = defaultdict(lambda: {"products": [], "product_types": [],
                                                          "collections": []})
    for order_id, product_id, external_id in rows:
        entry = out[order_id]
        if external_id and external_id not in entry["products"]:
            entry["products"].append(external_id)
        product_type = types.get(product_id)
        if product_type and product_type not in entry["product_types"]:
            entry["product_types"].append(product_type)
        for c in sorted(collections.get(product_id, ())):
            if c not in entry["collections"]:
                entry["collections"].append(c)
    return out


def _purchase_candidates(store: Store, *, arrived_after: datetime, fresh_after: datetime,
                         now: datetime) -> list[Candidate]:
    orders = list(Order.objects.for_store(store).filter(
        created_at__gt=arrived_after, created_at__lte=now, placed_at__gte=fresh_after,
        placed_at__lte=now, customer__isnull=False, cancelled_at__isnull=True)
        .values_list("pk", "external_id", "customer_id", "placed_at"))
    if not orders:
        return []
    earlier: dict[int, list[datetime]] = defaultdict(list)
    for customer_id, placed_at in Order.objects.for_store(store).filter(
            customer_id__in={o[2] for o in orders}, cancelled_at__isnull=True).values_list(
            "customer_id", "placed_at"):
        earlier[customer_id].append(placed_at)
    details = _order_facts(store, [o[0] for o in orders])
    out = []
    for pk, external_id, customer_id, placed_at in orders:
        facts = {"order": external_id, **details.get(pk, {"products": [], "product_types": [],
                                                           "collections": []})}
        first = not any(t < placed_at for t in earlier[customer_id])
        key = f"order:{external_id}"
        out.append(Candidate(T.FIRST_PURCHASE if first else T.REPEAT_PURCHASE, customer_id, key,
                             placed_at, facts))
        out.append(Candidate(T.PRODUCT_PURCHASE, customer_id, key, placed_at, facts))
    return out


def _customer_by_email(store: Store, emails: Iterable[str]) -> dict[str, int]:
    wanted = {e for e in emails if e}
    if not wanted:
        return {}
    return dict(Customer.objects.for_store(store).filter(email__in=wanted).order_by("-pk")
                .values_list("email", "pk"))


def _checkout_candidates(store: Store, sequence: Sequence, *, kind: str, since: datetime,
                         fresh_after: datetime, now: datetime) -> list[Candidate]:
    quiet = timedelta(minutes=int((sequence.trigger_config or {}).get("quiet_minutes", 60)))
    rows = list(Checkout.objects.for_store(store).filter(
        kind=kind, status=Checkout.Status.OPEN, source_updated_at__gt=since - quiet,
        source_updated_at__lte=now - quiet, source_updated_at__gte=fresh_after - quiet)
        .values_list("external_id", "customer_id", "email", "source_updated_at", "lines", "recovery_url"))
    by_email = _customer_by_email(store, (r[2] for r in rows if r[1] is None))
    trigger = T.ABANDONED_CHECKOUT if kind == Checkout.Kind.CHECKOUT else T.ABANDONED_CART
    out = []
    for external_id, customer_id, email, updated_at, lines, recovery_url in rows:
        customer_id = customer_id or by_email.get(email)
        if customer_id is None or not lines:
            continue
        products = list(dict.fromkeys(ln.get("product_external_id") for ln in lines
                                      if ln.get("product_external_id")))
        out.append(Candidate(trigger, customer_id, f"{kind}:{external_id}", updated_at,
                             {"checkout": external_id, "products": products,
                              "recovery_url": recovery_url}))
    return out


def _wishlist_candidates(store: Store, *, arrived_after: datetime, fresh_after: datetime,
                         now: datetime) -> list[Candidate]:
    rows = ActivityEvent.objects.for_store(store).filter(
        kind=ActivityEvent.Kind.WISHLIST_ADD, created_at__gt=arrived_after, created_at__lte=now,
        occurred_at__gte=fresh_after, occurred_at__lte=now).values_list(
        "customer_id", "product__external_id", "occurred_at")
    return [Candidate(T.WISHLIST_ADD, customer_id, f"wishlist:{product}", occurred_at,
                      {"products": [product]}) for customer_id, product, occurred_at in rows]


def _browse_candidates(store: Store, sequence: Sequence, *, arrived_after: datetime,
                       fresh_after: datetime, now: datetime) -> list[Candidate]:
    config = sequence.trigger_config or {}
    min_views = int(config.get("min_views", 3))
    period = timedelta(days=int(config.get("days", 7)))
    new = set(ActivityEvent.objects.for_store(store).filter(
        kind=ActivityEvent.Kind.BROWSE, created_at__gt=arrived_after, created_at__lte=now,
        occurred_at__gte=fresh_after).values_list("customer_id", "product_id"))
    if not new:
        return []
    views: dict[tuple[int, int], list[datetime]] = defaultdict(list)
    externals: dict[int, str] = {}
    for customer_id, product_id, external_id, occurred_at in ActivityEvent.objects.for_store(store).filter(
            kind=ActivityEvent.Kind.BROWSE, customer_id__in={c for c, _ in new},
            occurred_at__gt=now - period, occurred_at__lte=now).values_list(
            "customer_id", "product_id", "product__external_id", "occurred_at"):
        views[(customer_id, product_id)].append(occurred_at)
        externals[product_id] = external_id
    bought = set(OrderLine.objects.for_store(store).filter(
        order__customer_id__in={c for c, _ in new}, order__placed_at__gt=now - period,
        product_id__in={p for _, p in new}).values_list("order__customer_id", "product_id"))
    out = []
    for pair in sorted(new):
        seen = sorted(views.get(pair, ()))
        if len(seen) < min_views or pair in bought:
            continue
        nth = seen[min_views - 1]
        year, week, _ = nth.isocalendar()
        product = externals[pair[1]]
        out.append(Candidate(T.REPEATED_BROWSE, pair[0], f"browse:{product}:{year}-{week:02d}", nth,
                             {"products": [product], "views": len(seen)}))
    return out


def _click_candidates(store: Store, sequence: Sequence, *, since: datetime, fresh: timedelta,
                      now: datetime) -> list[Candidate]:
    wait = timedelta(hours=float((sequence.trigger_config or {}).get("wait_hours", 24)))
    clicks = list(Click.objects.for_store(store).filter(
        clicked_at__gt=since - wait, clicked_at__lte=now - wait, clicked_at__gte=now - wait - fresh,
        customer__isnull=False).exclude(outbound__sequence_id=sequence.pk)
        .values_list("customer_id", "outbound_id", "clicked_at", "link__label"))
    if not clicks:
        return []
    first_order_after: dict[int, list[datetime]] = defaultdict(list)
    for customer_id, placed_at in Order.objects.for_store(store).filter(
            customer_id__in={c[0] for c in clicks}, placed_at__gte=min(c[2] for c in clicks)).values_list(
            "customer_id", "placed_at"):
        first_order_after[customer_id].append(placed_at)
    out = []
    for customer_id, outbound_id, clicked_at, label in clicks:
        if any(t >= clicked_at for t in first_order_after[customer_id]):
            continue
        kind, _, ref = (label or "").partition(":")
        products = [ref] if kind in ("product", "upgrade", "bundle-item") and ref else []
        out.append(Candidate(T.CLICKED_NO_ORDER, customer_id, f"click:{outbound_id}", clicked_at + wait,
                             {"products": products, "clicked_outbound": outbound_id}))
    return out


def _last_orders(store: Store, *, placed_from: datetime, placed_to: datetime):
    """Orders placed in (from, to] that are their customer's latest order."""
    latest = (Order.objects.for_store(store).filter(customer__isnull=False, cancelled_at__isnull=True)
              .values("customer_id").annotate(last=Max("placed_at"))
              .filter(last__gt=placed_from, last__lte=placed_to))
    pairs = {(row["customer_id"], row["last"]) for row in latest}
    if not pairs:
        return []
    rows = Order.objects.for_store(store).filter(
        customer_id__in={c for c, _ in pairs}, placed_at__gt=placed_from, placed_at__lte=placed_to,
        cancelled_at__isnull=True).values_list("pk", "external_id", "customer_id", "placed_at")
    return [r for r in rows if (r[2], r[3]) in pairs]


def _win_back_candidates(store: Store, sequence: Sequence, *, since: datetime,
                         now: datetime) -> list[Candidate]:
    days = timedelta(days=int((sequence.trigger_config or {}).get("days", 60)))
    out = []
    for _, external_id, customer_id, placed_at in _last_orders(
            store, placed_from=since - days, placed_to=now - days):
        out.append(Candidate(T.WIN_BACK, customer_id, f"winback:{external_id}", placed_at + days,
                             {"last_order": external_id}))
    return out


def _anniversary_candidates(store: Store, sequence: Sequence, *, since: datetime,
                            now: datetime) -> list[Candidate]:
    """An order with a product that has an upgrade path (the merchant's upsells, or a product
    type named in the config) reaches its anniversary (``days`` after it was placed)."""
    config = sequence.trigger_config or {}
    days = timedelta(days=int(config.get("days", 365)))
    types = {t.lower() for t in config.get("product_types", ())}
    orders = list(Order.objects.for_store(store).filter(
        placed_at__gt=since - days, placed_at__lte=now - days, customer__isnull=False,
        cancelled_at__isnull=True).values_list("pk", "external_id", "customer_id", "placed_at"))
    if not orders:
        return []
    from xsell_plugin.catalog.models import Product

    lines = list(OrderLine.objects.for_store(store).filter(order_id__in=[o[0] for o in orders])
                 .values_list("order_id", "product_id"))
    products = {pk: (product_type, upsells) for pk, product_type, upsells in Product.objects.for_store(store)
                .filter(pk__in={p for _, p in lines if p}).values_list("pk", "product_type", "upsell_ids")}
    eligible: dict[int, list[int]] = defaultdict(list)
    for order_id, product_id in lines:
        product_type, upsells = products.get(product_id, ("", []))
        if upsells or (product_type or "").lower() in types:
            eligible[order_id].append(product_id)
    externals = dict(Product.objects.for_store(store).filter(
        pk__in={p for ps in eligible.values() for p in ps}).values_list("pk", "external_id"))
    return [Candidate(T.UPGRADE_ANNIVERSARY, customer_id, f"anniversary:{external_id}", placed_at + days,
                      {"order": external_id, "products": [externals[p] for p in eligible[pk]]})
            for pk, external_id, customer_id, placed_at in orders if eligible.get(pk)]


def _replenishment_candidates(store: Store, sequence: Sequence, *, since: datetime,
                              now: datetime) -> list[Candidate]:
    """The customer's own inter-purchase time (median gap, times ``factor``) has passed since
    their last order, within this scan's window."""
    config = sequence.trigger_config or {}
    min_orders = int(config.get("min_orders", 3))
    factor = float(config.get("factor", 1.0))
    max_gap = timedelta(days=int(config.get("max_gap_days", 120)))
    min_gap = timedelta(days=float(config.get("min_gap_days", 3)))
    last = _last_orders(store, placed_from=since - max_gap * factor, placed_to=now - min_gap * factor)
    if not last:
        return []
    history: dict[int, list[datetime]] = defaultdict(list)
    for customer_id, placed_at in Order.objects.for_store(store).filter(
            customer_id__in={r[2] for r in last}, placed_at__gt=now - timedelta(days=365),
            cancelled_at__isnull=True).values_list("customer_id", "placed_at"):
        history[customer_id].append(placed_at)
    due_rows = []
    for pk, external_id, customer_id, placed_at in last:
        times = history[customer_id]
        if len(times) < min_orders:
            continue
        gap = inter_purchase_gap(times)
        if gap is None or not min_gap <= gap <= max_gap:
            continue
        due = placed_at + gap * factor
        if since < due <= now:
            due_rows.append((pk, external_id, customer_id, due, gap))
    details = _order_facts(store, [r[0] for r in due_rows]) if due_rows else {}
    out = []
    for pk, external_id, customer_id, due, gap in due_rows:
        out.append(Candidate(T.REPLENISHMENT_DUE, customer_id, f"replenish:{external_id}", due,
                             {"last_order": external_id,
                              "products": details.get(pk, {}).get("products", []),
                              "gap_days": round(gap / timedelta(days=1), 1)}))
    return out

