"""Writes: refitting a store's model (a new ``FittedModel`` version), the merchant's product-type
rules and per-product overrides."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from xsell_plugin.catalog.models import Product
from xsell_plugin.core.exceptions import NotFound, ValidationFailed
from xsell_plugin.recommendations import selectors, training
from xsell_plugin.recommendations.models import FittedModel, ProductOverride, ProductTypeRule
from xsell_plugin.stores.models import Store

logger = logging.getLogger(__name__)

KEEP_VERSIONS = 3


def recs_model_refresh(*, store: Store, now: datetime | None = None,
                       params: training.FitParams | None = None, force: bool = False) -> FittedModel:
    """Fit the store's model on its orders before ``now`` and save it as the next version.

    Idempotent: when the newest version saw the same data on the same store-local day (same
    fingerprint), it is returned and nothing is fitted. Two workers refreshing at once cannot
    both write a version: (store, version) is unique, and the loser returns the winner's row.
    Older versions beyond the last ``KEEP_VERSIONS`` are deleted.
    """
    now = now or timezone.now()
    params = params or training.FitParams()
    fingerprint = selectors.data_fingerprint(store=store, now=now, params=params.as_dict())
    latest = FittedModel.objects.for_store(store).order_by("-version").first()
    if latest is not None and latest.fingerprint == fingerprint and not force:
        return latest

    started = time.perf_counter()
    interactions, item_types = selectors.training_data(store=store, before=now)
    fitted = training.fit(interactions, item_types=item_types, now=now.timestamp(), params=params)
    payload = fitted.to_bytes()
    seconds = time.perf_counter() - started

    version = (FittedModel.objects.for_store(store).aggregate(v=Max("version"))["v"] or 0) + 1
    try:
        with transaction.atomic():
            row = FittedModel.objects.create(
                store=store, version=version, trained_until=now, fingerprint=fingerprint,
                params=params.as_dict(), stats=fitted.stats, fit_seconds=round(seconds, 3),
                size_bytes=len(payload), payload=payload, updated_at=timezone.now())
    except IntegrityError:  # another worker wrote this version first
        return FittedModel.objects.for_store(store).get(version=version)
    stale = (FittedModel.objects.for_store(store).order_by("-version")
             .values_list("pk", flat=True)[KEEP_VERSIONS:])
    FittedModel.objects.for_store(store).filter(pk__in=list(stale)).delete()
    logger.info("store %s: recommendation model v%s fitted in %.1f s (%s)", store.pk, version,
                seconds, fitted.stats)
    return row


def recs_models_refresh_all(*, now: datetime | None = None) -> dict[int, int | None]:
    """Refresh every active store's model; one store failing never stops the others.
    Returns {store id: version, or None when it failed}."""
    now = now or timezone.now()
    out: dict[int, int | None] = {}
    for store in Store.objects.filter(status=Store.Status.ACTIVE).order_by("pk"):
        try:
            out[store.pk] = recs_model_refresh(store=store, now=now).version
        except Exception:
            logger.exception("store %s: the recommendation model could not be refreshed", store.pk)
            out[store.pk] = None
    return out


# --- the merchant's rules and overrides (admin) ------------------------------------------------

def _field(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, extra={"fields": {field: [message]}})


def product_type_rule_create(*, store: Store, product_type: str, durable: bool | None) -> ProductTypeRule:
    """The merchant's word on a product type (durable: never another to an owner)."""
    product_type = (product_type or "").strip()
    if not product_type:
        raise _field("product_type", "A rule needs a product type.")
    try:
        with transaction.atomic():
            return ProductTypeRule.objects.create(store=store, product_type=product_type,
                                                  durable=durable)
    except IntegrityError:
        raise _field("product_type", "This product type already has a rule.") from None


def product_type_rule_update(*, store: Store, rule_id: int, **fields) -> ProductTypeRule:
    unknown = sorted(set(fields) - {"product_type", "durable"})
    if unknown:
        raise _field(unknown[0], "This field cannot be changed.")
    rule = ProductTypeRule.objects.for_store(store).filter(pk=rule_id).first()
    if rule is None:
        raise NotFound("No such rule.", extra={"rule_id": rule_id})
    if "product_type" in fields:
        fields["product_type"] = (fields["product_type"] or "").strip()
        if not fields["product_type"]:
            raise _field("product_type", "A rule needs a product type.")
    try:
        with transaction.atomic():
            ProductTypeRule.objects.for_store(store).filter(pk=rule.pk).update(
                **fields, updated_at=timezone.now())
    except IntegrityError:
        raise _field("product_type", "This product type already has a rule.") from None
    rule.refresh_from_db()
    return rule


def product_type_rule_delete(*, store: Store, rule_id: int) -> None:
    deleted, _ = ProductTypeRule.objects.for_store(store).filter(pk=rule_id).delete()
    if not deleted:
        raise NotFound("No such rule.", extra={"rule_id": rule_id})


def product_override_set(*, store: Store, product_id: int, recommended_product_id: int,
                         action: str) -> tuple[ProductOverride, bool]:
    """Pin or exclude ``recommended_product`` with ``product``: one override per pair, so
    setting a pair again changes its action. Returns (override, created)."""
    if action not in ProductOverride.Action.values:
        raise _field("action", "The action is pin or exclude.")
    if product_id == recommended_product_id:
        raise _field("recommended_product_id", "A product cannot be recommended with itself.")
    found = set(Product.objects.for_store(store).filter(pk__in=[product_id, recommended_product_id])
                .values_list("pk", flat=True))
    for field, pk in (("product_id", product_id), ("recommended_product_id", recommended_product_id)):
        if pk not in found:
            raise _field(field, "Unknown product for this store.")
    now = timezone.now()
    for _ in range(2):  # a concurrent insert of the same pair: the second pass updates it
        try:
            with transaction.atomic():
                row, created = ProductOverride.objects.update_or_create(
                    store=store, product_id=product_id, recommended_product_id=recommended_product_id,
                    defaults={"action": action, "updated_at": now})
            return row, created
        except IntegrityError:
            continue
    raise _field("recommended_product_id", "This pair is being changed: try again.")


def product_override_delete(*, store: Store, override_id: int) -> None:
    deleted, _ = ProductOverride.objects.for_store(store).filter(pk=override_id).delete()
    if not deleted:
        raise NotFound("No such override.", extra={"override_id": override_id})
