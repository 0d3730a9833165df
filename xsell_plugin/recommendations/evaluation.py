"""Offline evaluation on the Complete Journey data: our engine against popularity-of-last-28-days.

Protocol (time split; docs/recommendations.md has the figures):

- A split trains on every basket before the first test week (the cut) and tests on the
  households with a basket in the test weeks: their first basket there is the **trigger purchase**
  and the **next basket** after it (whenever it comes) is what they went on to buy.
- Targets are the next basket's products **new to the customer** (not in any basket up to and
  including the trigger); households whose next basket has none are skipped.
- Both models see the same data: what was bought before the cut (to fit), and the customer's
  own baskets up to the trigger (their history). Both exclude what the customer owns.
- Popularity-of-last-28-days ranks products by distinct households in the 28 days before the cut.
  Ours is the production path: ``training.fit`` at the cut, then ``engine.rank`` and
  ``engine.recommend`` (cross-sell mode: never owned, not just bought, within the customer's price
  range) for each trigger.
- Metrics: HR@3, HR@10 (share of cases with a target in the top 3 / 10) and MRR@10, at product
  level on the top 10 products, and at product-type level on the first 10 distinct types of the
  top 50 products against the targets' types.

Week numbers are the data's: week 1 is Sunday 2017-01-01, week n >= 2 starts on Monday
2017-01-02 + 7 (n - 2) days, at midnight in the stores' time zone (America/New_York).
Data: the whole package (the ``demo`` extra) when it is installed, else the committed sample
(July to December 2017 only, so early splits have little to train on there).
"""

from __future__ import annotations

import csv
import gzip
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np

from xsell_plugin.demo import sample
from xsell_plugin.recommendations import engine, training
from xsell_plugin.recommendations.context import CatalogItem, Request
from xsell_plugin.recommendations.strategies import DEFAULT_WEIGHTS, BlendWeights, History

STORE_TZ = ZoneInfo(sample.STORE_TIMEZONE)
WEEK_TWO = datetime(2017, 1, 2, tzinfo=STORE_TZ)
POPULARITY_DAYS = 28
TOP_PRODUCTS = 50  # the list the type-level metrics read
KS = (3, 10)


@dataclass(frozen=True, slots=True)
class Split:
    train_to_week: int
    test_from_week: int
    test_to_week: int
    # "tuning": weights and parameters were chosen on it; "report": never used to choose any;
    # "holdout": a report split added last and looked at only for the final figures
    role: str = "report"

    @property
    def name(self) -> str:
        return (f"train <= w{self.train_to_week}, "
                f"test w{self.test_from_week}-{self.test_to_week}")


TUNING_SPLIT = Split(20, 21, 24, "tuning")
REPORT_SPLITS = (Split(30, 31, 34), Split(40, 41, 44), Split(46, 47, 50, "holdout"))
DEFAULT_SPLITS = (TUNING_SPLIT, *REPORT_SPLITS)


def week_start(week: int) -> datetime:
    if week <= 1:
        return datetime(2017, 1, 1, tzinfo=STORE_TZ)
    # Local midnights: add days as dates, not 24 h spans (DST).
    day = WEEK_TWO.date() + timedelta(days=7 * (week - 2))
    return datetime(day.year, day.month, day.day, tzinfo=STORE_TZ)


@dataclass(frozen=True, slots=True)
class EvalData:
    label: str
    households: np.ndarray  # int64 per line
    baskets: np.ndarray  # int64
    items: np.ndarray  # int64 product ids
    at: np.ndarray  # float64 epoch seconds
    prices: np.ndarray  # float64 unit list price
    product_types: dict[int, str]
    list_prices: dict[int, Decimal]


def load_data(*, prefer_package: bool = True, limit_households: int | None = None) -> EvalData:
    """The whole package data when installed (and preferred), else the committed sample."""
    data = _package_data() if prefer_package and not sample.missing_modules() else _sample_data()
    if limit_households is not None:
        keep = np.unique(data.households)[:max(limit_households, 0)]
        mask = np.isin(data.households, keep)
        data = EvalData(
            label=f"{data.label}, {len(keep)} lowest household ids", households=data.households[mask],
            baskets=data.baskets[mask], items=data.items[mask], at=data.at[mask],
            prices=data.prices[mask], product_types=data.product_types,
            list_prices=data.list_prices)
    return data


def _package_data() -> EvalData:
    frames = sample.package_frames()
    t = frames.transactions
    p = frames.products
    stamps = t["transaction_timestamp"].to_numpy().astype("datetime64[ns]").astype(np.int64) / 1e9
    list_amount = (t["sales_value"] + t["retail_disc"] + t["coupon_match_disc"]).to_numpy()
    prices = list_amount / np.maximum(t["quantity"].to_numpy(), 1)
    types = {int(k): str(v) if isinstance(v, str) else ""
             for k, v in zip(p["product_id"], p["product_type"], strict=True)}
    list_prices = {int(k): Decimal(str(v)) for k, v in zip(p["product_id"], p["list_price"],
                                                          strict=True)}
    return EvalData(
        label=f"full package data ({sample.PACKAGE_DIST})",
        households=t["household_id"].to_numpy(np.int64), baskets=t["basket_id"].to_numpy(np.int64),
        items=t["product_id"].to_numpy(np.int64), at=stamps.astype(np.float64),
        prices=prices.astype(np.float64), product_types=types, list_prices=list_prices)


def _sample_data() -> EvalData:
    def rows(name: str):
        with gzip.open(sample.DATA_DIR / name, "rb") as raw, io.TextIOWrapper(
                raw, encoding="utf-8", newline="") as text:
            yield from csv.DictReader(text)

    types, list_prices = {}, {}
    for row in rows(sample.PRODUCTS_FILE):
        key = int(row["product_id"])
        types[key] = row["product_type"]
        list_prices[key] = Decimal(row["list_price"])
    hh, bk, it, at, pr = [], [], [], [], []
    for row in rows(sample.TRANSACTIONS_FILE):
        quantity = max(int(row["quantity"]), 1)
        hh.append(int(row["household_id"]))
        bk.append(int(row["basket_id"]))
        it.append(int(row["product_id"]))
        at.append(datetime.fromisoformat(row["transaction_timestamp"]).timestamp())
        pr.append((float(row["sales_value"]) + float(row["retail_disc"])
                   + float(row["coupon_match_disc"])) / quantity)
    return EvalData(label="committed demo sample (Jul-Dec 2017)",
                    households=np.asarray(hh, dtype=np.int64), baskets=np.asarray(bk, dtype=np.int64),
                    items=np.asarray(it, dtype=np.int64), at=np.asarray(at, dtype=np.float64),
                    prices=np.asarray(pr, dtype=np.float64), product_types=types,
                    list_prices=list_prices)


@dataclass(slots=True)
class _Case:
    household: int
    trigger_at: float
    trigger_items: tuple[int, ...]
    history: History
    history_types: tuple[str, ...]
    targets: np.ndarray


def _cases(data: EvalData, split: Split) -> list[_Case]:
    cut = week_start(split.test_from_week).timestamp()
    end = week_start(split.test_to_week + 1).timestamp()
    order = np.lexsort((data.items, data.at, data.baskets, data.households))
    hh, bk, it, at, pr = (a[order] for a in (data.households, data.baskets, data.items, data.at,
                                             data.prices))
    # basket time = its first line's time; baskets of a household in time order
    basket_ids, first = np.unique(bk, return_index=True)
    basket_at = dict(zip(basket_ids.tolist(), at[first].tolist(), strict=True))
    cases = []
    bounds = np.flatnonzero(np.diff(hh)) + 1
    for start, stop in zip(np.r_[0, bounds], np.r_[bounds, len(hh)], strict=True):
        baskets = sorted(set(bk[start:stop].tolist()), key=lambda b: (basket_at[b], b))
        times = [basket_at[b] for b in baskets]
        trigger = next((i for i, t in enumerate(times) if cut <= t < end), None)
        if trigger is None or trigger + 1 >= len(baskets):
            continue
        line_at = np.asarray([basket_at[b] for b in bk[start:stop].tolist()])
        upto = line_at <= times[trigger]
        trig_mask = bk[start:stop] == baskets[trigger]
        next_mask = bk[start:stop] == baskets[trigger + 1]
        owned = set(it[start:stop][upto].tolist())
        targets = np.asarray(sorted(set(it[start:stop][next_mask].tolist()) - owned), dtype=np.int64)
        if not len(targets):
            continue
        items = it[start:stop][upto]
        cases.append(_Case(
            household=int(hh[start]), trigger_at=times[trigger],
            trigger_items=tuple(sorted(set(it[start:stop][trig_mask].tolist()))),
            history=History(items=items, at=line_at[upto], orders=bk[start:stop][upto],
                            prices=pr[start:stop][upto]),
            history_types=tuple(data.product_types.get(int(k), "") for k in items),
            targets=targets))
    return cases


def _metrics(ranked: Sequence[Sequence[int]], cases: Sequence[_Case],
             types: dict[int, str]) -> dict[str, dict[str, float]]:
    product = {f"hr@{k}": 0.0 for k in KS} | {"mrr@10": 0.0}
    by_type = {f"hr@{k}": 0.0 for k in KS} | {"mrr@10": 0.0}
    for keys, case in zip(ranked, cases, strict=True):
        targets = set(case.targets.tolist())
        target_types = {types.get(k, "") for k in targets} - {""}
        first = next((i for i, k in enumerate(keys[:10]) if k in targets), None)
        distinct = list(dict.fromkeys(t for t in (types.get(k, "") for k in keys) if t))[:10]
        first_type = next((i for i, t in enumerate(distinct) if t in target_types), None)
        for out, hit in ((product, first), (by_type, first_type)):
            if hit is None:
                continue
            for k in KS:
                out[f"hr@{k}"] += hit < k
            out["mrr@10"] += 1.0 / (hit + 1)
    n = max(len(cases), 1)
    return {"product": {k: round(v / n, 4) for k, v in product.items()},
            "product_type": {k: round(v / n, 4) for k, v in by_type.items()}}


def _uplift(ours: dict, base: dict) -> dict:
    return {level: {k: (round((ours[level][k] / base[level][k] - 1) * 100, 1)
                        if base[level][k] else None) for k in ours[level]}
            for level in ours}


def _popularity_lists(data: EvalData, cut: float, cases: Sequence[_Case]) -> list[list[int]]:
    window = (data.at >= cut - POPULARITY_DAYS * training.DAY) & (data.at < cut)
    pairs = np.unique(np.stack([data.households[window], data.items[window]]), axis=1)
    keys, counts = np.unique(pairs[1], return_counts=True)
    ranked = keys[np.lexsort((keys, -counts))].tolist()
    out = []
    for case in cases:
        owned = set(case.history.items.tolist())
        picked = []
        for key in ranked:
            if key not in owned:
                picked.append(key)
                if len(picked) == TOP_PRODUCTS:
                    break
        out.append(picked)
    return out


def _our_lists(data: EvalData, model: training.FittedRecs, cases: Sequence[_Case],
               weights: BlendWeights) -> tuple[list[list[int]], list[float]]:
    out, seconds = [], []
    catalog_cache: dict[int, CatalogItem] = {}

    def item(key: int) -> CatalogItem:
        found = catalog_cache.get(key)
        if found is None:
            found = catalog_cache[key] = CatalogItem(
                key=key, external_id=str(key), title=str(key),
                price=data.list_prices.get(key, Decimal("0")),
                product_type=data.product_types.get(key, ""))
        return found

    for case in cases:
        started = time.perf_counter()
        request = Request(history=case.history, now=datetime.fromtimestamp(case.trigger_at + 1,
                                                                           tz=STORE_TZ),
                          trigger_keys=case.trigger_items, limit=TOP_PRODUCTS,
                          history_types=case.history_types, margin_floor=Decimal("0"))
        ranking = engine.rank(model, request, weights=weights)
        catalog = {k: item(k) for k in engine.needed_keys(ranking, request)}
        chosen = engine.recommend(ranking, request, catalog, weights=weights, with_reasons=False)
        seconds.append(time.perf_counter() - started)
        out.append([r.key for r in chosen])
    return out, seconds


def evaluate(*, splits: Sequence[Split] = DEFAULT_SPLITS, limit_households: int | None = None,
             prefer_package: bool = True, weights: BlendWeights = DEFAULT_WEIGHTS,
             params: training.FitParams | None = None, data: EvalData | None = None) -> dict:
    """Run every split; returns a JSON-ready dict (see ``docs/recommendations.md``)."""
    params = params or training.FitParams()
    data = data or load_data(prefer_package=prefer_package, limit_households=limit_households)
    results = []
    for split in splits:
        cut = week_start(split.test_from_week).timestamp()
        cases = _cases(data, split)
        started = time.perf_counter()
        before = data.at < cut
        model = training.fit(
            training.Interactions(customers=data.households[before], orders=data.baskets[before],
                                  items=data.items[before], at=data.at[before]),
            item_types=data.product_types, now=cut, params=params)
        fit_seconds = time.perf_counter() - started
        baseline = _metrics(_popularity_lists(data, cut, cases), cases, data.product_types)
        lists, seconds = _our_lists(data, model, cases, weights)
        ours = _metrics(lists, cases, data.product_types)
        results.append({
            "split": split.name, "role": split.role, "train_to_week": split.train_to_week,
            "test_weeks": [split.test_from_week, split.test_to_week],
            "cut": week_start(split.test_from_week).isoformat(), "cases": len(cases),
            "fit_seconds": round(fit_seconds, 2),
            "recommend_ms_mean": round(1000 * float(np.mean(seconds)), 3) if seconds else None,
            "models": {"popularity_28d": baseline, "xsell": ours},
            "uplift_percent": _uplift(ours, baseline),
        })
    return {
        "data": data.label, "lines": len(data.items),
        "households": len(np.unique(data.households)),
        "protocol": "next basket after the trigger purchase, products new to the customer",
        "weights": {k: getattr(weights, k) for k in weights.__dataclass_fields__},
        "params": params.as_dict(), "splits": results,
    }


def latency_benchmark(*, customers: int = 500, limit_households: int | None = None,
                      prefer_package: bool = True, split: Split = REPORT_SPLITS[-1],
                      data: EvalData | None = None) -> dict:
    """Per-customer recommendation time from a fitted model (rank + filters + reasons, the
    catalogue already in memory): wall-clock mean, p50, p95, p99 and the mean CPU time of the
    thread (what a loaded machine cannot inflate), in milliseconds."""
    data = data or load_data(prefer_package=prefer_package, limit_households=limit_households)
    cut = week_start(split.test_from_week).timestamp()
    before = data.at < cut
    model = training.fit(
        training.Interactions(customers=data.households[before], orders=data.baskets[before],
                              items=data.items[before], at=data.at[before]),
        item_types=data.product_types, now=cut)
    cases = _cases(data, split)[:customers]
    catalog = {k: CatalogItem(key=k, external_id=str(k), title=str(k), price=p,
                              product_type=data.product_types.get(k, ""))
               for k, p in data.list_prices.items()}
    timings, cpu = [], []
    for case in cases:
        request = Request(history=case.history, now=datetime.fromtimestamp(case.trigger_at + 1,
                                                                           tz=STORE_TZ),
                          trigger_keys=case.trigger_items, limit=3,
                          history_types=case.history_types)
        started, started_cpu = time.perf_counter(), time.thread_time()
        ranking = engine.rank(model, request)
        needed = {k: catalog[k] for k in engine.needed_keys(ranking, request) if k in catalog}
        engine.recommend(ranking, request, needed)
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
    ms = np.asarray(timings) if timings else np.zeros(1)
    return {"customers": len(timings), "items": model.n_items, "data": data.label,
            "mean_ms": round(float(ms.mean()), 3), "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p95_ms": round(float(np.percentile(ms, 95)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "cpu_mean_ms": round(float(np.mean(cpu)) if cpu else 0.0, 3)}
