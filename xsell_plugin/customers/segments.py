"""Customer segments: pure computations over a customer's facts and ``now``.

Usable as sequence filters (``segment_matches``: an entry audience or a step condition) and as
report dimensions (``segment_dimensions``). Nothing here reads the database: callers load
``CustomerFacts`` (``xsell_plugin.sequences.selectors.customer_facts``) and pass them in.

- **RFM**: recency (days since the last order), frequency (orders in the last 365 days) and
  monetary value (spend in the last 365 days), each scored 1-5 against thresholds (absolute by
  default; ``rfm_quintiles`` scores a whole population relative to itself), and a label.
- **Engagement**: recent clicks and opens of our emails.
- **Affinity**: the product types a customer buys most, recent purchases weighing more.
- **Lifecycle stage**: prospect, new, active, loyal, at risk, lapsed, from the customer's own
  inter-purchase time.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class OrderFact:
    placed_at: datetime
    total: Decimal = Decimal("0")
    product_types: tuple[str, ...] = ()  # one entry per line (repeats count)


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    orders: tuple[OrderFact, ...] = ()  # any order; sorted by placed_at by ``facts``
    clicks: tuple[datetime, ...] = ()
    opens: tuple[datetime, ...] = ()
    sends: tuple[datetime, ...] = ()  # marketing emails sent

    def orders_before(self, now: datetime) -> tuple[OrderFact, ...]:
        return tuple(o for o in self.orders if o.placed_at <= now)


def facts(*, orders: Iterable[OrderFact] = (), clicks: Iterable[datetime] = (),
          opens: Iterable[datetime] = (), sends: Iterable[datetime] = ()) -> CustomerFacts:
    return CustomerFacts(orders=tuple(sorted(orders, key=lambda o: o.placed_at)),
                         clicks=tuple(sorted(clicks)), opens=tuple(sorted(opens)),
                         sends=tuple(sorted(sends)))


# RFM ------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RFMThresholds:
    """Score 5..1 for recency at most these many days; frequency and monetary score 1..5 from
    these lower bounds (>= bound[i] scores i + 2)."""

    recency_days: tuple[int, int, int, int] = (14, 30, 60, 120)
    frequency: tuple[int, int, int, int] = (2, 3, 5, 9)
    monetary: tuple[Decimal, Decimal, Decimal, Decimal] = (
        Decimal("50"), Decimal("150"), Decimal("400"), Decimal("1000"))


@dataclass(frozen=True, slots=True)
class RFM:
    recency_days: int | None
    frequency: int
    monetary: Decimal
    r: int
    f: int
    m: int
    label: str

    @property
    def score(self) -> str:
        return f"{self.r}{self.f}{self.m}"


RFM_LABELS = ("prospect", "champion", "loyal", "new", "promising", "at_risk", "hibernating")


def _ascending_score(value, bounds) -> int:
    return 1 + sum(1 for bound in bounds if value >= bound)


def rfm_label(r: int, f: int, has_orders: bool = True) -> str:
    if not has_orders:
        return "prospect"
    if r >= 4 and f >= 4:
        return "champion"
    if r >= 3 and f >= 3:
        return "loyal"
    if r >= 4 and f <= 1:
        return "new"
    if r >= 3:
        return "promising"
    if f >= 3:
        return "at_risk"
    return "hibernating"


def rfm_values(customer: CustomerFacts, now: datetime) -> tuple[int | None, int, Decimal]:
    orders = customer.orders_before(now)
    year = [o for o in orders if o.placed_at > now - 365 * DAY]
    recency = (now - orders[-1].placed_at).days if orders else None
    return recency, len(year), sum((o.total for o in year), Decimal("0"))


def rfm(customer: CustomerFacts, now: datetime, thresholds: RFMThresholds = RFMThresholds()) -> RFM:
    recency, frequency, monetary = rfm_values(customer, now)
    r = 1 if recency is None else 5 - sum(1 for bound in thresholds.recency_days if recency > bound)
    f = _ascending_score(frequency, thresholds.frequency)
    m = _ascending_score(monetary, thresholds.monetary)
    return RFM(recency, frequency, monetary, r, f, m, rfm_label(r, f, recency is not None))


def _quintile(values: Sequence[float], value: float) -> int:
    """1..5: the share of the population at or below ``value``, in fifths."""
    if not values:
        return 1
    below = sum(1 for v in values if v <= value)
    return min(5, max(1, math.ceil(5 * below / len(values))))


def rfm_quintiles(population: Mapping[Any, CustomerFacts], now: datetime) -> dict[Any, RFM]:
    """RFM scored relative to a population (a store's customers): each score is the quintile
    of the customer's value among the buyers (recency reversed: more recent scores higher)."""
    values = {key: rfm_values(c, now) for key, c in population.items()}
    buyers = {k: v for k, v in values.items() if v[0] is not None}
    recencies = [-float(v[0]) for v in buyers.values()]
    frequencies = [float(v[1]) for v in buyers.values()]
    monetaries = [float(v[2]) for v in buyers.values()]
    scored = {}
    for key, (recency, frequency, monetary) in values.items():
        if recency is None:
            scored[key] = RFM(None, 0, Decimal("0"), 1, 1, 1, "prospect")
            continue
        r = _quintile(recencies, -float(recency))
        f = _quintile(frequencies, float(frequency))
        m = _quintile(monetaries, float(monetary))
        scored[key] = RFM(recency, frequency, monetary, r, f, m, rfm_label(r, f))
    return scored


# Engagement -----------------------------------------------------------------------------------

ENGAGEMENT_LEVELS = ("engaged", "opener", "quiet", "unengaged", "unmailed")


def engagement(customer: CustomerFacts, now: datetime, *, recent: timedelta = 30 * DAY,
               unengaged_after: int = 3, unengaged_period: timedelta = 90 * DAY) -> str:
    """engaged: clicked in ``recent``; opener: opened in ``recent`` (opens are weak: privacy
    proxies open everything); unengaged: ``unengaged_after`` emails in ``unengaged_period`` and no
    click or open in it; unmailed: never emailed; quiet: anything else."""
    if any(now - recent < t <= now for t in customer.clicks):
        return "engaged"
    if any(now - recent < t <= now for t in customer.opens):
        return "opener"
    sent = [t for t in customer.sends if t <= now]
    if not sent:
        return "unmailed"
    period_start = now - unengaged_period
    recent_sends = [t for t in sent if t > period_start]
    interacted = any(period_start < t <= now for t in (*customer.clicks, *customer.opens))
    if len(recent_sends) >= unengaged_after and not interacted:
        return "unengaged"
    return "quiet"


# Affinity -------------------------------------------------------------------------------------

def affinity_weights(customer: CustomerFacts, now: datetime, *,
                     half_life: timedelta = 90 * DAY) -> dict[str, float]:
    """Product type -> weight: each line counts 0.5 ** (age / half_life)."""
    weights: Counter[str] = Counter()
    for order in customer.orders_before(now):
        decay = 0.5 ** ((now - order.placed_at) / half_life)
        for product_type in order.product_types:
            if product_type:
                weights[product_type] += decay
    return dict(weights)


def affinity(customer: CustomerFacts, now: datetime, *, top: int = 3,
             half_life: timedelta = 90 * DAY) -> tuple[str, ...]:
    """The customer's top product types, strongest first (ties by name)."""
    weights = affinity_weights(customer, now, half_life=half_life)
    return tuple(t for t, _ in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:top])


# Lifecycle ------------------------------------------------------------------------------------

LIFECYCLE_STAGES = ("prospect", "new", "active", "loyal", "at_risk", "lapsed")


def inter_purchase_gap(order_times: Sequence[datetime]) -> timedelta | None:
    """The median gap between consecutive orders (None with fewer than two orders)."""
    times = sorted(order_times)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    gaps = [g for g in gaps if g > 0]
    if not gaps:
        return None
    return timedelta(seconds=statistics.median(gaps))


def lifecycle_stage(customer: CustomerFacts, now: datetime, *, new_for: timedelta = 30 * DAY,
                    loyal_orders: int = 4) -> str:
    orders = customer.orders_before(now)
    if not orders:
        return "prospect"
    since_last = now - orders[-1].placed_at
    gap = inter_purchase_gap([o.placed_at for o in orders]) or 30 * DAY
    if since_last > max(4 * gap, 180 * DAY):
        return "lapsed"
    if since_last > max(2 * gap, 60 * DAY):
        return "at_risk"
    if len(orders) == 1 and since_last <= new_for:
        return "new"
    return "loyal" if len(orders) >= loyal_orders else "active"


# Filters and report dimensions ------------------------------------------------------------------

FILTER_KEYS = frozenset({"lifecycle", "rfm", "engagement", "affinity", "min_orders", "max_orders",
                         "min_spent"})


def segment_filter_validate(spec: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` for an unknown key or value (checked when a sequence is saved)."""
    unknown = set(spec) - FILTER_KEYS
    if unknown:
        raise ValueError(f"unknown segment filter keys: {sorted(unknown)}")
    for key, allowed in (("lifecycle", LIFECYCLE_STAGES), ("rfm", RFM_LABELS),
                         ("engagement", ENGAGEMENT_LEVELS)):
        bad = set(spec.get(key, ())) - set(allowed)
        if bad:
            raise ValueError(f"unknown {key} values: {sorted(bad)}")


def segment_matches(spec: Mapping[str, Any], customer: CustomerFacts, now: datetime) -> bool:
    """All the conditions in ``spec`` hold (an empty spec matches everyone). Keys: ``lifecycle``,
    ``rfm``, ``engagement`` (lists of labels), ``affinity`` (product types: any among the top 3),
    ``min_orders``, ``max_orders`` (orders ever), ``min_spent`` (last 365 days)."""
    if not spec:
        return True
    orders = customer.orders_before(now)
    if "min_orders" in spec and len(orders) < int(spec["min_orders"]):
        return False
    if "max_orders" in spec and len(orders) > int(spec["max_orders"]):
        return False
    if "min_spent" in spec and rfm_values(customer, now)[2] < Decimal(str(spec["min_spent"])):
        return False
    if "lifecycle" in spec and lifecycle_stage(customer, now) not in spec["lifecycle"]:
        return False
    if "rfm" in spec and rfm(customer, now).label not in spec["rfm"]:
        return False
    if "engagement" in spec and engagement(customer, now) not in spec["engagement"]:
        return False
    if "affinity" in spec:  # noqa: SIM102
        if not set(affinity(customer, now)) & set(spec["affinity"]):
            return False
    return True


@dataclass(frozen=True, slots=True)
class SegmentDimensions:
    lifecycle: str
    rfm: str
    rfm_score: str
    engagement: str
    affinity: tuple[str, ...] = field(default=())


def segment_dimensions(customer: CustomerFacts, now: datetime) -> SegmentDimensions:
    """Every dimension at once, for reports."""
    scored = rfm(customer, now)
    return SegmentDimensions(lifecycle=lifecycle_stage(customer, now), rfm=scored.label,
                             rfm_score=scored.score, engagement=engagement(customer, now),
                             affinity=affinity(customer, now))
