"""Writes to the catalogue. Webhooks, backfills and the demo loader all call these."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from integrations.base import ProductData, VariantData
from xsell_plugin.catalog.models import Collection, Product, ProductCollection, Variant
from xsell_plugin.core.exceptions import NotFound
from xsell_plugin.core.upsert import UpsertResult, insert_rows, rows_where_in, upsert_rows
from xsell_plugin.orders.services import order_lines_link_catalog
from xsell_plugin.stores.models import Store

_PRODUCT_FIELDS = (
    "title", "handle", "vendor", "product_type", "tags", "status", "description", "image_url",
    "url", "source_created_at", "upsell_ids", "cross_sell_ids", "source_updated_at", "updated_at",
)
_VARIANT_FIELDS = (
    "product_id", "title", "sku", "price", "compare_at_price", "cost", "inventory_quantity",
    "stock_status", "position", "source_updated_at", "updated_at",
)


def products_upsert(*, store: Store, products: Sequence[ProductData]) -> UpsertResult:
    """Insert or update products with their variants and collections, in one transaction.

    A product older than the stored one is skipped whole (its variants too). For products that
    are applied, variants and collection links are replaced by the incoming set.
    """
    now = timezone.now()
    with transaction.atomic():
        collection_ids = _collections_upsert(store=store, products=products, now=now)
        applied = upsert_rows(
            Product,
            (
                {
                    "store_id": store.pk, "external_id": p.external_id, "title": p.title[:500],
                    "handle": p.handle, "vendor": p.vendor, "product_type": p.product_type,
                    "tags": list(p.tags), "status": str(p.status), "description": p.description,
                    "image_url": p.image_url, "url": p.url, "source_created_at": p.created_at,
                    "upsell_ids": list(p.upsell_ids), "cross_sell_ids": list(p.cross_sell_ids),
                    "source_updated_at": p.updated_at, "updated_at": now,
                }
                for p in products
            ),
            unique=("store_id", "external_id"), update=_PRODUCT_FIELDS, version="source_updated_at",
        )
        applied_products = [p for p in products if (store.pk, p.external_id) in applied]
        _variants_replace(store=store, products=applied_products, product_ids=applied, now=now)
        _collections_link(store=store, products=applied_products, product_ids=applied,
                          collection_ids=collection_ids, now=now)
        order_lines_link_catalog(store=store, product_external_ids=[p.external_id for p in
                                                                     applied_products])
    return UpsertResult(received=len(products), applied=len(applied))


def product_upsert(*, store: Store, product: ProductData) -> bool:
    """One product; True when it was applied (new or not older than what we had)."""
    return products_upsert(store=store, products=[product]).applied == 1


def variants_upsert(*, store: Store, product_external_id: str, variants: Sequence[VariantData],
                    updated_at: datetime) -> UpsertResult:
    """Insert or update some variants of a known product (e.g. WooCommerce variations, which
    come apart from their product). Other variants of the product are left alone; a variant
    older than the stored one is skipped."""
    product_id = (Product.objects.for_store(store).filter(external_id=product_external_id)
                  .values_list("pk", flat=True).first())
    if product_id is None:
        raise NotFound("Unknown product for this store.", extra={"product": product_external_id})
    now = timezone.now()
    with transaction.atomic():
        applied = upsert_rows(
            Variant, [_variant_row(store, product_id, v, updated_at, now) for v in variants],
            unique=("store_id", "external_id"), update=_VARIANT_FIELDS, version="source_updated_at",
        )
        order_lines_link_catalog(store=store, product_external_ids=[product_external_id])
    return UpsertResult(received=len(variants), applied=len(applied))


def product_mark_deleted(*, store: Store, external_id: str, deleted_at: datetime) -> bool:
    """The platform deleted the product: keep the row (order history points at it) but never
    recommend it again. A later create/update with a newer time brings it back."""
    with transaction.atomic():
        updated = (
            Product.objects.for_store(store)
            .filter(external_id=external_id)
            .exclude(source_updated_at__gt=deleted_at)
            .update(status=Product.Status.DELETED, source_updated_at=deleted_at,
                    updated_at=timezone.now())
        )
    return updated == 1


def variant_stock_set(*, store: Store, external_id: str, quantity: int | None,
                      updated_at: datetime) -> bool:
    """An inventory level changed. Applied only if not older than what we have (one UPDATE)."""
    status = (Variant.StockStatus.IN_STOCK if quantity is None or quantity > 0
              else Variant.StockStatus.OUT_OF_STOCK)
    updated = (
        Variant.objects.for_store(store)
        .filter(external_id=external_id)
        .exclude(source_updated_at__gt=updated_at)
        .update(inventory_quantity=quantity, stock_status=status, source_updated_at=updated_at,
                updated_at=timezone.now())
    )
    return updated == 1


def _collections_upsert(*, store: Store, products: Sequence[ProductData], now) -> dict:
    rows = {
        c.external_id: {"store_id": store.pk, "external_id": c.external_id, "title": c.title,
                        "handle": c.handle, "updated_at": now}
        for p in products for c in p.collections
    }
    if not rows:
        return {}
    return upsert_rows(Collection, rows.values(), unique=("store_id", "external_id"),
                       update=("title", "handle", "updated_at"))


def _variants_replace(*, store: Store, products: Sequence[ProductData], product_ids: dict,
                      now) -> None:
    """Variants of applied products become the incoming set. What the products had is read
    before writing (nothing, in a backfill): a variant not in the incoming set is not written
    here, so its product is the same before and after, and rows just written are not read back."""
    if not products:
        return
    pids = [product_ids[(store.pk, p.external_id)] for p in products]
    had = rows_where_in(Variant, store_id=store.pk, field="product_id", values=pids,
                        columns=("pk", "external_id"))
    rows = [
        _variant_row(store, product_ids[(store.pk, p.external_id)], v, p.updated_at, now)
        for p in products for v in p.variants
    ]
    upsert_rows(Variant, rows, unique=("store_id", "external_id"), update=_VARIANT_FIELDS,
                returning=False)
    keep = {v.external_id for p in products for v in p.variants}
    gone = [pk for pk, external_id in had if external_id not in keep]
    if gone:
        Variant.objects.for_store(store).filter(pk__in=gone).delete()


def _variant_row(store: Store, product_id: int, v: VariantData, updated_at: datetime, now) -> dict:
    return {
        "store_id": store.pk, "external_id": v.external_id, "product_id": product_id,
        "title": v.title[:500], "sku": v.sku, "price": v.price,
        "compare_at_price": v.compare_at_price, "cost": v.cost,
        "inventory_quantity": v.inventory_quantity, "stock_status": str(v.stock_status),
        "position": v.position, "source_updated_at": updated_at, "updated_at": now,
    }


def _collections_link(*, store: Store, products: Sequence[ProductData], product_ids: dict,
                      collection_ids: dict, now) -> None:
    if not products:
        return
    pids = [product_ids[(store.pk, p.external_id)] for p in products]
    wanted = {
        (product_ids[(store.pk, p.external_id)], collection_ids[(store.pk, c.external_id)])
        for p in products for c in p.collections
    }
    existing = {(pid, cid) for pid, cid in rows_where_in(
        ProductCollection, store_id=store.pk, field="product_id", values=pids,
        columns=("product_id", "collection_id"))}
    stale = existing - wanted
    for product_id, collection_id in stale:
        ProductCollection.objects.for_store(store).filter(
            product_id=product_id, collection_id=collection_id).delete()
    insert_rows(
        ProductCollection,
        [{"store_id": store.pk, "product_id": pid, "collection_id": cid, "created_at": now,
          "updated_at": now} for pid, cid in wanted - existing],
        ignore_conflicts=("store_id", "product_id", "collection_id"),
    )
