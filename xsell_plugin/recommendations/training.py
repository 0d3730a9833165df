"""Fit one store's recommendation model: arrays in, arrays out, ``now`` passed in (pure).

What is learned from the orders placed before ``now`` (order lines as parallel arrays):

- **popularity**: distinct customers per item in the last ``popularity_days`` days;
- **implicit-feedback matrix factorisation**: ``implicit``'s ALS on the customer x item matrix
  (confidence ``alpha * (1 + log(orders with the item))``); only the item factors and their Gram
  matrix are kept, a customer's vector is solved at request time from their history ("fold-in"),
  so a customer who ordered after the fit is scored like everyone else;
- **item-item similarity**: cosine of the customer sets of two items (customers who buy one
  buy the other), over items bought by at least ``similarity_min_customers`` customers, the
  ``similarity_neighbours`` best per item;
- **customers like this one**: idf-weighted purchase profiles of every customer, so a customer's
  nearest ``neighbour_customers`` (cosine) can be found at request time, and what those bought in
  the popularity window;
- **co-purchase**: how often two items are in the same order, as lift with shrinkage
  ``lift x n / (n + shrinkage)`` (n = orders with both), the ``copurchase_neighbours`` best
  per item, with the raw counts kept for the reasons ("bought together 38 times");
- **product types**: each item's type, each type's repeat rate (share of its buyers who bought it
  in two orders or more: the "durable" heuristic) and within-type popularity (cold start).

The model serialises to one ``.npz`` blob (``to_bytes``/``from_bytes``, no pickle).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import scipy.sparse as sp

DAY = 86_400.0
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Interactions:
    """Order lines as parallel arrays (one entry per line)."""

    customers: np.ndarray  # int64 customer keys
    orders: np.ndarray  # int64 order keys
    items: np.ndarray  # int64 item keys (product ids)
    at: np.ndarray  # float64 epoch seconds of the order

    def __post_init__(self) -> None:
        n = len(self.items)
        if not (len(self.customers) == len(self.orders) == len(self.at) == n):
            raise ValueError("interaction arrays must have the same length")


@dataclass(frozen=True, slots=True)
class FitParams:
    factors: int = 32
    regularization: float = 0.05
    iterations: int = 15
    alpha: float = 1.0
    popularity_days: int = 28
    similarity_neighbours: int = 100
    similarity_min_customers: int = 25  # capped at max(2, customers // 100) for small stores
    copurchase_neighbours: int = 50
    neighbour_customers: int = 50  # customers like this one whose recent baskets count
    copurchase_min_orders: int = 2
    copurchase_shrinkage: float = 10.0
    seed: int = 8451

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(slots=True)
class FittedRecs:
    """A fitted model: everything the engine needs to score a customer, as arrays."""

    item_keys: np.ndarray  # int64, sorted
    item_type: np.ndarray  # int32 index into type_names (-1: unknown)
    type_names: list[str]
    popularity: np.ndarray  # float32: distinct customers in the popularity window
    buyers: np.ndarray  # int32: distinct customers ever (before trained_until)
    item_factors: np.ndarray  # float32 (items x factors)
    gram: np.ndarray  # float64 (factors x factors) = item_factors.T @ item_factors
    similarity: sp.csr_matrix  # float32 (items x items) cosine, top neighbours per row
    copurchase: sp.csr_matrix  # float32 lift with shrinkage, top neighbours per row
    copurchase_orders: sp.csr_matrix  # int32 orders with both, same pattern as copurchase
    customer_items: sp.csc_matrix  # float32 (customers x items): idf-weighted, rows of norm 1
    recent_items: sp.csr_matrix  # float32 (customers x items): 1 if bought in the window
    type_repeat_rate: np.ndarray  # float32 per type
    type_buyers: np.ndarray  # int32 per type
    trained_until: float  # epoch seconds (the fit's `now`)
    params: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict, repr=False, compare=False)  # derived tables

    # --- lookups -------------------------------------------------------------------------------
    @property
    def n_items(self) -> int:
        return len(self.item_keys)

    def indices(self, keys: Sequence[int] | np.ndarray) -> np.ndarray:
        """Positions of the known ``keys`` (unknown keys are dropped)."""
        keys = np.asarray(keys, dtype=np.int64)
        if not len(keys) or not self.n_items:
            return np.zeros(0, dtype=np.int64)
        pos = np.searchsorted(self.item_keys, keys)
        pos = np.minimum(pos, self.n_items - 1)
        return pos[self.item_keys[pos] == keys]

    def index_of(self, key: int) -> int | None:
        found = self.indices([key])
        return int(found[0]) if len(found) else None

    def type_of(self, idx: int) -> str:
        t = int(self.item_type[idx])
        return self.type_names[t] if t >= 0 else ""

    # --- serialisation -------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        arrays = {
            "item_keys": self.item_keys, "item_type": self.item_type,
            "type_names": np.array(self.type_names, dtype=np.str_),
            "popularity": self.popularity, "buyers": self.buyers,
            "item_factors": self.item_factors, "gram": self.gram,
            "type_repeat_rate": self.type_repeat_rate, "type_buyers": self.type_buyers,
            "meta": np.array(json.dumps({
                "format": FORMAT_VERSION, "trained_until": self.trained_until,
                "params": self.params, "stats": self.stats,
            })),
        }
        for name in _MATRICES:
            matrix = getattr(self, name)
            arrays[f"{name}_data"] = matrix.data
            arrays[f"{name}_indices"] = matrix.indices
            arrays[f"{name}_indptr"] = matrix.indptr
            arrays[f"{name}_shape"] = np.asarray(matrix.shape, dtype=np.int64)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> FittedRecs:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != FORMAT_VERSION:
                raise ValueError(f"model format {meta.get('format')} is not {FORMAT_VERSION}")
            def matrix(name: str):
                kind = sp.csc_matrix if name == "customer_items" else sp.csr_matrix
                return kind((z[f"{name}_data"], z[f"{name}_indices"], z[f"{name}_indptr"]),
                            shape=tuple(int(x) for x in z[f"{name}_shape"]))

            return cls(
                item_keys=z["item_keys"], item_type=z["item_type"],
                type_names=[str(t) for t in z["type_names"]], popularity=z["popularity"],
                buyers=z["buyers"], item_factors=z["item_factors"], gram=z["gram"],
                similarity=matrix("similarity"), copurchase=matrix("copurchase"),
                copurchase_orders=matrix("copurchase_orders"),
                customer_items=matrix("customer_items"), recent_items=matrix("recent_items"),
                type_repeat_rate=z["type_repeat_rate"], type_buyers=z["type_buyers"],
                trained_until=float(meta["trained_until"]), params=meta["params"],
                stats=meta["stats"],
            )


def fit(interactions: Interactions, *, item_types: dict[int, str], now: float,
        params: FitParams | None = None) -> FittedRecs:
    """Fit on the lines placed before ``now`` (epoch seconds). ``item_types`` maps every
    catalogue item to its product type; items that were only ever sold are added too."""
    params = params or FitParams()
    keep = interactions.at < now
    customers = interactions.customers[keep]
    orders = interactions.orders[keep]
    items = interactions.items[keep]
    at = interactions.at[keep]

    item_keys = np.unique(np.concatenate([
        np.fromiter(item_types.keys(), dtype=np.int64, count=len(item_types)), items]))
    n_items = len(item_keys)
    item_idx = np.searchsorted(item_keys, items)
    type_names = sorted({t for t in item_types.values() if t})
    type_pos = {t: i for i, t in enumerate(type_names)}
    item_type = np.array([type_pos.get(item_types.get(int(k), ""), -1) for k in item_keys],
                         dtype=np.int32)

    cust_codes, cust_keys = _factorize(customers)
    order_codes, order_keys = _factorize(orders)
    n_customers, n_orders = len(cust_keys), len(order_keys)

    # customer x item: number of distinct orders with the item
    ci = _distinct_pairs(order_codes, item_idx)  # (order, item) pairs, one per order line group
    order_customer = np.zeros(n_orders, dtype=np.int64)
    order_customer[order_codes] = cust_codes
    order_at = np.zeros(n_orders, dtype=np.float64)
    order_at[order_codes] = at
    user_items = sp.csr_matrix(
        (np.ones(len(ci[0]), dtype=np.float32), (order_customer[ci[0]], ci[1])),
        shape=(n_customers, n_items))
    user_items.sum_duplicates()
    binary = user_items.copy()
    binary.data = np.ones_like(binary.data)
    buyers = np.asarray(binary.sum(axis=0)).ravel().astype(np.int32)

    recent = order_at[ci[0]] >= now - params.popularity_days * DAY
    recent_pairs = np.unique(np.stack([order_customer[ci[0]][recent], ci[1][recent]]), axis=1)
    popularity = np.bincount(recent_pairs[1], minlength=n_items).astype(np.float32)

    item_factors, gram = _als(user_items, params)
    min_customers = max(2, min(params.similarity_min_customers, n_customers // 100))
    similarity = _similarity(binary, buyers, min_customers, params.similarity_neighbours)
    copurchase, copurchase_orders = _copurchase(ci, n_orders, n_items, params)
    repeat_rate, type_buyers = _type_repeat(user_items, item_type, len(type_names))

    return FittedRecs(
        item_keys=item_keys, item_type=item_type, type_names=type_names,
        popularity=popularity, buyers=buyers, item_factors=item_factors, gram=gram,
        similarity=similarity, copurchase=copurchase, copurchase_orders=copurchase_orders,
        customer_items=_customer_profiles(binary, buyers),
        recent_items=sp.csr_matrix(
            (np.ones(recent_pairs.shape[1], dtype=np.float32), (recent_pairs[0], recent_pairs[1])),
            shape=(n_customers, n_items)),
        type_repeat_rate=repeat_rate, type_buyers=type_buyers, trained_until=float(now),
        params=params.as_dict(),
        stats={"customers": n_customers, "orders": n_orders, "lines": len(items),
               "items": n_items, "similarity_min_customers": min_customers},
    )


_MATRICES = ("similarity", "copurchase", "copurchase_orders", "customer_items", "recent_items")


def item_idf(buyers: np.ndarray, n_customers: int) -> np.ndarray:
    """Rare items say more about a customer than staples: log(customers / (1 + buyers)), >= 0."""
    return np.maximum(np.log(max(n_customers, 1) / (1.0 + buyers)), 0.0)


def _customer_profiles(binary: sp.csr_matrix, buyers: np.ndarray) -> sp.csc_matrix:
    weighted = (binary @ sp.diags(item_idf(buyers, binary.shape[0]))).tocsr()
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    profiles = (sp.diags(scale) @ weighted).tocsc().astype(np.float32)
    profiles.eliminate_zeros()
    return profiles


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64), keys


def _distinct_pairs(rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not len(rows):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    pairs = np.unique(np.stack([rows, cols]).astype(np.int64), axis=1)
    return pairs[0], pairs[1]


def _als(user_items: sp.csr_matrix, params: FitParams) -> tuple[np.ndarray, np.ndarray]:
    n_customers, n_items = user_items.shape
    factors = max(1, min(params.factors, n_items, n_customers))
    if user_items.nnz == 0:
        empty = np.zeros((n_items, factors), dtype=np.float32)
        return empty, np.zeros((factors, factors))
    import threadpoolctl
    from implicit.cpu.als import AlternatingLeastSquares

    confidence = user_items.copy()
    confidence.data = 1.0 + np.log(confidence.data)
    # implicit parallelises itself; a multi-threaded BLAS under it only adds contention.
    with threadpoolctl.threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=factors, regularization=params.regularization, alpha=params.alpha,
            iterations=params.iterations, random_state=params.seed, calculate_training_loss=False,
        )
        model.fit(confidence.tocsr().astype(np.float32), show_progress=False)
    item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float32)
    return item_factors, item_factors.astype(np.float64).T @ item_factors.astype(np.float64)


def top_k_per_row(matrix: sp.csr_matrix, k: int, *, by: np.ndarray | None = None) -> np.ndarray:
    """Mask of the entries of ``matrix`` (CSR) among the ``k`` largest of their row by ``by``
    (default: the values), off the diagonal. Ties at the k-th value are all kept."""
    values = matrix.data if by is None else by
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    keep = rows != matrix.indices
    indptr = matrix.indptr
    for row in np.flatnonzero(np.diff(indptr) > k):
        start, stop = indptr[row], indptr[row + 1]
        part = np.where(keep[start:stop], values[start:stop], -np.inf)
        kth = np.partition(part, len(part) - k)[len(part) - k]
        keep[start:stop] &= part >= kth
    return keep


def _prune(matrix: sp.csr_matrix, keep: np.ndarray, dtype) -> sp.csr_matrix:
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    return sp.csr_matrix((matrix.data[keep].astype(dtype), (rows[keep], matrix.indices[keep])),
                         shape=matrix.shape)


def _similarity(binary: sp.csr_matrix, buyers: np.ndarray, min_customers: int,
                neighbours: int) -> sp.csr_matrix:
    n_items = binary.shape[1]
    eligible = (buyers >= min_customers).astype(np.float32)
    x = (binary @ sp.diags(eligible)).tocsr()
    x.eliminate_zeros()
    co = (x.T @ x).tocsr()
    if co.nnz == 0:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    norm = 1.0 / np.sqrt(np.maximum(buyers, 1)).astype(np.float64)
    cosine = (sp.diags(norm) @ co @ sp.diags(norm)).tocsr()
    return _prune(cosine, top_k_per_row(cosine, neighbours), np.float32)


def _copurchase(order_item: tuple[np.ndarray, np.ndarray], n_orders: int, n_items: int,
                params: FitParams) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    empty = sp.csr_matrix((n_items, n_items), dtype=np.float32)
    if not len(order_item[0]):
        return empty, empty.astype(np.int32)
    x = sp.csr_matrix((np.ones(len(order_item[0]), dtype=np.float32), order_item),
                      shape=(n_orders, n_items))
    counts = (x.T @ x).tocsr()
    counts.data[counts.data < params.copurchase_min_orders] = 0
    counts.eliminate_zeros()
    if counts.nnz == 0:
        return empty, empty.astype(np.int32)
    item_orders = np.asarray(x.sum(axis=0)).ravel().astype(np.float64)
    rows = np.repeat(np.arange(n_items), np.diff(counts.indptr))
    together = counts.data.astype(np.float64)
    lift = together * n_orders / (item_orders[rows] * item_orders[counts.indices])
    score = lift * together / (together + params.copurchase_shrinkage)
    keep = top_k_per_row(counts, params.copurchase_neighbours, by=score)
    scored = sp.csr_matrix((score[keep].astype(np.float32), (rows[keep], counts.indices[keep])),
                           shape=counts.shape)
    raw = sp.csr_matrix((together[keep].astype(np.int32), (rows[keep], counts.indices[keep])),
                        shape=counts.shape)
    return scored, raw


def _type_repeat(user_items: sp.csr_matrix, item_type: np.ndarray,
                 n_types: int) -> tuple[np.ndarray, np.ndarray]:
    """Per type: customers who bought it, and the share of them who bought it in >= 2 orders
    (an upper bound of distinct orders: the sum over its items)."""
    if n_types == 0 or user_items.nnz == 0:
        return np.zeros(n_types, dtype=np.float32), np.zeros(n_types, dtype=np.int32)
    known = item_type >= 0
    to_type = sp.csr_matrix((np.ones(int(known.sum()), dtype=np.float32),
                             (np.flatnonzero(known), item_type[known])),
                            shape=(len(item_type), n_types))
    per_type = (user_items @ to_type).tocsc()
    per_type.eliminate_zeros()
    type_buyers = np.diff(per_type.indptr).astype(np.int32)
    repeats = per_type.copy()
    repeats.data = (repeats.data >= 2).astype(np.float32)
    repeaters = np.asarray(repeats.sum(axis=0)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(type_buyers > 0, repeaters / np.maximum(type_buyers, 1), 0.0)
    return rate.astype(np.float32), type_buyers


def half_life_weights(ages_days: np.ndarray, half_life_days: float) -> np.ndarray:
    if not math.isfinite(half_life_days) or half_life_days <= 0:
        return np.ones_like(ages_days, dtype=np.float64)
    return np.power(0.5, np.maximum(ages_days, 0) / half_life_days)
