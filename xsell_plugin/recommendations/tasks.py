"""Scheduled work: refit every store's recommendation model (a django-q2 Schedule, created by
this app's data migration). Arguments are ids; the refresh itself is idempotent."""

from __future__ import annotations

from xsell_plugin.recommendations import services
from xsell_plugin.stores.models import Store


def refresh_models() -> dict[int, int | None]:
    return services.recs_models_refresh_all()


def refresh_model(store_id: int) -> int:
    store = Store.objects.get(pk=store_id)
    return services.recs_model_refresh(store=store).version
