"""Backfill and reconciliation: pages from the platform into the same upsert services webhooks use.

A job is a row (``SyncJob``) with a cursor. Each page is written and the cursor advanced in one
transaction, so a crash anywhere resumes from the last page that committed, and re-reading a page
changes nothing (the upserts are idempotent). The runner holds a lease with a token; a worker
that lost its lease (it was presumed dead and another took over) stops at its next page.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from integrations.exceptions import (
    PlatformNotReady,
    RetryablePlatformError,
    TerminalPlatformError,
)
from integrations.models import SyncJob
from integrations.registry import get_platform
from integrations.webhooks import retry_delay
from xsell_plugin.catalog.services import products_upsert
from xsell_plugin.core.tasks import enqueue_on_commit
from xsell_plugin.core.upsert import UpsertResult
from xsell_plugin.customers.services import customers_upsert
from xsell_plugin.orders.services import orders_upsert

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 6
# Reconciliation looks back this far before the last finished sync, to cover clock skew and
# writes that were in flight when that sync read.
RECONCILE_OVERLAP = timedelta(minutes=15)

_UPSERT: dict[str, Callable[..., UpsertResult]] = {
    SyncJob.Kind.PRODUCTS: lambda store, items: products_upsert(store=store, products=items),
    SyncJob.Kind.CUSTOMERS: lambda store, items: customers_upsert(store=store, customers=items),
    SyncJob.Kind.ORDERS: lambda store, items: orders_upsert(store=store, orders=items),
}
_PAGES = {
    SyncJob.Kind.PRODUCTS: "iter_products",
    SyncJob.Kind.CUSTOMERS: "iter_customers",
    SyncJob.Kind.ORDERS: "iter_orders",
}


class _LeaseLost(Exception):
    pass


@contextmanager
def _relaxed_sync() -> Iterator[None]:
    """On SQLite (WAL), while a job runs: ``synchronous=NORMAL``, so a page's commit does not
    wait for its own fsync. An application or OS crash loses nothing; a power cut may lose the
    last pages written, together with the cursor saved in the same transactions, so the job
    re-reads them from its older cursor (the upserts are idempotent). Webhooks and everything
    else keep ``synchronous=FULL``. Not changed inside a transaction (SQLite refuses)."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        (before,) = cursor.fetchone()
        cursor.execute("PRAGMA synchronous=NORMAL")
    try:
        yield
    finally:
        if connection.connection is not None and not connection.in_atomic_block:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA synchronous={int(before)}")


def sync_job_start(*, store, kind: str, mode: str = SyncJob.Mode.BACKFILL,
                   updated_since: datetime | None = None) -> SyncJob:
    """Start a job, or return the unfinished one of that kind (one at a time per store)."""
    if kind not in _UPSERT:
        raise ValueError(f"unknown sync kind {kind!r}")
    try:
        with transaction.atomic():
            job = SyncJob.objects.create(store=store, kind=kind, mode=mode,
                                         updated_since=updated_since)
            enqueue_on_commit("integrations.tasks.run_sync_job", job.pk, queue="sync")
            return job
    except IntegrityError:
        return SyncJob.objects.for_store(store).get(
            kind=kind, status__in=[SyncJob.Status.PENDING, SyncJob.Status.RUNNING])


def sync_backfill_start(*, store) -> list[SyncJob]:
    """Everything, in the order that keeps links whole: products, customers, then orders."""
    return [sync_job_start(store=store, kind=kind) for kind in _UPSERT]


def sync_reconcile_start(*, store, now: datetime | None = None) -> list[SyncJob]:
    """Pull what changed since the last finished sync of each kind (closes webhook gaps)."""
    now = now or timezone.now()
    jobs = []
    for kind in _UPSERT:
        last = (SyncJob.objects.for_store(store).filter(kind=kind, status=SyncJob.Status.DONE)
                .order_by("-started_at").values_list("started_at", flat=True).first())
        if last is None:
            jobs.append(sync_job_start(store=store, kind=kind))  # never synced: backfill
        else:
            jobs.append(sync_job_start(store=store, kind=kind, mode=SyncJob.Mode.RECONCILE,
                                       updated_since=last - RECONCILE_OVERLAP))
    return jobs


def sync_job_run(*, job_id: int, now: datetime | None = None) -> str | None:
    """Run a job from its cursor to the end, if it is ours to run. Returns the final status."""
    now = now or timezone.now()
    token = uuid.uuid4().hex
    claimable = Q(status=SyncJob.Status.PENDING) & (
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now)
    ) | Q(status=SyncJob.Status.RUNNING, lease_expires_at__lte=now)
    claimed = SyncJob.objects.filter(claimable, pk=job_id).update(
        status=SyncJob.Status.RUNNING, lease_token=token, lease_expires_at=now + LEASE,
        attempts=F("attempts") + 1, started_at=Coalesce("started_at", now),
    )
    if not claimed:
        return None
    job = SyncJob.objects.select_related("store").get(pk=job_id)
    owned = SyncJob.objects.filter(pk=job_id, lease_token=token)
    upsert = _UPSERT[job.kind]
    try:
        pages = getattr(get_platform(job.store), _PAGES[job.kind])(
            cursor=job.cursor or None, updated_since=job.updated_since)
        with _relaxed_sync():
            for page in pages:
                with transaction.atomic():
                    result = upsert(job.store, page.items)
                    if not owned.update(
                        cursor=page.cursor or "", received=F("received") + result.received,
                        applied=F("applied") + result.applied, pages=F("pages") + 1,
                        lease_expires_at=timezone.now() + LEASE,
                        attempts=1,  # progress: attempts count failures since the last page
                    ):
                        raise _LeaseLost
        owned.update(status=SyncJob.Status.DONE, finished_at=timezone.now(),
                     lease_expires_at=None, last_error="")
        return SyncJob.Status.DONE
    except _LeaseLost:
        logger.warning("sync job %s: lease lost, another worker continues", job_id)
        return None
    except PlatformNotReady as exc:
        owned.update(status=SyncJob.Status.PENDING, attempts=F("attempts") - 1, last_error="",
                     lease_expires_at=timezone.now() + retry_delay(1, exc.retry_after))
        return SyncJob.Status.PENDING
    except RetryablePlatformError as exc:
        job.refresh_from_db(fields=["attempts"])
        return _retry_or_fail(job, owned, str(exc), exc.retry_after)
    except TerminalPlatformError as exc:
        owned.update(status=SyncJob.Status.FAILED, last_error=str(exc)[:2000],
                     finished_at=timezone.now(), lease_expires_at=None)
        return SyncJob.Status.FAILED
    except Exception as exc:
        logger.exception("sync job %s raised", job_id)
        job.refresh_from_db(fields=["attempts"])
        return _retry_or_fail(job, owned, f"{type(exc).__name__}: {exc}", None)


def _retry_or_fail(job: SyncJob, owned, error: str, retry_after: float | None) -> str:
    if job.attempts >= MAX_ATTEMPTS:
        owned.update(status=SyncJob.Status.FAILED, last_error=error[:2000],
                     finished_at=timezone.now(), lease_expires_at=None)
        return SyncJob.Status.FAILED
    owned.update(status=SyncJob.Status.PENDING, last_error=error[:2000],
                 lease_expires_at=timezone.now() + retry_delay(job.attempts, retry_after))
    return SyncJob.Status.PENDING


def sync_jobs_due(*, now: datetime, limit: int = 100) -> list[int]:
    """Jobs whose task may have been lost: pending and due, or running past the lease."""
    return list(
        SyncJob.objects.filter(
            Q(status=SyncJob.Status.PENDING, lease_expires_at__lte=now)
            | Q(status=SyncJob.Status.PENDING, lease_expires_at__isnull=True,
                created_at__lte=now - timedelta(minutes=1))
            | Q(status=SyncJob.Status.RUNNING, lease_expires_at__lte=now)
        ).order_by("pk").values_list("pk", flat=True)[:limit]
    )
