"""Per-unit outcomes computed in the database: what each assigned customer spent in a window.

A unit is an assignment row with a customer and a start time (first enrolment or first
exposure). Its outcome is the net revenue (total - refunds, cancelled orders excluded) and the
number of its orders placed in ``[start, start + horizon)``; its covariate (for CUPED) is the net
revenue of the ``pre_days`` before the start. Both are correlated subqueries on the
``(store, customer, placed_at)`` index, so one query returns one row per unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.db.models import (
    DateTimeField,
    DecimalField,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from xsell_plugin.orders.models import Order

DEFAULT_PRE_DAYS = 90
MONEY = DecimalField(max_digits=14, decimal_places=2)


def net_revenue():
    return ExpressionWrapper(F("total") - F("refunded_total"), output_field=MONEY)


def counted_orders() -> QuerySet:
    """Orders that count as revenue: not cancelled."""
    return Order.objects.filter(cancelled_at__isnull=True)


def _window_sum(start: str, end: str, value) -> Subquery:
    orders = (
        counted_orders()
        .filter(
            store=OuterRef("store"),
            customer=OuterRef("customer"),
            placed_at__gte=OuterRef(start),
            placed_at__lt=OuterRef(end),
        )
        .order_by()
        .values("customer")
        .annotate(v=value)
        .values("v")
    )
    return Subquery(orders)


def with_outcomes(
    qs: QuerySet, *, start_field: str, horizon_days: int, pre_days: int = DEFAULT_PRE_DAYS
) -> QuerySet:
    """Annotate ``revenue``, ``orders`` and ``pre_revenue`` on a queryset of units that have
    ``store``, ``customer`` and ``start_field``."""
    horizon, pre = timedelta(days=horizon_days), timedelta(days=pre_days)
    return qs.annotate(
        _end=ExpressionWrapper(F(start_field) + Value(horizon), output_field=DateTimeField()),
        _pre=ExpressionWrapper(F(start_field) - Value(pre), output_field=DateTimeField()),
    ).annotate(
        revenue=Coalesce(
            _window_sum(start_field, "_end", Sum(net_revenue())), Value(0), output_field=MONEY
        ),
        orders=Coalesce(
            _window_sum(start_field, "_end", Sum(Value(1))), Value(0), output_field=IntegerField()
        ),
        pre_revenue=Coalesce(
            _window_sum("_pre", start_field, Sum(net_revenue())), Value(0), output_field=MONEY
        ),
    )


@dataclass(frozen=True, slots=True)
class Units:
    """Outcome arrays of one arm."""

    revenue: np.ndarray
    converted: np.ndarray
    pre_revenue: np.ndarray

    @property
    def n(self) -> int:
        return len(self.revenue)

    @property
    def conversions(self) -> int:
        return int(self.converted.sum())

    @classmethod
    def empty(cls) -> Units:
        return cls(np.zeros(0), np.zeros(0), np.zeros(0))


def units_by(qs: QuerySet, key: str) -> dict[object, Units]:
    """Group annotated units by ``key`` into arrays (one row per unit from the database)."""
    rows: dict[object, list[tuple[float, float, float]]] = {}
    for group, revenue, orders, pre in qs.values_list(key, "revenue", "orders", "pre_revenue"):
        rows.setdefault(group, []).append((float(revenue), 1.0 if orders else 0.0, float(pre)))
    out = {}
    for group, values in rows.items():
        arr = np.asarray(values, dtype=float).reshape(-1, 3)
        out[group] = Units(arr[:, 0], arr[:, 1], arr[:, 2])
    return out


def matured_before(now: datetime, horizon_days: int) -> datetime:
    """Units that started before this have their whole outcome window behind them."""
    return now - timedelta(days=horizon_days)
