"""django-q2 entry points: each takes an id, re-reads its row and exits if there is nothing to do."""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from integrations import sync, webhooks
from integrations.exceptions import PlatformError
from integrations.registry import get_platform
from xsell_plugin.core.tasks import enqueue_now
from xsell_plugin.stores.models import Store

logger = logging.getLogger(__name__)


def process_webhook_event(event_id: int) -> str | None:
    return webhooks.webhook_event_process(event_id=event_id)


def run_sync_job(job_id: int) -> str | None:
    return sync.sync_job_run(job_id=job_id)


def sweep() -> dict[str, int]:
    """Every minute: re-enqueue work whose task was lost (broker crash, worker killed)."""
    now = timezone.now()
    events = webhooks.webhook_events_due(now=now)
    jobs = sync.sync_jobs_due(now=now)
    for event_id in events:
        enqueue_now(process_webhook_event, event_id, queue="webhooks")
    for job_id in jobs:
        enqueue_now(run_sync_job, job_id, queue="sync")
    return {"webhook_events": len(events), "sync_jobs": len(jobs)}


def reconcile_stores() -> int:
    """Hourly: pull recent changes for every connected store (webhooks can be lost or disabled)."""
    stores = Store.objects.filter(status=Store.Status.ACTIVE,
                                  platform__in=list(settings.XSELL_PLATFORMS))
    count = 0
    # A list, not .iterator(): the ORM broker's enqueue calls close_old_connections(), which
    # closed the open cursor under the loop (SQLite: "Cannot operate on a closed database").
    for store in list(stores):
        try:
            # WooCommerce disables a webhook after 5 failed deliveries: registering is
            # idempotent and brings disabled ones back; the pull closes the gap they left.
            get_platform(store).register_webhooks()
        except PlatformError:
            logger.exception("store %s: webhooks could not be registered", store.pk)
        sync.sync_reconcile_start(store=store)
        count += 1
    return count


def connect_store(store_id: int) -> int:
    """Register the store's webhooks (idempotent on the platform side), then start the backfill."""
    store = Store.objects.filter(pk=store_id, status=Store.Status.ACTIVE).first()
    if store is None:
        return 0
    get_platform(store).register_webhooks()
    return len(sync.sync_backfill_start(store=store))
