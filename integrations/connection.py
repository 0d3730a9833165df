"""Connecting and disconnecting a store: the platform side of install and uninstall."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from integrations.models import SyncJob
from xsell_plugin.core.tasks import enqueue_on_commit
from xsell_plugin.stores.models import Store
from xsell_plugin.stores.services import store_uninstall


def store_connect(*, store: Store) -> None:
    """After the install commits: register webhooks, then backfill everything."""
    enqueue_on_commit("integrations.tasks.connect_store", store.pk, queue="sync")


def store_disconnect(*, store: Store) -> bool:
    """Uninstalled: wipe access (domain service) and stop the store's unfinished sync jobs."""
    with transaction.atomic():
        changed = store_uninstall(store=store)
        SyncJob.objects.for_store(store).filter(
            status__in=[SyncJob.Status.PENDING, SyncJob.Status.RUNNING]
        ).update(status=SyncJob.Status.FAILED, last_error="store uninstalled",
                 finished_at=timezone.now(), lease_expires_at=None)
    return changed
