"""The recommendation engine: pure over a fitted model and prefetched data, ``now`` passed in.

Two steps, so fresh catalogue data is fetched only for what can be shown:

1. ``rank(model, request)``: the blended strategies score every model item for this customer
   and keep the best ``pool`` that are not owned or just bought (a few milliseconds);
2. ``recommend(ranking, request, catalog)``: the candidates, in this order — the merchant's
   curation (products pinned to the trigger items, bundles set in our admin, then cross-sell /
   upsell ids), upgrades (upsell mode),
   due consumables (replenish mode), then the blend, with new products not in the model yet
   (cold start from type and tags) — pass every filter (``filters``) against the catalogue as it
   is now, and the first ``limit`` come back, each with its reason.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

import numpy as np
import threadpoolctl

from xsell_plugin.offers.rules import money
from xsell_plugin.recommendations import filters, strategies
from xsell_plugin.recommendations.context import CatalogItem, Mode, Reason, Recommendation, Request
from xsell_plugin.recommendations.strategies import DEFAULT_WEIGHTS, BlendWeights
from xsell_plugin.recommendations.training import DAY, FittedRecs

DEFAULT_POOL = 200
# Upsell: a higher tier of the same product type (or collection, for untyped products), priced
# above the item by at least 10 % and at most 2x.
UPSELL_MIN_RATIO = Decimal("1.10")
UPSELL_MAX_RATIO = Decimal("2.00")
# Replenishment: an item bought in two orders or more is due once the time since its last order
# reaches 80 % of the customer's usual gap for it.
REPLENISH_DUE_RATIO = 0.8
CURATED_SCORE = 1e9


@cache
def _blas() -> threadpoolctl.ThreadpoolController:
    return threadpoolctl.ThreadpoolController()


def _single_threaded():
    """One customer's products are small matrix-vector products: a multi-threaded BLAS spends
    10x their time waking its threads (1 ms instead of 0.1 ms for 68k x 32)."""
    return _blas().limit(limits=1, user_api="blas")


@dataclass(slots=True)
class Ranking:
    """The model's best candidates for one customer (keys, best first)."""

    model: FittedRecs | None
    state: strategies.CustomerState | None
    indices: np.ndarray  # model indices, best first
    scores: np.ndarray
    parts: dict[str, np.ndarray]

    @property
    def keys(self) -> list[int]:
        if self.model is None:
            return []
        return [int(k) for k in self.model.item_keys[self.indices]]

    def evidence(self, position: int) -> strategies.Evidence:
        assert self.model is not None and self.state is not None
        return strategies.explain(self.model, self.state, int(self.indices[position]), self.parts)


def rank(model: FittedRecs | None, request: Request, *, weights: BlendWeights = DEFAULT_WEIGHTS,
         pool: int = DEFAULT_POOL) -> Ranking:
    if model is None or model.n_items == 0:
        return Ranking(None, None, np.zeros(0, dtype=np.int64), np.zeros(0), {})
    with _single_threaded():
        return _rank(model, request, weights, pool)


def _rank(model: FittedRecs, request: Request, weights: BlendWeights, pool: int) -> Ranking:
    now = request.now.timestamp()
    state = strategies.customer_state(model, request.history, request.trigger_keys, now=now,
                                      weights=weights)
    scores = strategies.component_scores(model, state, weights=weights)
    eligible = np.ones(model.n_items, dtype=bool)
    eligible[state.items] = False
    eligible[state.trigger] = False
    total, parts = strategies.blend(scores, eligible, weights=weights)
    top = strategies.top_indices(total, pool)
    return Ranking(model, state, top, total[top], parts)


def needed_keys(ranking: Ranking, request: Request) -> set[int]:
    """Products the caller must load (fresh) before ``recommend``: the ranked candidates, the
    trigger items and their bundles' add-ons."""
    keys = set(ranking.keys) | set(request.trigger_keys)
    for trigger in request.trigger_keys:
        keys.update(request.bundle_addons.get(trigger, ()))
        keys.update(request.pinned.get(trigger, ()))
    return keys


@dataclass(frozen=True, slots=True)
class _Candidate:
    key: int
    score: float
    strategy: str
    reason: Reason | None = None  # None: explained from the ranking when chosen
    position: int | None = None


def recommend(ranking: Ranking, request: Request, catalog: Mapping[int, CatalogItem], *,
              titles: Mapping[int, str] | None = None, weights: BlendWeights = DEFAULT_WEIGHTS,
              with_reasons: bool = True) -> list[Recommendation]:
    """The first ``request.limit`` candidates that pass every filter, with their reasons.

    ``catalog`` holds the products as they are now (at least ``needed_keys``, plus any product
    of the trigger items' types for upgrades and new arrivals); ``titles`` names bought products
    that are not in it (for reasons such as "bought together with X"). ``with_reasons=False``
    skips explaining model candidates (the offline evaluation, which only reads the ranking).
    """
    with _single_threaded():
        return _recommend(ranking, request, catalog, titles, weights, with_reasons)


def _recommend(ranking: Ranking, request: Request, catalog: Mapping[int, CatalogItem],
               titles: Mapping[int, str] | None, weights: BlendWeights,
               with_reasons: bool) -> list[Recommendation]:
    titles = dict(titles or {})
    for item in catalog.values():
        titles.setdefault(item.key, item.title)
    ctx = filter_context(ranking.model, request, catalog)
    chosen: list[Recommendation] = []
    seen: set[int] = set()
    for candidate in _candidates(ranking, request, catalog, weights):
        if len(chosen) >= request.limit:
            break
        if candidate.key in seen:
            continue
        item = catalog.get(candidate.key)
        if item is None or filters.rejection(item, ctx) is not None:
            continue
        seen.add(candidate.key)
        reason = candidate.reason or (_model_reason(ranking, candidate.position, titles)
                                      if with_reasons else Reason("model", ""))
        chosen.append(Recommendation(
            key=item.key, external_id=item.external_id, title=item.title, price=item.price,
            strategy=candidate.strategy if candidate.reason else reason.code, reason=reason,
            score=candidate.score, variant_external_id=item.variant_external_id))
    return chosen


def filter_context(model: FittedRecs | None, request: Request,
                   catalog: Mapping[int, CatalogItem]) -> filters.FilterContext:
    owned = frozenset(np.unique(request.history.items).tolist())
    owned_types = set(request.history_types)
    candidate_types = {item.product_type for item in catalog.values()}
    types = owned_types | candidate_types
    rates: dict[str, tuple[float, int]] = {}
    if model is not None:
        position = _type_positions(model)
        for t in types:
            i = position.get(t)
            if i is not None:
                rates[t] = (float(model.type_repeat_rate[i]), int(model.type_buyers[i]))
    # The price heuristic is only needed for types with too few buyers to judge.
    judged = {t for t, (_, buyers) in rates.items() if buyers >= filters.DURABLE_MIN_BUYERS}
    typical: dict[str, list[Decimal]] = {}
    for item in catalog.values():
        if item.product_type not in judged:
            typical.setdefault(item.product_type, []).append(item.price)
    durable = filters.durable_types(
        types, overrides=request.durable_overrides, repeat_rates=rates,
        typical_prices={t: money(Decimal(statistics.median(p))) for t, p in typical.items() if p})
    price_range = request.price_range
    if price_range is None:
        price_range = filters.customer_price_range(request.history.prices)
    return filters.FilterContext(
        owned_keys=owned, owned_durable_types=frozenset(owned_types & durable),
        durable_types=durable, trigger_keys=frozenset(request.trigger_keys),
        recently_emailed=frozenset(request.recently_emailed), price_range=price_range,
        incentive=request.incentive, margin_floor=request.margin_floor,
        allow_owned_consumables=request.mode == Mode.REPLENISH,
        excluded=frozenset(request.excluded),
    )


def _type_positions(model: FittedRecs) -> dict[str, int]:
    if "type_positions" not in model.cache:
        model.cache["type_positions"] = {name: i for i, name in enumerate(model.type_names)}
    return model.cache["type_positions"]


def _candidates(ranking: Ranking, request: Request, catalog: Mapping[int, CatalogItem],
                weights: BlendWeights) -> Iterable[_Candidate]:
    triggers = [catalog[k] for k in request.trigger_keys if k in catalog]
    yield from _curated(triggers, request)
    if request.mode == Mode.UPSELL:
        yield from upgrades(triggers, catalog, ranking.model)
    if request.mode == Mode.REPLENISH:
        yield from due_consumables(request, titles={k: v.title for k, v in catalog.items()})
    yield from _blended(ranking, request, catalog, triggers, weights)


def _curated(triggers: Sequence[CatalogItem], request: Request) -> Iterable[_Candidate]:
    """The merchant's picks, always first: products pinned in our admin, our admin's bundles,
    then the platform's lists. (Like every candidate they still pass the filters: in stock,
    not owned, within the margin floor.)"""
    score = CURATED_SCORE
    for trigger in triggers:
        for key in request.pinned.get(trigger.key, ()):
            score -= 1
            yield _Candidate(key, score, "pinned", Reason(
                "pinned", "Picked by the store", source_key=trigger.key))
    for trigger in triggers:
        for key in request.bundle_addons.get(trigger.key, ()):
            score -= 1
            yield _Candidate(key, score, "bundle", Reason(
                "bundle", f"Goes with {trigger.title} in the store's bundle", source_key=trigger.key))
    lists = ("upsell_keys", "cross_sell_keys") if request.mode == Mode.UPSELL else (
        "cross_sell_keys", "upsell_keys")
    for name in lists:
        for trigger in triggers:
            for key in getattr(trigger, name):
                score -= 1
                yield _Candidate(key, score, "curated", Reason(
                    "curated", "Picked by the store", source_key=trigger.key))


def upgrades(triggers: Sequence[CatalogItem], catalog: Mapping[int, CatalogItem],
             model: FittedRecs | None) -> list[_Candidate]:
    """Higher tiers of the same product type (or a shared collection for untyped products),
    priced in the band, most popular first, then cheapest."""
    out = []
    for trigger in triggers:
        low, high = trigger.price * UPSELL_MIN_RATIO, trigger.price * UPSELL_MAX_RATIO
        for item in catalog.values():
            if item.key == trigger.key or not low <= item.price <= high:
                continue
            same = (item.product_type == trigger.product_type if trigger.product_type
                    else bool(set(item.collection_ids) & set(trigger.collection_ids)))
            if not same:
                continue
            popularity = 0.0
            if model is not None and (idx := model.index_of(item.key)) is not None:
                popularity = float(model.popularity[idx])
            out.append((-popularity, item.price, item.key, _Candidate(
                item.key, 1e6 + popularity, "upgrade",
                Reason("upgrade", f"Upgrade from {trigger.title}", source_key=trigger.key))))
    return [c for *_, c in sorted(out, key=lambda row: row[:3])]


def due_consumables(request: Request, *, titles: Mapping[int, str]) -> list[_Candidate]:
    """Items bought in two orders or more whose usual gap has (nearly) passed, most due first."""
    history = request.history
    if not len(history):
        return []
    now = request.now.timestamp()
    per_item: dict[int, set[float]] = {}
    for key, at in zip(history.items.tolist(), history.at.tolist(), strict=True):
        per_item.setdefault(int(key), set()).add(float(at))
    due = []
    for key, times in per_item.items():
        if len(times) < 2:
            continue
        ordered = sorted(times)
        gap = statistics.median(b - a for a, b in itertools.pairwise(ordered))
        since = now - ordered[-1]
        if gap <= 0 or since < REPLENISH_DUE_RATIO * gap:
            continue
        days = int(since // DAY)
        due.append((abs(math.log(since / gap)), key, _Candidate(
            key, 1e3 - abs(math.log(since / gap)), "replenish",
            Reason("replenish", f"You last bought it {days} days ago", count=days, source_key=key))))
    return [c for *_, c in sorted(due, key=lambda row: row[:2])]


def _blended(ranking: Ranking, request: Request, catalog: Mapping[int, CatalogItem],
             triggers: Sequence[CatalogItem], weights: BlendWeights) -> Iterable[_Candidate]:
    """The model's ranking, with products it has never seen (new since the fit, or no model at
    all) merged in by their type and tags: the cold start."""
    cold = cold_start(triggers, catalog, ranking.model, request)
    cold_score = 0.5 * (weights.product_type or 1.0)
    i = 0
    for position, key in enumerate(ranking.keys):
        score = float(ranking.scores[position])
        while i < len(cold) and cold[i].score * cold_score >= score:
            c = cold[i]
            yield _Candidate(c.key, c.score * cold_score, c.strategy, c.reason)
            i += 1
        yield _Candidate(key, score, "model", None, position)
    for c in cold[i:]:
        yield _Candidate(c.key, c.score * cold_score, c.strategy, c.reason)


def cold_start(triggers: Sequence[CatalogItem], catalog: Mapping[int, CatalogItem],
               model: FittedRecs | None, request: Request) -> list[_Candidate]:
    """Catalogue items the model does not know, sharing the trigger items' type or tags:
    score = 1 for the same type, plus the share of the trigger's tags they carry."""
    if not triggers:
        return []
    items = list(catalog.values())
    if model is not None and items:
        keys = np.fromiter((i.key for i in items), dtype=np.int64, count=len(items))
        known = set(model.item_keys[model.indices(keys)].tolist())
        items = [i for i in items if i.key not in known]
    out = []
    for item in items:
        best, source = 0.0, None
        for trigger in triggers:
            if item.key == trigger.key:
                continue
            score = 1.0 if item.product_type and item.product_type == trigger.product_type else 0.0
            if trigger.tags:
                score += len(set(item.tags) & set(trigger.tags)) / len(trigger.tags)
            if score > best:
                best, source = score, trigger
        if best > 0 and source is not None:
            label = item.product_type or source.product_type or "the shop"
            out.append(_Candidate(item.key, best / 2, "cold_start", Reason(
                "new_in_type", f"New in {label}", source_key=source.key)))
    out.sort(key=lambda c: (-c.score, c.key))
    return out


def _model_reason(ranking: Ranking, position: int | None, titles: Mapping[int, str]) -> Reason:
    assert ranking.model is not None and position is not None
    model = ranking.model
    evidence = ranking.evidence(position)
    source_key = (int(model.item_keys[evidence.source_index])
                  if evidence.source_index is not None else None)
    source = titles.get(source_key, "") if source_key is not None else ""
    days = int(model.params.get("popularity_days", 28))
    if evidence.strategy == strategies.COPURCHASE:
        times = f"{evidence.count} time" + ("" if evidence.count == 1 else "s")
        text = (f"Bought together with {source} {times}" if source
                else f"Bought together {times}")
        return Reason("bought_together", text, count=evidence.count, source_key=source_key)
    if evidence.strategy == strategies.SIMILARITY and source:
        return Reason("similar", f"Customers who buy {source} also buy this", source_key=source_key)
    if evidence.strategy == strategies.FACTORISATION:
        return Reason("for_you", "Picked for you from your past orders")
    if evidence.strategy == strategies.NEIGHBOURS:
        return Reason("like_you", "Customers with baskets like yours bought it recently")
    if evidence.strategy == strategies.PRODUCT_TYPE:
        idx = int(ranking.indices[position])
        label = model.type_of(idx) or "this range"
        return Reason("product_type", f"Popular in {label}, which you buy")
    count = int(model.popularity[int(ranking.indices[position])])
    noun = "customer" if count == 1 else "customers"
    return Reason("popular", f"Popular: bought by {count} {noun} in the last {days} days",
                  count=count)
