"""Reads: the data the engine works on, fetched fresh (stock, prices) for one store.

``customer_recommendations`` is the one call the sequences use at send time: it loads the
store's newest fitted model (kept in memory per store and version), the customer's history,
ranks, fetches only the candidates' catalogue rows, and hands everything to the pure engine.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

import numpy as np
from django.db.models import Count, Max, Q

from xsell_plugin.catalog.models import Product, ProductCollection, Variant
from xsell_plugin.offers.models import BundleItem, OfferStatus
from xsell_plugin.offers.rules import Discount, store_day
from xsell_plugin.orders.models import Order, OrderLine
from xsell_plugin.recommendations import engine
from xsell_plugin.recommendations.context import CatalogItem, Mode, Recommendation, Request
from xsell_plugin.recommendations.models import FittedModel, ProductOverride, ProductTypeRule
from xsell_plugin.recommendations.strategies import History
from xsell_plugin.recommendations.training import FittedRecs, Interactions
from xsell_plugin.stores.models import Store

MODEL_CACHE_SIZE = 8
NEIGHBOUR_LIMIT = 500  # same-type products loaded for upgrades and new arrivals

_cache: OrderedDict[tuple[int, int], FittedRecs] = OrderedDict()
_cache_lock = threading.Lock()


# --- the fitted model --------------------------------------------------------------------------

def fitted_model_latest(*, store: Store) -> tuple[int, FittedRecs] | None:
    """(version, model) of the store's newest fit, or None before the first fit."""
    row = (FittedModel.objects.for_store(store).order_by("-version")
           .values_list("pk", "version").first())
    if row is None:
        return None
    pk, version = row
    key = (store.pk, version)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return version, _cache[key]
    blob = FittedModel.objects.for_store(store).values_list("payload", flat=True).get(pk=pk)
    model = FittedRecs.from_bytes(bytes(blob))
    with _cache_lock:
        _cache[key] = model
        while len(_cache) > MODEL_CACHE_SIZE:
            _cache.popitem(last=False)
    return version, model


def model_cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


def training_data(*, store: Store, before: datetime) -> tuple[Interactions, dict[int, str]]:
    """Every line of the store's orders placed before ``before`` (cancelled orders left out) and
    every product's type. Guest orders count as one-order customers (a negative key)."""
    rows = (OrderLine.objects.for_store(store)
            .filter(product__isnull=False, order__placed_at__lt=before,
                    order__cancelled_at__isnull=True)
            .values_list("order__customer_id", "order_id", "product_id", "order__placed_at")
            .order_by())
    customers, orders, items, at = [], [], [], []
    for customer_id, order_id, product_id, placed_at in rows.iterator(chunk_size=20_000):
        customers.append(customer_id if customer_id is not None else -order_id)
        orders.append(order_id)
        items.append(product_id)
        at.append(placed_at.timestamp())
    interactions = Interactions(
        customers=np.asarray(customers, dtype=np.int64), orders=np.asarray(orders, dtype=np.int64),
        items=np.asarray(items, dtype=np.int64), at=np.asarray(at, dtype=np.float64))
    types = dict(Product.objects.for_store(store).exclude(status=Product.Status.DELETED)
                 .values_list("pk", "product_type"))
    return interactions, types


def data_fingerprint(*, store: Store, now: datetime, params: dict) -> str:
    """What a fit would see: order, line and product counts and last changes, the store-local
    day (popularity windows move daily) and the parameters."""
    orders = Order.objects.for_store(store).filter(placed_at__lt=now).aggregate(
        n=Count("pk"), changed=Max("updated_at"), placed=Max("placed_at"))
    lines = OrderLine.objects.for_store(store).filter(order__placed_at__lt=now).aggregate(
        n=Count("pk"), changed=Max("updated_at"))
    products = Product.objects.for_store(store).aggregate(n=Count("pk"), changed=Max("updated_at"))
    text = "|".join(str(v) for v in (
        orders["n"], orders["changed"], orders["placed"], lines["n"], lines["changed"],
        products["n"], products["changed"], store_day(now, store.timezone), sorted(params.items())))
    return hashlib.sha256(text.encode()).hexdigest()


# --- the customer ------------------------------------------------------------------------------

def customer_history(*, store: Store, customer_id: int, before: datetime
                     ) -> tuple[History, tuple[str, ...], dict[int, str]]:
    """The customer's order lines before ``before``: (history, product type per line, titles)."""
    rows = list(OrderLine.objects.for_store(store)
                .filter(order__customer_id=customer_id, product__isnull=False,
                        order__placed_at__lt=before, order__cancelled_at__isnull=True)
                .values_list("product_id", "order__placed_at", "order_id", "unit_price",
                             "product__product_type", "title")
                .order_by("order__placed_at", "pk"))
    history = History.from_lines((r[0], r[1].timestamp(), r[2], r[3]) for r in rows)
    return history, tuple(r[4] for r in rows), {r[0]: r[5] for r in rows}


# --- the catalogue, fresh ----------------------------------------------------------------------

def catalog_items(*, store: Store, keys: Iterable[int]) -> dict[int, CatalogItem]:
    keys = {int(k) for k in keys}
    if not keys:
        return {}
    products = list(Product.objects.for_store(store).filter(pk__in=keys))
    return _catalog(store, products)


def catalog_neighbours(*, store: Store, product_types: Iterable[str], tags: Iterable[str] = (),
                       limit: int = NEIGHBOUR_LIMIT) -> dict[int, CatalogItem]:
    """Active products of the given types (upgrades, new arrivals), newest first."""
    types = {t for t in product_types if t}
    if not types:
        return {}
    products = list(Product.objects.for_store(store)
                    .filter(product_type__in=types, status=Product.Status.ACTIVE)
                    .order_by("-source_created_at", "-pk")[:limit])
    return _catalog(store, products)


def _catalog(store: Store, products: list[Product]) -> dict[int, CatalogItem]:
    ids = [p.pk for p in products]
    variants: dict[int, list[Variant]] = {}
    for v in Variant.objects.for_store(store).filter(product_id__in=ids).order_by("position", "pk"):
        variants.setdefault(v.product_id, []).append(v)
    collections: dict[int, list[int]] = {}
    for product_id, collection_id in (ProductCollection.objects.for_store(store)
                                      .filter(product_id__in=ids)
                                      .values_list("product_id", "collection_id")):
        collections.setdefault(product_id, []).append(collection_id)
    curated_ext = {str(e) for p in products for e in (*p.upsell_ids, *p.cross_sell_ids)}
    by_ext = dict(Product.objects.for_store(store).filter(external_id__in=curated_ext)
                  .values_list("external_id", "pk")) if curated_ext else {}
    out = {}
    for p in products:
        vs = variants.get(p.pk, [])
        if not vs:
            continue
        available = [v for v in vs if v.available]
        v = min(available or vs, key=lambda x: (x.price, x.position, x.pk))
        out[p.pk] = CatalogItem(
            key=p.pk, external_id=p.external_id, title=p.title, price=v.price, cost=v.cost,
            available=bool(available), inventory_quantity=v.inventory_quantity,
            product_type=p.product_type, tags=tuple(str(t) for t in p.tags or ()),
            collection_ids=tuple(sorted(collections.get(p.pk, ()))),
            active=p.status == Product.Status.ACTIVE,
            upsell_keys=tuple(by_ext[str(e)] for e in p.upsell_ids if str(e) in by_ext),
            cross_sell_keys=tuple(by_ext[str(e)] for e in p.cross_sell_ids if str(e) in by_ext),
            variant_external_id=v.external_id)
    return out


def bundle_addons(*, store: Store, core_keys: Iterable[int]) -> dict[int, tuple[int, ...]]:
    """For each core product: the other items of its running bundles, in the merchant's order."""
    cores = {int(k) for k in core_keys}
    if not cores:
        return {}
    running = Q(bundle__status__in=(OfferStatus.ACTIVE, OfferStatus.FLAGGED))
    bundle_ids = (BundleItem.objects.for_store(store).filter(running, product_id__in=cores,
                                                             role=BundleItem.Role.CORE)
                  .values_list("bundle_id", "product_id"))
    by_bundle: dict[int, int] = dict(bundle_ids)
    out: dict[int, list[int]] = {}
    for bundle_id, product_id in (BundleItem.objects.for_store(store)
                                  .filter(bundle_id__in=by_bundle.keys())
                                  .exclude(role=BundleItem.Role.CORE)
                                  .order_by("bundle_id", "position", "pk")
                                  .values_list("bundle_id", "product_id")):
        out.setdefault(by_bundle[bundle_id], []).append(product_id)
    return {k: tuple(dict.fromkeys(v)) for k, v in out.items()}


def durable_overrides(*, store: Store) -> dict[str, bool]:
    return dict(ProductTypeRule.objects.for_store(store).filter(durable__isnull=False)
                .values_list("product_type", "durable"))


def product_overrides(*, store: Store, product_keys: Iterable[int]
                      ) -> tuple[dict[int, tuple[int, ...]], frozenset[int]]:
    """The merchant's overrides for these products: (pinned keys per product, oldest pin
    first; every product excluded with any of them)."""
    keys = {int(k) for k in product_keys}
    if not keys:
        return {}, frozenset()
    pinned: dict[int, list[int]] = {}
    excluded: set[int] = set()
    for product_id, recommended_id, action in (ProductOverride.objects.for_store(store)
                                               .filter(product_id__in=keys).order_by("pk")
                                               .values_list("product_id", "recommended_product_id",
                                                            "action")):
        if action == ProductOverride.Action.PIN:
            pinned.setdefault(product_id, []).append(recommended_id)
        else:
            excluded.add(recommended_id)
    return {k: tuple(v) for k, v in pinned.items()}, frozenset(excluded)


# --- the one call at send time -----------------------------------------------------------------

def customer_recommendations(
        *, store: Store, customer_id: int | None, now: datetime,
        trigger_product_ids: Iterable[int] = (), recently_emailed: Iterable[int] = (),
        mode: Mode = Mode.CROSS_SELL, limit: int = 3, incentive: Discount | None = None,
) -> list[Recommendation]:
    """What an email to this customer offers, now: fresh stock and prices, every filter, and
    the merchant's overrides for the trigger products (pinned first, excluded never)."""
    fitted = fitted_model_latest(store=store)
    model = fitted[1] if fitted else None
    if customer_id is not None:
        history, history_types, titles = customer_history(store=store, customer_id=customer_id,
                                                          before=now)
    else:
        history, history_types, titles = History.empty(), (), {}
    triggers = tuple(dict.fromkeys(int(k) for k in trigger_product_ids))
    pinned, excluded = product_overrides(store=store, product_keys=triggers)
    request = Request(
        history=history, now=now, trigger_keys=triggers, mode=mode, limit=limit,
        recently_emailed=frozenset(int(k) for k in recently_emailed), incentive=incentive,
        margin_floor=Decimal(str(store.margin_floor)), history_types=history_types,
        durable_overrides=durable_overrides(store=store),
        bundle_addons=bundle_addons(store=store, core_keys=triggers), pinned=pinned,
        excluded=excluded)
    ranking = engine.rank(model, request)
    catalog = catalog_items(store=store, keys=engine.needed_keys(ranking, request))
    curated = {k for t in triggers if t in catalog
               for k in (*catalog[t].cross_sell_keys, *catalog[t].upsell_keys)}
    catalog.update(catalog_items(store=store, keys=curated - catalog.keys()))
    trigger_types = {catalog[k].product_type for k in triggers if k in catalog}
    for key, item in catalog_neighbours(store=store, product_types=trigger_types).items():
        catalog.setdefault(key, item)
    return engine.recommend(ranking, request, catalog, titles=titles)
