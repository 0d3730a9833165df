"""Read-only figures for the dashboard. Every query starts from one store and aggregates in the
database; only per-unit outcome rows (for the interval statistics) and already-grouped rows
come back to Python. Methods, defaults and how to read the figures: docs/measurement.md.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from django.db.models import (
    CharField,
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Concat, TruncDay, TruncMonth, TruncWeek
from django.utils import timezone
from scipy.stats import norm

from emails.models import OutboundEmail, Testimonial
from xsell_plugin.customers import segments
from xsell_plugin.experiments import statistics
from xsell_plugin.experiments.assignment import HOLDOUT, TREATMENT
from xsell_plugin.experiments.models import SequenceAssignment
from xsell_plugin.experiments.outcomes import (
    MONEY,
    counted_orders,
    matured_before,
    net_revenue,
    units_by,
    with_outcomes,
)
from xsell_plugin.offers.models import Bundle, Incentive, OfferStatus
from xsell_plugin.reporting.models import ReportSettings
from xsell_plugin.stores.models import Store
from xsell_plugin.tracking.models import Click, MailerEvent, Unsubscribe

ALPHA = 0.05
UPGRADE_KIND = "upgrade"
RETENTION_DAYS = 90


def _f(value) -> float:
    return float(value) if value is not None else 0.0


def _nan_none(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def report_settings_get(*, store: Store) -> ReportSettings:
    """The store's settings, or the defaults (unsaved) when it has none."""
    return ReportSettings.objects.for_store(store).first() or ReportSettings(store=store)


def data_as_of(*, store: Store, now: datetime | None = None) -> datetime:
    """When the store's data ends: its latest order (plus a day), at most ``now``. For a live
    store this is now; for one whose data stopped (the demo store's 2017 orders) the figures
    that depend on "today" (CLV, churn, segments) are measured as of its last day."""
    now = now or timezone.now()
    last = counted_orders().filter(store=store).aggregate(last=Max("placed_at"))["last"]
    return min(now, last + timedelta(days=1)) if last else now


def _period(qs: QuerySet, field: str, start: datetime | None, end: datetime | None) -> QuerySet:
    if start is not None:
        qs = qs.filter(**{f"{field}__gte": start})
    if end is not None:
        qs = qs.filter(**{f"{field}__lt": end})
    return qs


def sequence_names(*, store: Store) -> dict[int, str]:
    """Sequence ids to names, when the sequences app is installed (it owns the names)."""
    from django.apps import apps

    try:
        model = apps.get_model("sequences", "Sequence")
    except LookupError:
        return {}
    return dict(model.objects.filter(store=store).values_list("pk", "name"))


# Incremental revenue (holdouts) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SequenceIncrement:
    sequence_id: int
    treated: int
    holdout: int
    matured_treated: int
    matured_holdout: int
    revenue_per_recipient: dict | None  # treated minus holdout, per recipient, with interval
    conversion: dict | None  # order rate, treated minus holdout
    incremental_revenue: float | None  # per-recipient difference x matured treated recipients
    incremental_ci: tuple[float, float] | None
    detectable_difference: float | None  # smallest per-recipient difference this size can see


@dataclass(frozen=True, slots=True)
class IncrementalReport:
    horizon_days: int
    alpha: float
    incremental_revenue: float | None
    ci_low: float | None
    ci_high: float | None
    per_recipient: float | None
    matured_treated: int
    matured_holdout: int
    pending: int  # units whose outcome window is still open
    sequences: list[SequenceIncrement]


def _z(alpha: float) -> float:
    return float(norm.ppf(1 - alpha / 2))


def incremental_revenue(
    *,
    store: Store,
    sequence_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    horizon_days: int | None = None,
    pre_days: int | None = None,
    now: datetime | None = None,
    alpha: float = ALPHA,
) -> IncrementalReport:
    """Treated minus holdout spend per recipient over ``horizon_days`` from each customer's first
    enrolment (matured units only), per sequence, and the store total with its interval."""
    now = now or timezone.now()
    settings = report_settings_get(store=store)
    horizon = horizon_days or settings.horizon_days
    pre = pre_days or settings.pre_period_days
    base = _period(SequenceAssignment.objects.for_store(store), "first_enrolled_at", start, end)
    if sequence_id is not None:
        base = base.filter(sequence_id=sequence_id)
    counts: dict[tuple[int, str], int] = {
        (s, a): n
        for s, a, n in base.order_by()
        .values("sequence_id", "arm")
        .annotate(n=Count("pk"))
        .values_list("sequence_id", "arm", "n")
    }
    cutoff = matured_before(now, horizon)
    matured = with_outcomes(
        base.filter(first_enrolled_at__lte=cutoff),
        start_field="first_enrolled_at",
        horizon_days=horizon,
        pre_days=pre,
    )
    grouped = units_by(matured.annotate(_key=_pair("sequence_id", "arm")), "_key")
    pending = base.filter(first_enrolled_at__gt=cutoff).count()

    rows: list[SequenceIncrement] = []
    total = total_var = 0.0
    any_estimate = False
    n_t_all = n_h_all = 0
    z = _z(alpha)
    for seq in sorted({s for s, _ in counts}):
        t = grouped.get(f"{seq}:{TREATMENT}")
        h = grouped.get(f"{seq}:{HOLDOUT}")
        rev = conv = None
        inc = inc_ci = detect = None
        if t is not None and h is not None:
            est = statistics.difference_in_means_best(
                t.revenue, t.pre_revenue, h.revenue, h.pre_revenue, alpha=alpha
            )
            cest = statistics.difference_in_proportions(t.conversions, t.n, h.conversions, h.n, alpha=alpha)
            if est is not None:
                rev = est.as_dict()
                inc = est.estimate * t.n
                se = (
                    (est.ci_high - est.ci_low) / (2 * z) if math.isfinite(est.ci_high - est.ci_low) else 0.0
                )
                inc_ci = (inc - z * se * t.n, inc + z * se * t.n)
                total += inc
                total_var += (se * t.n) ** 2
                any_estimate = True
            conv = cest.as_dict() if cest is not None else None
            sd = float(np.std(np.concatenate([t.revenue, h.revenue]), ddof=1)) if t.n + h.n > 2 else 0.0
            detect = statistics.detectable_difference(t.n, h.n, sd, alpha=alpha)
        n_t_all += t.n if t else 0
        n_h_all += h.n if h else 0
        rows.append(
            SequenceIncrement(
                sequence_id=seq,
                treated=counts.get((seq, TREATMENT), 0),
                holdout=counts.get((seq, HOLDOUT), 0),
                matured_treated=t.n if t else 0,
                matured_holdout=h.n if h else 0,
                revenue_per_recipient=rev,
                conversion=conv,
                incremental_revenue=inc,
                incremental_ci=inc_ci,
                detectable_difference=detect,
            )
        )
    se_total = math.sqrt(total_var)
    return IncrementalReport(
        horizon_days=horizon,
        alpha=alpha,
        incremental_revenue=total if any_estimate else None,
        ci_low=(total - z * se_total) if any_estimate else None,
        ci_high=(total + z * se_total) if any_estimate else None,
        per_recipient=(total / n_t_all) if any_estimate and n_t_all else None,
        matured_treated=n_t_all,
        matured_holdout=n_h_all,
        pending=pending,
        sequences=rows,
    )


def _pair(a: str, b: str) -> Concat:
    """``"<a>:<b>"`` of two columns, the same SQL on SQLite and PostgreSQL."""
    return Concat(Cast(F(a), CharField()), Value(":"), F(b), output_field=CharField())


# Attribution (last click) -------------------------------------------------------------------------


def attributed_orders(
    *,
    store: Store,
    start: datetime | None = None,
    end: datetime | None = None,
    window_days: int | None = None,
) -> QuerySet:
    """Orders with the last click by the same customer in the ``window_days`` before them:
    annotated ``attributed_outbound``, ``attributed_sequence``, ``attributed_kind``, ``net``."""
    window = timedelta(days=window_days or report_settings_get(store=store).attribution_window_days)
    last_click = Click.objects.filter(
        store=OuterRef("store"),
        customer=OuterRef("customer"),
        clicked_at__lte=OuterRef("placed_at"),
        clicked_at__gte=OuterRef("_window_start"),
    ).order_by("-clicked_at", "-pk")
    orders = _period(counted_orders().filter(store=store, customer__isnull=False), "placed_at", start, end)
    return (
        orders.annotate(
            _window_start=ExpressionWrapper(F("placed_at") - Value(window), output_field=DateTimeField())
        )
        .annotate(
            attributed_outbound=Subquery(last_click.values("outbound_id")[:1]),
            attributed_sequence=Subquery(last_click.values("outbound__sequence_id")[:1]),
            attributed_kind=Subquery(last_click.values("outbound__kind")[:1]),
            net=net_revenue(),
        )
        .filter(attributed_outbound__isnull=False)
    )


def attribution(
    *,
    store: Store,
    start: datetime | None = None,
    end: datetime | None = None,
    window_days: int | None = None,
) -> dict:
    """Revenue of orders whose last click (within the window) was on one of our emails."""
    window = window_days or report_settings_get(store=store).attribution_window_days
    qs = attributed_orders(store=store, start=start, end=end, window_days=window)
    by_sequence = [
        {
            "sequence_id": row["attributed_sequence"],
            "orders": row["orders"],
            "revenue": _f(row["revenue"]),
            "customers": row["customers"],
        }
        for row in qs.order_by()
        .values("attributed_sequence")
        .annotate(orders=Count("pk"), revenue=Sum("net"), customers=Count("customer", distinct=True))
        .order_by("attributed_sequence")
    ]
    by_kind = {
        row["attributed_kind"]: {"orders": row["orders"], "revenue": _f(row["revenue"])}
        for row in qs.order_by().values("attributed_kind").annotate(orders=Count("pk"), revenue=Sum("net"))
    }
    return {
        "window_days": window,
        "orders": sum(r["orders"] for r in by_sequence),
        "revenue": sum(r["revenue"] for r in by_sequence),
        "by_sequence": by_sequence,
        "by_kind": by_kind,
    }


# Summary (what the dashboard leads with) ----------------------------------------------------------


def summary(
    *, store: Store, start: datetime | None = None, end: datetime | None = None, now: datetime | None = None
) -> dict:
    now = now or timezone.now()
    settings = report_settings_get(store=store)
    inc = incremental_revenue(store=store, start=start, end=end, now=now)
    attr = attribution(store=store, start=start, end=end)
    orders = _period(counted_orders().filter(store=store), "placed_at", start, end).aggregate(
        orders=Count("pk"),
        revenue=Coalesce(Sum(net_revenue()), Value(0), output_field=MONEY),
        customers=Count("customer", distinct=True),
    )
    sent = _period(
        OutboundEmail.objects.for_store(store).filter(status=OutboundEmail.Status.SENT),
        "sent_at",
        start,
        end,
    ).count()
    return {
        "currency": store.currency,
        "incremental": {
            "label": "Incremental revenue (treated vs holdout)",
            "revenue": inc.incremental_revenue,
            "ci_low": inc.ci_low,
            "ci_high": inc.ci_high,
            "per_recipient": inc.per_recipient,
            "recipients": inc.matured_treated,
            "holdout": inc.matured_holdout,
            "pending": inc.pending,
            "horizon_days": inc.horizon_days,
            "confidence": 1 - inc.alpha,
        },
        "attributed": {
            "label": f"Attributed revenue (last click within {attr['window_days']} days; not causal)",
            "revenue": attr["revenue"],
            "orders": attr["orders"],
            "window_days": attr["window_days"],
        },
        "store": {
            "orders": orders["orders"],
            "revenue": _f(orders["revenue"]),
            "customers": orders["customers"],
            "emails_sent": sent,
        },
        "settings": {
            "attribution_window_days": settings.attribution_window_days,
            "horizon_days": settings.horizon_days,
        },
    }


# Time series ------------------------------------------------------------------------------------

TIMESERIES_METRICS = (
    "revenue",
    "orders",
    "customers",
    "emails_sent",
    "clicks",
    "attributed_revenue",
    "enrolments",
    "holdout_enrolments",
)
INTERVALS = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}


def timeseries(
    *,
    store: Store,
    metric: str,
    interval: str = "day",
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[dict]:
    """One value per local day/week/month (store time zone), empty periods left out."""
    tz = ZoneInfo(store.timezone)
    trunc = INTERVALS[interval]
    if metric in ("revenue", "orders", "customers"):
        qs, field = counted_orders().filter(store=store), "placed_at"
        value = {
            "revenue": Sum(net_revenue()),
            "orders": Count("pk"),
            "customers": Count("customer", distinct=True),
        }[metric]
    elif metric == "emails_sent":
        qs, field, value = (
            OutboundEmail.objects.for_store(store).filter(status=OutboundEmail.Status.SENT),
            "sent_at",
            Count("pk"),
        )
    elif metric == "clicks":
        qs, field, value = Click.objects.for_store(store), "clicked_at", Count("pk")
    elif metric == "attributed_revenue":
        qs, field, value = attributed_orders(store=store, start=start, end=end), "placed_at", Sum("net")
    elif metric in ("enrolments", "holdout_enrolments"):
        qs = SequenceAssignment.objects.for_store(store)
        if metric == "holdout_enrolments":
            qs = qs.filter(arm=HOLDOUT)
        field, value = "first_enrolled_at", Count("pk")
    else:
        raise ValueError(f"unknown metric {metric!r}")
    qs = _period(qs, field, start, end)
    rows = (
        qs.annotate(period=trunc(field, tzinfo=tz))
        .order_by()
        .values("period")
        .annotate(value=value)
        .order_by("period")
    )
    return [
        {"period": r["period"].astimezone(tz).date().isoformat(), "value": _f(r["value"])}
        for r in rows
        if r["period"] is not None
    ]


# Funnel -----------------------------------------------------------------------------------------


def funnel(*, store: Store, start: datetime | None = None, end: datetime | None = None) -> list[dict]:
    """Per sequence: enrolled (treated / holdout), emails sent, recipients, clickers, attributed
    orders and revenue."""
    enrolled = defaultdict(dict)
    for seq, arm, n in (
        _period(SequenceAssignment.objects.for_store(store), "first_enrolled_at", start, end)
        .order_by()
        .values("sequence_id", "arm")
        .annotate(n=Count("pk"))
        .values_list("sequence_id", "arm", "n")
    ):
        enrolled[seq][arm] = n
    sent = {
        r["sequence_id"]: r
        for r in _period(
            OutboundEmail.objects.for_store(store).filter(
                status=OutboundEmail.Status.SENT, sequence_id__isnull=False
            ),
            "sent_at",
            start,
            end,
        )
        .order_by()
        .values("sequence_id")
        .annotate(emails=Count("pk"), recipients=Count("customer", distinct=True))
    }
    clicks = dict(
        _period(
            Click.objects.for_store(store).filter(outbound__sequence_id__isnull=False),
            "clicked_at",
            start,
            end,
        )
        .order_by()
        .values("outbound__sequence_id")
        .annotate(n=Count("customer", distinct=True))
        .values_list("outbound__sequence_id", "n")
    )
    attr = {r["sequence_id"]: r for r in attribution(store=store, start=start, end=end)["by_sequence"]}
    names = sequence_names(store=store)
    out = []
    for seq in sorted(set(enrolled) | set(sent) | set(clicks) | {k for k in attr if k is not None}):
        s = sent.get(seq, {})
        a = attr.get(seq, {})
        out.append(
            {
                "sequence_id": seq,
                "name": names.get(seq, ""),
                "enrolled": enrolled[seq].get(TREATMENT, 0) if seq in enrolled else 0,
                "holdout": enrolled[seq].get(HOLDOUT, 0) if seq in enrolled else 0,
                "emails_sent": s.get("emails", 0),
                "recipients": s.get("recipients", 0),
                "clickers": clicks.get(seq, 0),
                "buyers": a.get("customers", 0),
                "attributed_orders": a.get("orders", 0),
                "attributed_revenue": a.get("revenue", 0.0),
            }
        )
    return out


# Cohorts ----------------------------------------------------------------------------------------


def _month_index(d) -> int:
    return d.year * 12 + d.month - 1


def _month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def cohorts_by_month(*, store: Store, months: int = 12) -> dict:
    """Rows: first-purchase month; columns: months since; values: active customers, revenue."""
    tz = ZoneInfo(store.timezone)
    first = (
        counted_orders()
        .filter(store=OuterRef("store"), customer=OuterRef("customer"))
        .order_by("placed_at")
        .values("placed_at")[:1]
    )
    rows = (
        counted_orders()
        .filter(store=store, customer__isnull=False)
        .annotate(first_at=Subquery(first))
        .annotate(cohort=TruncMonth("first_at", tzinfo=tz), month=TruncMonth("placed_at", tzinfo=tz))
        .order_by()
        .values("cohort", "month")
        .annotate(customers=Count("customer", distinct=True), revenue=Sum(net_revenue()))
    )
    table: dict[int, dict[int, dict]] = defaultdict(dict)
    for r in rows:
        if r["cohort"] is None:
            continue
        c = _month_index(r["cohort"].astimezone(tz))
        offset = _month_index(r["month"].astimezone(tz)) - c
        if 0 <= offset < months:
            table[c][offset] = {"customers": r["customers"], "revenue": _f(r["revenue"])}
    out = []
    for c in sorted(table):
        size = table[c].get(0, {}).get("customers", 0)
        out.append(
            {
                "cohort": _month_label(c),
                "customers": size,
                "active": [table[c].get(k, {}).get("customers", 0) for k in range(months)],
                "retention": [
                    (table[c].get(k, {}).get("customers", 0) / size) if size else None
                    for k in range(months)
                ],
                "revenue": [table[c].get(k, {}).get("revenue", 0.0) for k in range(months)],
            }
        )
    return {"by": "month", "months": months, "rows": out}


SEGMENT_DIMENSIONS = ("lifecycle", "rfm")


def customer_segments(
    *, store: Store, dimension: str = "lifecycle", now: datetime | None = None, lookback_days: int = 730
) -> dict[int, str]:
    """Each ordering customer's segment (``customers.segments``, from their orders)."""
    now = now or data_as_of(store=store)
    orders: dict[int, list] = defaultdict(list)
    for customer_id, placed_at, total in (
        counted_orders()
        .filter(
            store=store,
            customer__isnull=False,
            placed_at__lte=now,
            placed_at__gt=now - timedelta(days=lookback_days),
        )
        .values_list("customer_id", "placed_at", "total")
    ):
        orders[customer_id].append(segments.OrderFact(placed_at=placed_at, total=total))
    out = {}
    for customer_id, facts in orders.items():
        f = segments.facts(orders=facts)
        out[customer_id] = (
            segments.lifecycle_stage(f, now) if dimension == "lifecycle" else segments.rfm(f, now).label
        )
    return out


def cohorts_by_segment(
    *, store: Store, dimension: str = "lifecycle", months: int = 12, now: datetime | None = None
) -> dict:
    now = now or data_as_of(store=store)
    """Rows: segment; columns: months since first purchase; values: active customers, revenue."""
    tz = ZoneInfo(store.timezone)
    labels = customer_segments(store=store, dimension=dimension, now=now)
    per_month = (
        counted_orders()
        .filter(store=store, customer__isnull=False)
        .annotate(month=TruncMonth("placed_at", tzinfo=tz))
        .order_by()
        .values("customer_id", "month")
        .annotate(revenue=Sum(net_revenue()))
    )
    firsts: dict[int, int] = {}
    cells: list[tuple[int, int, float]] = []
    for r in per_month:
        m = _month_index(r["month"].astimezone(tz))
        cells.append((r["customer_id"], m, _f(r["revenue"])))
        firsts[r["customer_id"]] = min(firsts.get(r["customer_id"], m), m)
    active: dict[str, list[int]] = defaultdict(lambda: [0] * months)
    revenue: dict[str, list[float]] = defaultdict(lambda: [0.0] * months)
    size: dict[str, int] = defaultdict(int)
    for label in labels.values():
        size[label] += 1
    for customer_id, m, value in cells:
        label = labels.get(customer_id)
        offset = m - firsts[customer_id]
        if label is None or not 0 <= offset < months:
            continue
        active[label][offset] += 1
        revenue[label][offset] += value
    rows = [
        {
            "segment": label,
            "customers": size[label],
            "active": active[label],
            "retention": [a / size[label] for a in active[label]],
            "revenue": revenue[label],
        }
        for label in sorted(size)
    ]
    return {"by": "segment", "dimension": dimension, "months": months, "rows": rows}


def segment_counts(*, store: Store, now: datetime | None = None) -> dict:
    """How many customers are in each lifecycle stage and RFM group."""
    out = {}
    for dimension in SEGMENT_DIMENSIONS:
        counts: dict[str, int] = defaultdict(int)
        for label in customer_segments(store=store, dimension=dimension, now=now).values():
            counts[label] += 1
        out[dimension] = dict(sorted(counts.items()))
    return out


# Post-upgrade retention --------------------------------------------------------------------------


def upgrade_retention(
    *,
    store: Store,
    now: datetime | None = None,
    days: int = RETENTION_DAYS,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict:
    """Share of orders followed by another order of the same customer within ``days``: orders
    attributed to an ``upgrade`` email vs all other orders. Only orders at least ``days`` old.
    Observational (who upgrades is not random): a difference is a signal, not a causal effect."""
    now = now or timezone.now()
    window = timedelta(days=days)
    cutoff = now - window
    end = min(end, cutoff) if end else cutoff
    repeat = (
        counted_orders()
        .filter(
            store=OuterRef("store"),
            customer=OuterRef("customer"),
            placed_at__gt=OuterRef("placed_at"),
            placed_at__lte=OuterRef("_until"),
        )
        .order_by()
        .values("customer")
        .annotate(n=Count("pk"))
        .values("n")
    )
    upgrade_ids = set(
        attributed_orders(store=store, start=start, end=end)
        .filter(attributed_kind=UPGRADE_KIND)
        .values_list("pk", flat=True)
    )
    base = (
        _period(counted_orders().filter(store=store, customer__isnull=False), "placed_at", start, end)
        .annotate(_until=ExpressionWrapper(F("placed_at") + Value(window), output_field=DateTimeField()))
        .annotate(repeats=Coalesce(Subquery(repeat), Value(0), output_field=IntegerField()))
    )
    upg = base.filter(pk__in=upgrade_ids).aggregate(n=Count("pk"), r=Count("pk", filter=Q(repeats__gt=0)))
    other = base.exclude(pk__in=upgrade_ids).aggregate(
        n=Count("pk"), r=Count("pk", filter=Q(repeats__gt=0))
    )

    def rate(group):
        low, high = statistics.rate_interval(group["r"], group["n"])
        return {
            "orders": group["n"],
            "repeated": group["r"],
            "rate": group["r"] / group["n"] if group["n"] else None,
            "ci_low": _nan_none(low),
            "ci_high": _nan_none(high),
        }

    est = statistics.difference_in_proportions(upg["r"], upg["n"], other["r"], other["n"])
    return {
        "days": days,
        "upgrade": rate(upg),
        "other": rate(other),
        "difference": est.as_dict() if est else None,
        "note": "Observational: upgraders are not a random group.",
    }


# NPS --------------------------------------------------------------------------------------------


def nps(*, store: Store, start: datetime | None = None, end: datetime | None = None) -> dict:
    """Net Promoter Score from clicks on the feedback email's 0-10 links (``nps:<n>``): each
    respondent's latest score in the period. NPS = % promoters (9-10) - % detractors (0-6)."""
    clicks = _period(
        Click.objects.for_store(store).filter(link__label__startswith="nps:", customer__isnull=False),
        "clicked_at",
        start,
        end,
    )
    latest = clicks.filter(customer=OuterRef("customer")).order_by("-clicked_at", "-pk").values("pk")[:1]
    by_label = dict(
        clicks.filter(pk=Subquery(latest))
        .order_by()
        .values("link__label")
        .annotate(n=Count("customer", distinct=True))
        .values_list("link__label", "n")
    )
    scores = {}
    for label, n in by_label.items():
        try:
            score = int(label.split(":", 1)[1])
        except ValueError:
            continue
        if 0 <= score <= 10:
            scores[score] = scores.get(score, 0) + n
    total = sum(scores.values())
    promoters = sum(n for s, n in scores.items() if s >= 9)
    detractors = sum(n for s, n in scores.items() if s <= 6)

    def share(k):
        low, high = statistics.rate_interval(k, total)
        return {
            "count": k,
            "share": k / total if total else None,
            "ci_low": _nan_none(low),
            "ci_high": _nan_none(high),
        }

    return {
        "responses": total,
        "scores": {str(s): scores.get(s, 0) for s in range(11)},
        "nps": (100.0 * (promoters - detractors) / total) if total else None,
        "promoters": share(promoters),
        "passives": share(total - promoters - detractors),
        "detractors": share(detractors),
    }


# Deliverability -----------------------------------------------------------------------------------


def deliverability(*, store: Store, start: datetime | None = None, end: datetime | None = None) -> dict:
    """Per sequence: emails sent, unsubscribes and spam complaints, their rates, and an alarm when
    the complaint rate is above the store's threshold (default 0.3 %).

    Complaints: ESP ``complained`` events, matched to our message by its ESP id or Message-ID
    (else to the address's last email before the event). Unsubscribes: ``tracking.Unsubscribe``
    rows, credited to the email whose link was used (or the preference page's sequence), else to
    the address's last email sent before them."""
    alarm = float(report_settings_get(store=store).complaint_alarm_rate)
    sent = _period(
        OutboundEmail.objects.for_store(store).filter(status=OutboundEmail.Status.SENT),
        "sent_at",
        start,
        end,
    )
    sent_counts = dict(
        sent.order_by().values("sequence_id").annotate(n=Count("pk")).values_list("sequence_id", "n")
    )

    def last_before(email_ref: str, at_ref: str):
        return (
            OutboundEmail.objects.filter(
                store=OuterRef("store"),
                email=OuterRef(email_ref),
                status=OutboundEmail.Status.SENT,
                sent_at__lte=OuterRef(at_ref),
            )
            .order_by("-sent_at", "-pk")
            .values("sequence_id")[:1]
        )

    by_esp_id = (
        OutboundEmail.objects.filter(store=OuterRef("store"))
        .filter(Q(esp_message_id=OuterRef("message_id")) | Q(message_id=OuterRef("message_id")))
        .exclude(esp_message_id="", message_id="")
        .values("sequence_id")[:1]
    )
    complaints = dict(
        _period(
            MailerEvent.objects.for_store(store).filter(event_type="complained"), "occurred_at", start, end
        )
        .annotate(seq=Coalesce(Subquery(by_esp_id), Subquery(last_before("email", "occurred_at"))))
        .order_by()
        .values("seq")
        .annotate(n=Count("pk"))
        .values_list("seq", "n")
    )
    # Credited to the email (or the sequence's preference page) it came from; an unsubscribe
    # with neither (an ESP event naming no message of ours) to the address's last email before it.
    unsubscribes = dict(
        _period(Unsubscribe.objects.for_store(store), "unsubscribed_at", start, end)
        .annotate(seq=Coalesce(F("sequence_id"), Subquery(last_before("email", "unsubscribed_at"))))
        .order_by()
        .values("seq")
        .annotate(n=Count("pk"))
        .values_list("seq", "n")
    )
    names = sequence_names(store=store)
    rows = []
    for seq in sorted(
        set(sent_counts) | set(complaints) | set(unsubscribes), key=lambda s: (s is None, s or 0)
    ):
        n = sent_counts.get(seq, 0)
        c, u = complaints.get(seq, 0), unsubscribes.get(seq, 0)
        c_low, c_high = statistics.rate_interval(c, n) if n else (None, None)
        rows.append(
            {
                "sequence_id": seq,
                "name": names.get(seq, "") if seq is not None else "",
                "sent": n,
                "complaints": c,
                "unsubscribes": u,
                "complaint_rate": c / n if n else None,
                "complaint_rate_ci": [c_low, c_high],
                "unsubscribe_rate": u / n if n else None,
                "alarm": bool(n and c / n > alarm),
            }
        )
    total_sent = sum(sent_counts.values())
    total_c = sum(complaints.values())
    return {
        "complaint_alarm_rate": alarm,
        "sent": total_sent,
        "complaints": total_c,
        "unsubscribes": sum(unsubscribes.values()),
        "complaint_rate": total_c / total_sent if total_sent else None,
        "alarm": any(r["alarm"] for r in rows),
        "sequences": rows,
    }


# Quarterly review -------------------------------------------------------------------------------


def stale_cutoff(*, store: Store, now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    return now - timedelta(days=report_settings_get(store=store).review_after_days)


def quarterly_review(*, store: Store, now: datetime | None = None) -> dict:
    """Testimonials and running offers (bundles, incentives) not refreshed in the review period
    (default 90 days): a quarterly look keeps what the emails promise true."""
    cutoff = stale_cutoff(store=store, now=now)
    items = [
        {"type": "testimonial", "id": pk, "title": author, "updated_at": updated}
        for pk, author, updated in Testimonial.objects.for_store(store)
        .filter(active=True, updated_at__lt=cutoff)
        .order_by("updated_at")
        .values_list("pk", "author", "updated_at")
    ]
    for kind, model in (("bundle", Bundle), ("incentive", Incentive)):
        items += [
            {"type": kind, "id": pk, "title": name, "updated_at": updated}
            for pk, name, updated in model.objects.for_store(store)
            .filter(status__in=(OfferStatus.ACTIVE, OfferStatus.FLAGGED), updated_at__lt=cutoff)
            .order_by("updated_at")
            .values_list("pk", "name", "updated_at")
        ]
    return {
        "review_after_days": report_settings_get(store=store).review_after_days,
        "cutoff": cutoff,
        "items": items,
    }


def customer_first_orders(*, store: Store) -> QuerySet:
    """Customers with their first and last order time (for CLV and churn)."""
    return (
        counted_orders()
        .filter(store=store, customer__isnull=False)
        .order_by()
        .values("customer_id")
        .annotate(first=Min("placed_at"), last=Max("placed_at"), orders=Count("pk"))
    )
