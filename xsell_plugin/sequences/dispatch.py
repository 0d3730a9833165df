"""The dispatcher: claim due ScheduledSends in batches and enqueue ``send_step(id)`` for each.

One conditional UPDATE per batch claims rows and returns exactly the ids it took::

    WITH picked AS [MATERIALIZED] (SELECT id FROM scheduledsend
                                   WHERE status = 'scheduled' AND due_at <= now
                                   ORDER BY due_at LIMIT n [FOR UPDATE SKIP LOCKED])
    UPDATE scheduledsend SET status = 'queued', lease_expires_at = now + lease
    WHERE id IN (SELECT id FROM picked) AND status = 'scheduled'
    RETURNING id

The same SQL runs on SQLite (>= 3.35, one writer at a time) and PostgreSQL, where ``SKIP LOCKED``
lets two dispatchers take disjoint batches instead of waiting on each other, and the outer
``status = 'scheduled'`` re-check (evaluated on the locked, current row) means a row is never
claimed twice. The claim commits before anything is enqueued; a task that is lost (broker crash)
leaves its row ``queued`` with an expired lease, and the next run claims it again the same way.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from xsell_plugin.sequences.models import ScheduledSend

SEND_STEP_TASK = "xsell_plugin.sequences.tasks.send_step"
SS = ScheduledSend.Status

Enqueue = Callable[[Sequence[int]], int]


def _claim_sql(connection, *, from_status: str, time_column: str, one_store: bool) -> str:
    qn = connection.ops.quote_name
    meta = ScheduledSend._meta
    table = qn(meta.db_table)
    column = {f.name: qn(f.column) for f in meta.concrete_fields}
    postgres = connection.vendor == "postgresql"
    lock = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    # The rows are picked once, in a materialised CTE: PostgreSQL may otherwise run an
    # ``IN (SELECT ... LIMIT n)`` subquery more than once and claim more than n rows.
    # Identifiers come from model metadata and are quoted; every value is a parameter.
    store_filter = f" AND {column['store']} = %s" if one_store else ""
    pick = (f"SELECT {column['id']} FROM {table} WHERE {column['status']} = %s"  # noqa: S608
            f" AND {column[time_column]} <= %s{store_filter}"
            f" ORDER BY {column[time_column]} LIMIT %s{lock}")
    return (f"WITH picked AS {'MATERIALIZED ' if postgres else ''}({pick})"  # noqa: S608
            f" UPDATE {table} SET {column['status']} = %s, {column['lease_expires_at']} = %s,"
            f" {column['updated_at']} = %s"
            f" WHERE {column['id']} IN (SELECT {column['id']} FROM picked)"
            f" AND {column['status']} = %s RETURNING {column['id']}")


def _claim(*, now: datetime, limit: int, from_status: str, time_column: str,
           store_id: int | None = None) -> list[int]:
    db = router.db_for_write(ScheduledSend)
    connection = connections[db]
    lease = now + timedelta(seconds=int(settings.XSELL_SEQUENCE_LEASE_SECONDS))
    sql = _claim_sql(connection, from_status=from_status, time_column=time_column,
                     one_store=store_id is not None)
    params = [from_status, now, *([store_id] if store_id is not None else []), limit,
              SS.QUEUED, lease, now, from_status]
    with transaction.atomic(using=db), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def sends_claim(*, now: datetime, limit: int, store_id: int | None = None) -> list[int]:
    """Claim up to ``limit`` due sends (``scheduled`` -> ``queued`` with a lease)."""
    return _claim(now=now, limit=limit, from_status=SS.SCHEDULED, time_column="due_at",
                  store_id=store_id)


def sends_reclaim_expired(*, now: datetime, limit: int, store_id: int | None = None) -> list[int]:
    """Claim again ``queued`` sends whose task never ran (the lease expired): a new lease."""
    return _claim(now=now, limit=limit, from_status=SS.QUEUED, time_column="lease_expires_at",
                  store_id=store_id)


def enqueue_many(func: str, ids: Sequence[int], *, queue: str, list_key: str | None = None) -> int:
    """Enqueue ``func(id)`` for each id, in bulk: the same signed task packages as django-q2's
    ``async_task`` (and ``core.tasks.enqueue_now``), written with one multi-row INSERT per
    chunk for the ORM broker and one RPUSH per chunk for Redis (one call per task otherwise).
    ``list_key`` names another broker queue (the benchmark's)."""
    if not ids:
        return 0
    from django_q.brokers import get_broker
    from django_q.brokers.orm import ORM
    from django_q.brokers.redis_broker import Redis
    from django_q.conf import Conf
    from django_q.models import OrmQ
    from django_q.signals import pre_enqueue
    from django_q.signing import SignedPackage
    from django_q.tasks import async_task

    if queue not in settings.XSELL_QUEUES:
        raise ValueError(f"unknown queue {queue!r}; queues are {settings.XSELL_QUEUES}")
    cluster = (f"{settings.Q_CLUSTER['name']}-{queue}" if settings.XSELL_SEPARATE_QUEUES else None)
    broker = get_broker(list_key or cluster)
    if Conf.SYNC or not isinstance(broker, ORM | Redis):
        options = {"broker": broker, **({"cluster": cluster} if cluster else {})}
        for pk in ids:
            async_task(func, int(pk), q_options=dict(options))
        return len(ids)
    packages = []
    for pk in ids:
        task_id = uuid.uuid4().hex
        task = {"id": task_id, "name": task_id, "func": func, "args": (int(pk),), "kwargs": {},
                "started": timezone.now()}
        if cluster:
            task["cluster"] = cluster
        if Conf.ACK_FAILURES:
            task["ack_failure"] = Conf.ACK_FAILURES
        if Conf.CACHED:
            task["cached"] = Conf.CACHED
        pre_enqueue.send(sender="django_q", task=task)
        packages.append(SignedPackage.dumps(task))
    for start in range(0, len(packages), 1000):
        chunk = packages[start:start + 1000]
        if isinstance(broker, ORM):
            lock = timezone.now()
            OrmQ.objects.using(Conf.ORM).bulk_create(
                [OrmQ(key=broker.list_key, payload=pack, lock=lock) for pack in chunk])
        else:
            broker.connection.rpush(broker.list_key, *chunk)
    return len(packages)


def enqueue_send_steps(ids: Sequence[int]) -> int:
    return enqueue_many(SEND_STEP_TASK, ids, queue="send")


@dataclass(frozen=True, slots=True)
class DispatchResult:
    claimed: int
    reclaimed: int
    enqueued: int
    batches: int
    seconds: float


def dispatch_due(*, now: datetime | None = None, batch: int | None = None,
                 max_seconds: float = 50.0, enqueue: Enqueue | None = None,
                 store_id: int | None = None) -> DispatchResult:
    """Claim everything due (in batches) and enqueue a ``send_step`` task for each claimed row.
    Stops when nothing is due or after ``max_seconds`` (the next minute's run carries on).
    ``store_id`` limits it to one store (the benchmark, the simulation)."""
    now = now or timezone.now()
    batch = batch or int(settings.XSELL_SEQUENCE_CLAIM_BATCH)
    enqueue = enqueue or enqueue_send_steps
    started = time.perf_counter()
    reclaimed = sends_reclaim_expired(now=now, limit=batch * 10, store_id=store_id)
    enqueued = enqueue(reclaimed)
    claimed = batches = 0
    while time.perf_counter() - started < max_seconds:
        ids = sends_claim(now=now, limit=batch, store_id=store_id)
        batches += 1
        claimed += len(ids)
        enqueued += enqueue(ids)
        if len(ids) < batch:
            break
    return DispatchResult(claimed=claimed, reclaimed=len(reclaimed), enqueued=enqueued,
                          batches=batches, seconds=time.perf_counter() - started)
