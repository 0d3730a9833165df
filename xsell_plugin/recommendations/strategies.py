"""The learned strategies, scored for one customer from a fitted model (pure, ``now`` passed in).

Each strategy gives every model item a non-negative score; ``blend`` scales each to [0, 1] by
its best eligible item and adds them with the weights in ``BlendWeights`` (chosen on a tuning
split of the Complete Journey data, see docs/recommendations.md). ``explain`` says which
strategy carried an item and with what evidence, for the reason shown in the admin and the email.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from xsell_plugin.recommendations.training import DAY, FittedRecs, half_life_weights, item_idf

POPULARITY = "popularity"
FACTORISATION = "factorisation"
SIMILARITY = "similarity"
COPURCHASE = "copurchase"
PRODUCT_TYPE = "product_type"
NEIGHBOURS = "neighbours"
COMPONENTS = (POPULARITY, FACTORISATION, SIMILARITY, COPURCHASE, PRODUCT_TYPE, NEIGHBOURS)


@dataclass(frozen=True, slots=True)
class BlendWeights:
    """How much each strategy counts. Chosen by coordinate ascent on HR@10 (product and type
    level) of the tuning split only (train to week 20, test weeks 21-24); see the docs."""

    popularity: float = 0.5
    factorisation: float = 2.0
    similarity: float = 1.0
    copurchase: float = 1.0
    product_type: float = 1.0
    neighbours: float = 0.5
    history_half_life_days: float = 28.0  # recent purchases count more for the similarity
    type_share_smoothing: float = 0.1  # additive smoothing of an item's share of its type

    def of(self, component: str) -> float:
        return float(getattr(self, component))


DEFAULT_WEIGHTS = BlendWeights()


@dataclass(frozen=True, slots=True)
class History:
    """A customer's order lines as parallel arrays (keys, epoch seconds, order keys, unit
    prices), oldest first or in any order."""

    items: np.ndarray
    at: np.ndarray
    orders: np.ndarray
    prices: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def empty(cls) -> History:
        z = np.zeros(0)
        return cls(items=z.astype(np.int64), at=z, orders=z.astype(np.int64), prices=z)

    @classmethod
    def from_lines(cls, lines) -> History:
        """``lines``: (item key, epoch seconds, order key, unit price) tuples."""
        lines = list(lines)
        if not lines:
            return cls.empty()
        items, at, orders, prices = zip(*lines, strict=True)
        return cls(items=np.asarray(items, dtype=np.int64), at=np.asarray(at, dtype=np.float64),
                   orders=np.asarray(orders, dtype=np.int64),
                   prices=np.asarray([float(p) for p in prices], dtype=np.float64))

    def __len__(self) -> int:
        return len(self.items)


@dataclass(slots=True)
class CustomerState:
    """A customer's history in the model's index space."""

    items: np.ndarray  # distinct model indices bought
    orders: np.ndarray  # distinct orders with the item (per entry of items)
    recency: np.ndarray  # sum over those orders of 0.5 ** (age / half-life)
    trigger: np.ndarray  # model indices of the trigger items (just bought / in the cart)


def customer_state(model: FittedRecs, history: History, trigger_keys, *, now: float,
                   weights: BlendWeights = DEFAULT_WEIGHTS) -> CustomerState:
    trigger = model.indices(np.asarray(list(trigger_keys), dtype=np.int64))
    if len(history):
        pos = np.searchsorted(model.item_keys, history.items)
        pos = np.minimum(pos, max(model.n_items - 1, 0))
        known = (model.item_keys[pos] == history.items) if model.n_items else np.zeros(
            len(history), dtype=bool)
        idx, orders, at = pos[known], history.orders[known], history.at[known]
    else:
        idx = orders = np.zeros(0, dtype=np.int64)
        at = np.zeros(0)
    if len(idx):
        pairs, first = np.unique(np.stack([idx, orders]), axis=1, return_index=True)
        pair_at = at[first]
        items, inverse = np.unique(pairs[0], return_inverse=True)
        counts = np.bincount(inverse, minlength=len(items)).astype(np.float64)
        ages = (now - pair_at) / DAY
        recency = np.bincount(inverse, weights=half_life_weights(ages, weights.history_half_life_days),
                              minlength=len(items))
    else:
        items = np.zeros(0, dtype=np.int64)
        counts = recency = np.zeros(0)
    return CustomerState(items=items, orders=counts, recency=recency, trigger=trigger)


def _type_tables(model: FittedRecs, smoothing: float) -> tuple[np.ndarray, np.ndarray]:
    """(share of each item in its type's recent popularity, smoothed; item -> type index)."""
    key = ("type_share", smoothing)
    if key in model.cache:
        return model.cache[key]
    n_types = len(model.type_names)
    typed = model.item_type >= 0
    t = np.where(typed, model.item_type, 0)
    type_pop = np.bincount(t[typed], weights=model.popularity[typed], minlength=max(n_types, 1))
    type_count = np.bincount(t[typed], minlength=max(n_types, 1)).astype(np.float64)
    share = (model.popularity + smoothing) / (type_pop[t] + smoothing * np.maximum(type_count[t], 1))
    share = np.where(typed, share, 0.0)
    model.cache[key] = (share, t)
    return share, t


def component_scores(model: FittedRecs, state: CustomerState, *,
                     weights: BlendWeights = DEFAULT_WEIGHTS) -> dict[str, np.ndarray]:
    """Each strategy's raw score for every model item (only the ones with a weight)."""
    n = model.n_items
    scores: dict[str, np.ndarray] = {}
    if weights.popularity:
        scores[POPULARITY] = model.popularity
    if weights.factorisation:
        scores[FACTORISATION] = factorisation_scores(model, state)
    if weights.similarity:
        if len(state.items) and model.similarity.nnz:
            rows = model.similarity[state.items]
            scores[SIMILARITY] = np.asarray(rows.T @ state.recency).ravel()
        else:
            scores[SIMILARITY] = np.zeros(n)
    if weights.copurchase:
        scores[COPURCHASE] = copurchase_scores(model, state)
    if weights.product_type:
        scores[PRODUCT_TYPE] = product_type_scores(model, state, weights.type_share_smoothing)
    if weights.neighbours:
        scores[NEIGHBOURS] = neighbour_scores(model, state)
    return scores


def neighbour_scores(model: FittedRecs, state: CustomerState) -> np.ndarray:
    """What the customers most like this one (cosine of idf-weighted purchase profiles) bought
    in the popularity window, weighted by how alike they are."""
    items = np.union1d(state.items, state.trigger)
    profiles = model.customer_items
    if not len(items) or profiles.nnz == 0:
        return np.zeros(model.n_items)
    idf = _idf(model)[items]
    norm = float(np.sqrt(idf @ idf))
    if norm <= 0:
        return np.zeros(model.n_items)
    similarity = np.asarray(profiles[:, items] @ (idf / norm)).ravel()
    k = min(int(model.params.get("neighbour_customers", 50)), len(similarity))
    nearest = np.argpartition(-similarity, k - 1)[:k]
    nearest = nearest[similarity[nearest] > 0]
    if not len(nearest):
        return np.zeros(model.n_items)
    return np.asarray(model.recent_items[nearest].T @ similarity[nearest]).ravel()


def _idf(model: FittedRecs) -> np.ndarray:
    if "idf" not in model.cache:
        model.cache["idf"] = item_idf(model.buyers, model.customer_items.shape[0])
    return model.cache["idf"]


def factorisation_scores(model: FittedRecs, state: CustomerState) -> np.ndarray:
    """ALS fold-in: solve the customer's factors from their history against the fitted item
    factors (the same least squares ALS solves for every customer), then score every item."""
    items, counts = state.items, state.orders
    if len(state.trigger):
        extra = np.setdiff1d(state.trigger, items)
        items = np.concatenate([items, extra])
        counts = np.concatenate([counts, np.ones(len(extra))])
    if not len(items) or not model.item_factors.size:
        return np.zeros(model.n_items)
    alpha = float(model.params.get("alpha", 1.0))
    reg = float(model.params.get("regularization", 0.05))
    y = model.item_factors[items].astype(np.float64)
    confidence = alpha * (1.0 + np.log(counts))
    a = model.gram + reg * np.eye(model.gram.shape[0]) + (y.T * (confidence - 1.0)) @ y
    b = y.T @ confidence
    try:
        user = np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        user = np.linalg.lstsq(a, b, rcond=None)[0]
    return model.item_factors @ user.astype(np.float32)


def copurchase_scores(model: FittedRecs, state: CustomerState) -> np.ndarray:
    if not len(state.trigger) or not model.copurchase.nnz:
        return np.zeros(model.n_items)
    return np.asarray(model.copurchase[state.trigger].sum(axis=0)).ravel()


def product_type_scores(model: FittedRecs, state: CustomerState, smoothing: float) -> np.ndarray:
    """The customer's share of purchases in an item's type (recency-weighted; the trigger
    items count as one recent purchase each: the cold start) x the item's share of its type."""
    n_types = len(model.type_names)
    if not n_types:
        return np.zeros(model.n_items)
    share, t = _type_tables(model, smoothing)
    affinity = np.zeros(n_types)
    for idx, weight in ((state.items, state.recency), (state.trigger, np.ones(len(state.trigger)))):
        typed = model.item_type[idx] >= 0
        if typed.any():
            affinity += np.bincount(model.item_type[idx][typed], weights=weight[typed],
                                    minlength=n_types)
    total = affinity.sum()
    if total <= 0:
        return np.zeros(model.n_items)
    return np.where(model.item_type >= 0, (affinity / total)[t] * share, 0.0)


def blend(scores: dict[str, np.ndarray], eligible: np.ndarray, *,
          weights: BlendWeights = DEFAULT_WEIGHTS) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The weighted sum of the scaled scores (ineligible items: -inf) and each strategy's
    weighted part (for the reasons)."""
    ineligible = ~eligible
    total = np.zeros(len(eligible), dtype=np.float32)
    parts: dict[str, np.ndarray] = {}
    for name, raw in scores.items():
        w = weights.of(name)
        if not w:
            continue
        part = np.maximum(raw, 0.0).astype(np.float32, copy=False)
        part[ineligible] = 0.0
        top = part.max() if len(part) else 0.0
        if top > 0:
            part *= w / top
        else:
            part[:] = 0.0
        parts[name] = part
        total += part
    total[ineligible] = -np.inf
    return total, parts


def top_indices(total: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` best finite entries, best first (ties: lower index first)."""
    finite = np.flatnonzero(np.isfinite(total))
    if not len(finite):
        return finite
    k = min(k, len(finite))
    values = total[finite]
    part = np.argpartition(-values, k - 1)[:k] if k < len(finite) else np.arange(len(finite))
    order = np.lexsort((finite[part], -values[part]))
    return finite[part][order]


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why the model ranked an item: the strongest strategy and its numbers."""

    strategy: str
    count: int | None = None  # orders together / customers in the window
    source_index: int | None = None  # the bought item it came from


# A reason with evidence the customer can check ("bought together 38 times") is preferred when
# the item scores at least this share of that strategy's best item for the customer.
EVIDENCE_SHARE = 0.5


def explain(model: FittedRecs, state: CustomerState, idx: int,
            parts: dict[str, np.ndarray]) -> Evidence:
    best = max(parts, key=lambda name: (parts[name][idx], -COMPONENTS.index(name)), default=None)
    for name in (COPURCHASE, SIMILARITY):
        top = float(parts[name].max()) if name in parts and len(parts[name]) else 0.0
        if top > 0 and parts[name][idx] >= EVIDENCE_SHARE * top:
            best = name
            break
    if best is None or parts[best][idx] <= 0:
        return Evidence(POPULARITY, count=int(model.popularity[idx]))
    if best == COPURCHASE and len(state.trigger):
        column = model.copurchase[state.trigger][:, idx].toarray().ravel()
        source = int(state.trigger[int(np.argmax(column))])
        together = int(model.copurchase_orders[source, idx])
        return Evidence(COPURCHASE, count=together, source_index=source)
    if best == SIMILARITY and len(state.items):
        column = model.similarity[state.items][:, idx].toarray().ravel() * state.recency
        return Evidence(SIMILARITY, source_index=int(state.items[int(np.argmax(column))]))
    if best == POPULARITY:
        return Evidence(POPULARITY, count=int(model.popularity[idx]))
    return Evidence(best)
