"""Writes: refitting a store's model (a new ``FittedModel`` version)."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from xsell_plugin.recommendations import selectors, training
from xsell_plugin.recommendations.models import FittedModel
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
