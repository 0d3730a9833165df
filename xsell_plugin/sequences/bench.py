"""``manage.py xsell_bench dispatch``: claim and enqueue N due sends (DESIGN.md section 7: 100k
in < 20 s).

On the configured database and broker: a throwaway store with one customer, one sequence of
100 steps and N / 100 enrolments gets N ScheduledSend rows, all due. ``dispatch_due`` then claims
them in batches (the conditional UPDATE ... RETURNING of ``dispatch``) and enqueues one
``send_step(id)`` task each on a private broker queue that no worker reads. The queue is
purged and the store deleted afterwards. Nothing here fails on a number.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from xsell_plugin.customers.models import ConsentState, Customer
from xsell_plugin.sequences.dispatch import SEND_STEP_TASK, dispatch_due, enqueue_many
from xsell_plugin.sequences.models import Enrollment, ScheduledSend, Sequence, Step
from xsell_plugin.stores.models import Store

BAR_SECONDS = 20.0
BENCH_DOMAIN = "dispatch-bench.invalid"
STEPS = 100


class _NoBar:
    def update(self, n: int = 1) -> None:
        return None

    def close(self) -> None:
        return None


def _setup(size: int, progress) -> Store:
    Store.objects.filter(domain=BENCH_DOMAIN).delete()
    now = timezone.now()
    store = Store.objects.create(platform=Store.Platform.DEMO, domain=BENCH_DOMAIN, name="Dispatch bench",
                                 status=Store.Status.ACTIVE)
    customer = Customer.objects.create(store=store, external_id="bench", email="bench@example.invalid",
                                       consent_state=ConsentState.SUBSCRIBED)
    sequence = Sequence.objects.create(store=store, key="bench", name="bench", trigger="win_back")
    steps = Step.objects.bulk_create([Step(store=store, sequence=sequence, position=n + 1, kind="value")
                                      for n in range(STEPS)])
    enrollments = Enrollment.objects.bulk_create([
        Enrollment(store=store, sequence=sequence, customer=customer, trigger_key=f"bench:{n}",
                   triggered_at=now, enrolled_at=now) for n in range(-(-size // STEPS))])
    bar = progress("creating due sends", size)
    due = now - timedelta(minutes=1)
    rows = (ScheduledSend(store=store, enrollment=e, step=s, due_at=due, first_due_at=due)
            for e in enrollments for s in steps)
    made = 0
    while made < size:
        chunk = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == min(5000, size - made):
                break
        with transaction.atomic():
            ScheduledSend.objects.bulk_create(chunk, batch_size=5000)
        made += len(chunk)
        bar.update(len(chunk))
    bar.close()
    return store


def dispatch(*, size: int = 100_000, batch: int | None = None, progress=None) -> dict[str, Any]:
    """Create ``size`` due sends, then time claiming them and enqueueing their tasks."""
    from django_q.brokers import get_broker

    progress = progress or (lambda description, total: _NoBar())
    list_key = f"{settings.Q_CLUSTER['name']}-dispatch-bench"
    broker = get_broker(list_key)
    broker.purge_queue()
    store = _setup(size, progress)
    enqueued = 0
    bar = progress("claim + enqueue", size)

    def enqueue(ids) -> int:
        nonlocal enqueued
        n = enqueue_many(SEND_STEP_TASK, ids, queue="send", list_key=list_key)
        enqueued += n
        bar.update(n)
        return n

    try:
        started = time.perf_counter()
        result = dispatch_due(now=timezone.now(), batch=batch, max_seconds=600, enqueue=enqueue,
                              store_id=store.pk)
        seconds = time.perf_counter() - started
        bar.close()
        queued = broker.queue_size()
        left = ScheduledSend.objects.for_store(store).filter(status=ScheduledSend.Status.SCHEDULED).count()
    finally:
        broker.purge_queue()
        Store.objects.filter(pk=store.pk).delete()
    return {
        "size": size, "claimed": result.claimed, "enqueued": enqueued, "broker_queue_size": queued,
        "left_scheduled": left, "batches": result.batches, "seconds": seconds,
        "per_second": result.claimed / seconds if seconds else None, "bar_seconds": BAR_SECONDS,
        "database": connection.vendor, "broker": broker.info(),
    }


def run(*, size: int | None = None, progress=None, options: dict | None = None) -> dict[str, Any]:
    """The ``xsell_bench`` suite."""
    figures = dispatch(size=size or 100_000, progress=progress)
    per = figures["seconds"] / max(figures["claimed"], 1)
    note = (f"{figures['claimed']:,} claimed + enqueued in {figures['seconds']:.1f} s on "
            f"{figures['database']} / {figures['broker']} (bar: {BAR_SECONDS:.0f} s for 100k)")
    return {"title": "Sequence dispatch (claim due sends + enqueue send_step)",
            "rows": [{"name": "dispatch", "per_second": figures["per_second"], "ms_per_message": per * 1000,
                      "note": note}],
            "figures": figures}
