"""Customer lifetime value and churn risk: BG/NBD (how often a customer buys, and whether they
are still "alive") + Gamma-Gamma (how much they spend per order), fitted with ``lifetimes``.

Why ``lifetimes``: it is the reference implementation of these two models (Fader, Hardie & Lee
2005; Fader & Hardie 2013), fits by maximum likelihood in well under a second for tens of
thousands of customers, and installs cleanly here (numpy, scipy, pandas, autograd). ``btyd``
(its successor fork) only publishes for Python < 3.10 (its one older build pins an autograd
that no longer imports), and PyMC-Marketing needs PyMC and PyTensor (a compiler toolchain, minutes
of sampling): too heavy for a request path. ``lifetimes`` itself is no longer developed, so it is
wrapped here, behind functions that take and return plain values: moving to another library
touches this module only. The CDNOW validation (``cdnow_validation``) guards the fit.

Time unit: weeks (days of purchase, ``freq="D"`` with a multiplier of 7), as in the papers.
Several orders on one day count as one purchase occasion, as the models assume.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
from django.core.cache import cache
from django.db.models import Count, Max, Sum
from django.db.models.functions import TruncDate

from xsell_plugin.experiments.outcomes import counted_orders, net_revenue
from xsell_plugin.stores.models import Store

WEEK_DAYS = 7
PREDICT_DAYS = 90
CLV_MONTHS = 12
MONTHLY_DISCOUNT = 0.01
PENALIZER = 0.001  # a little L2 on the store fits: small stores otherwise find degenerate optima
MIN_CUSTOMERS = 30
MIN_REPEATERS = 10
CACHE_SECONDS = 6 * 3600
CDNOW_CALIBRATION_END = "1997-09-30"
CDNOW_OBSERVATION_END = "1998-06-30"


def _lifetimes():
    """Import lazily (pandas + autograd are slow to import) and quietly (it sets a pandas option
    pandas 3 deprecates)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import lifetimes
        import lifetimes.utils
    return lifetimes


@dataclass(frozen=True, slots=True)
class CustomerValue:
    customer_id: int
    frequency: int  # repeat purchase occasions
    recency_weeks: float
    age_weeks: float
    average_order_value: float
    p_alive: float
    churn_risk: float
    expected_purchases_90d: float
    clv_12m: float
    cohort: str  # first-purchase month


@dataclass(frozen=True, slots=True)
class ClvReport:
    status: str  # ok | insufficient_data
    message: str
    customers: int
    repeaters: int
    bgnbd_params: dict = field(default_factory=dict)
    gamma_gamma_params: dict = field(default_factory=dict)
    expected_purchases_90d: float | None = None
    clv_12m_total: float | None = None
    clv_12m_mean: float | None = None
    churn_risk: dict = field(default_factory=dict)
    cohorts: list = field(default_factory=list)
    values: tuple[CustomerValue, ...] = ()


def _transactions(store: Store, now: datetime):
    """One row per customer and local day: (customer id, date, net value), summed in the DB."""
    import pandas as pd

    tz = ZoneInfo(store.timezone)
    rows = list(
        counted_orders()
        .filter(store=store, customer__isnull=False, placed_at__lt=now)
        .annotate(day=TruncDate("placed_at", tzinfo=tz))
        .order_by()
        .values_list("customer_id", "day")
        .annotate(value=Sum(net_revenue()))
    )
    frame = pd.DataFrame(rows, columns=["customer_id", "day", "value"])
    frame["day"] = pd.to_datetime(frame["day"])
    frame["value"] = frame["value"].astype(float)
    return frame


def _array(values) -> np.ndarray:
    """lifetimes returns a Series or an ndarray depending on the method."""
    return np.asarray(values, dtype=float)


def fit_models(summary, *, penalizer: float = PENALIZER):
    """BG/NBD on (frequency, recency, T); Gamma-Gamma on repeaters with positive spend."""
    lt = _lifetimes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bgf = lt.BetaGeoFitter(penalizer_coef=penalizer).fit(
            summary["frequency"], summary["recency"], summary["T"]
        )
        repeaters = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
        ggf = lt.GammaGammaFitter(penalizer_coef=penalizer).fit(
            repeaters["frequency"], repeaters["monetary_value"]
        )
    return bgf, ggf


def _fingerprint(store: Store, now: datetime) -> str:
    agg = counted_orders().filter(store=store).aggregate(n=Count("pk"), last=Max("updated_at"))
    basis = f"{store.pk}|{agg['n']}|{agg['last']}|{now.date()}|{store.timezone}"
    return "xsell:clv:" + hashlib.sha256(basis.encode()).hexdigest()[:32]


def store_clv(*, store: Store, now: datetime | None = None, use_cache: bool = True) -> ClvReport:
    """Fit the store's customers and predict each one's next-90-day purchases, 12-month value
    and probability of being alive (churn risk = 1 - it). Cached per store and data version.
    ``now`` defaults to when the store's data ends (``reporting.selectors.data_as_of``)."""
    if now is None:
        from xsell_plugin.reporting.selectors import data_as_of

        now = data_as_of(store=store)
    key = _fingerprint(store, now)
    if use_cache:
        cached = cache.get(key)
        if cached is not None:
            return cached
    report = _store_clv(store, now)
    if use_cache:
        cache.set(key, report, CACHE_SECONDS)
    return report


def _store_clv(store: Store, now: datetime) -> ClvReport:
    lt = _lifetimes()
    tx = _transactions(store, now)
    if tx.empty:
        return ClvReport("insufficient_data", "No orders yet.", 0, 0)
    tz = ZoneInfo(store.timezone)
    end = now.astimezone(tz).date()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = lt.utils.summary_data_from_transaction_data(
            tx,
            "customer_id",
            "day",
            monetary_value_col="value",
            observation_period_end=str(end),
            freq="D",
            freq_multiplier=WEEK_DAYS,
        )
    customers = len(summary)
    repeaters = int(((summary["frequency"] > 0) & (summary["monetary_value"] > 0)).sum())
    if customers < MIN_CUSTOMERS or repeaters < MIN_REPEATERS:
        return ClvReport(
            "insufficient_data",
            f"CLV needs at least {MIN_CUSTOMERS} customers and {MIN_REPEATERS} repeat "
            f"buyers (has {customers} and {repeaters}).",
            customers,
            repeaters,
        )
    try:
        bgf, ggf = fit_models(summary)
    except Exception as exc:  # lifetimes raises ConvergenceError and numpy errors
        return ClvReport("insufficient_data", f"The models did not converge: {exc}", customers, repeaters)
    f, r, t = summary["frequency"], summary["recency"], summary["T"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p_alive = np.clip(_array(bgf.conditional_probability_alive(f, r, t)), 0.0, 1.0)
        expected = _array(
            bgf.conditional_expected_number_of_purchases_up_to_time(PREDICT_DAYS / WEEK_DAYS, f, r, t)
        )
        aov = _array(ggf.conditional_expected_average_profit(f, summary["monetary_value"]))
        clv = _array(
            ggf.customer_lifetime_value(
                bgf,
                f,
                r,
                t,
                summary["monetary_value"],
                time=CLV_MONTHS,
                freq="W",
                discount_rate=MONTHLY_DISCOUNT,
            )
        )
        # The closed forms overflow for a few extreme histories (hyp2f1): those customers get
        # the population's unconditional expectation instead of NaN.
        expected = np.where(
            np.isfinite(expected),
            expected,
            float(bgf.expected_number_of_purchases_up_to_time(PREDICT_DAYS / WEEK_DAYS)),
        )
        clv = np.where(
            np.isfinite(clv),
            clv,
            aov * float(bgf.expected_number_of_purchases_up_to_time(CLV_MONTHS * 52 / 12)),
        )
        p_alive = np.nan_to_num(p_alive, nan=1.0)
    first = tx.groupby("customer_id")["day"].min()
    values = []
    for i, customer_id in enumerate(summary.index):
        d = first.loc[customer_id]
        values.append(
            CustomerValue(
                customer_id=int(customer_id),
                frequency=int(f.iloc[i]),
                recency_weeks=float(r.iloc[i]),
                age_weeks=float(t.iloc[i]),
                average_order_value=float(aov[i]),
                p_alive=float(p_alive[i]),
                churn_risk=float(1 - p_alive[i]),
                expected_purchases_90d=float(expected[i]),
                clv_12m=float(clv[i]),
                cohort=f"{d.year:04d}-{d.month:02d}",
            )
        )
    cohorts: dict[str, list[CustomerValue]] = defaultdict(list)
    for v in values:
        cohorts[v.cohort].append(v)
    risk = np.asarray([v.churn_risk for v in values])
    return ClvReport(
        status="ok",
        message="",
        customers=customers,
        repeaters=repeaters,
        bgnbd_params={k: float(v) for k, v in bgf.params_.items()},
        gamma_gamma_params={k: float(v) for k, v in ggf.params_.items()},
        expected_purchases_90d=float(expected.sum()),
        clv_12m_total=float(clv.sum()),
        clv_12m_mean=float(clv.mean()),
        churn_risk={
            "low": int((risk < 0.3).sum()),
            "medium": int(((risk >= 0.3) & (risk < 0.7)).sum()),
            "high": int((risk >= 0.7).sum()),
            "mean": float(risk.mean()),
        },
        cohorts=[
            {
                "cohort": c,
                "customers": len(vs),
                "clv_12m_mean": float(np.mean([v.clv_12m for v in vs])),
                "p_alive_mean": float(np.mean([v.p_alive for v in vs])),
                "expected_purchases_90d": float(np.sum([v.expected_purchases_90d for v in vs])),
            }
            for c, vs in sorted(cohorts.items())
        ],
        values=tuple(sorted(values, key=lambda v: (-v.clv_12m, v.customer_id))),
    )


# Validation on CDNOW -----------------------------------------------------------------------------


def cdnow_transactions():
    """The CDNOW repeat-purchase data (23,570 customers who first bought in Q1 1997; purchases to
    June 1998), as shipped inside the ``lifetimes`` package."""
    import pandas as pd

    _lifetimes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifetimes.datasets import load_dataset

        tx = load_dataset("CDNOW_master.txt", sep=r"\s+", dtype={"date": str, "customer_id": str})
    tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
    return tx


def cdnow_validation() -> dict:
    """Fit on the 39-week calibration period, predict each customer's repeat purchases in the
    next 39 weeks, and compare with what they did (the Fader-Hardie-Lee 2005 protocol)."""
    lt = _lifetimes()
    tx = cdnow_transactions()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ch = lt.utils.calibration_and_holdout_data(
            tx,
            "customer_id",
            "date",
            calibration_period_end=CDNOW_CALIBRATION_END,
            observation_period_end=CDNOW_OBSERVATION_END,
            freq="D",
            freq_multiplier=WEEK_DAYS,
            monetary_value_col="dollar_value",
        )
        summary = ch.rename(
            columns={
                "frequency_cal": "frequency",
                "recency_cal": "recency",
                "T_cal": "T",
                "monetary_value_cal": "monetary_value",
            }
        )
        bgf, ggf = fit_models(summary, penalizer=0.0)
        predicted = _array(
            bgf.predict(ch["duration_holdout"], ch["frequency_cal"], ch["recency_cal"], ch["T_cal"])
        )
    actual = ch["frequency_holdout"].to_numpy(dtype=float)
    freq = ch["frequency_cal"].to_numpy(dtype=int)
    by_frequency = []
    for k in range(8):
        mask = freq >= k if k == 7 else freq == k
        by_frequency.append(
            {
                "calibration_repeats": f"{k}+" if k == 7 else str(k),
                "customers": int(mask.sum()),
                "predicted_mean": float(predicted[mask].mean()),
                "actual_mean": float(actual[mask].mean()),
            }
        )
    return {
        "customers": len(ch),
        "calibration_end": CDNOW_CALIBRATION_END,
        "observation_end": CDNOW_OBSERVATION_END,
        "holdout_weeks": float(ch["duration_holdout"].iloc[0]),
        "bgnbd_params": {k: float(v) for k, v in bgf.params_.items()},
        "gamma_gamma_params": {k: float(v) for k, v in ggf.params_.items()},
        "predicted_total": float(predicted.sum()),
        "actual_total": float(actual.sum()),
        "correlation": float(np.corrcoef(predicted, actual)[0, 1]),
        "mean_absolute_error": float(np.abs(predicted - actual).mean()),
        "by_calibration_frequency": by_frequency,
    }
