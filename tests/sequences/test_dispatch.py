"""The dispatcher: conditional-UPDATE claims in batches, lost tasks claimed again, bulk enqueue
onto the real broker, and (PostgreSQL) two workers at once never double-send."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django_q.brokers import get_broker
from django_q.signing import SignedPackage

from emails.models import OutboundEmail
from tests.sequences.helpers import customer, order
from xsell_plugin.sequences import bench, tasks
from xsell_plugin.sequences.dispatch import (
    SEND_STEP_TASK,
    dispatch_due,
    enqueue_many,
    sends_claim,
    sends_reclaim_expired,
)
from xsell_plugin.sequences.models import Enrollment, ScheduledSend, Sequence, Step
from xsell_plugin.sequences.services import send_step, sequence_create
from xsell_plugin.stores.models import Store

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def due_sends(store, n: int, *, due=NOW - M, steps: int = 1) -> list[int]:
    """``n`` due sends (one per enrolment) for one subscribed customer of ``store``."""
    sequence = sequence_create(store=store, key=f"s{Sequence.objects.count()}", name="s",
                               trigger="win_back", exit_on="never",
                               steps=[{"kind": "value", "delay_minutes": 0}] * steps)
    step = Step.objects.get(sequence=sequence, position=1)
    who = customer(store)
    enrollments = Enrollment.objects.bulk_create([
        Enrollment(store=store, sequence=sequence, customer=who, trigger_key=f"k{i}", triggered_at=NOW,
                   enrolled_at=NOW) for i in range(n)])
    rows = ScheduledSend.objects.bulk_create([
        ScheduledSend(store=store, enrollment=e, step=step, due_at=due, first_due_at=due)
        for e in enrollments])
    return [r.pk for r in rows]


@pytest.fixture
def queue(transactional_db):
    broker = get_broker("xsell-test-dispatch")
    broker.purge_queue()
    yield broker
    broker.purge_queue()


def drain(broker) -> list[dict]:
    tasks_ = []
    while found := broker.dequeue():
        for ack_id, payload in found:
            tasks_.append(SignedPackage.loads(payload))
            broker.acknowledge(ack_id)
    return tasks_


@pytest.mark.django_db
def test_claims_due_rows_once_in_batches(shop):
    ids = due_sends(shop, 5)
    later = due_sends(shop, 1, due=NOW + M)
    got: list[int] = []
    result = dispatch_due(now=NOW, batch=2, enqueue=lambda batch: got.extend(batch) or len(batch))
    assert sorted(got) == sorted(ids)
    assert (result.claimed, result.batches) == (5, 3)
    assert dispatch_due(now=NOW, enqueue=lambda batch: len(batch)).claimed == 0
    statuses = dict(ScheduledSend.objects.values_list("pk", "status"))
    assert {statuses[i] for i in ids} == {"queued"} and statuses[later[0]] == "scheduled"


@pytest.mark.django_db
def test_a_lost_task_is_claimed_again_after_its_lease(shop, settings):
    settings.XSELL_SEQUENCE_LEASE_SECONDS = 300
    (pk,) = due_sends(shop, 1)
    assert sends_claim(now=NOW, limit=10) == [pk]
    assert sends_reclaim_expired(now=NOW + 4 * M, limit=10) == []
    assert sends_reclaim_expired(now=NOW + 6 * M, limit=10) == [pk]
    result = dispatch_due(now=NOW + 12 * M, enqueue=lambda batch: len(batch))
    assert (result.reclaimed, result.claimed) == (1, 0)


@pytest.mark.django_db
def test_one_store_only(shop, other_store):
    mine, theirs = due_sends(shop, 2), due_sends(other_store, 2)
    assert sorted(sends_claim(now=NOW, limit=10, store_id=shop.pk)) == sorted(mine)
    assert sorted(sends_claim(now=NOW, limit=10)) == sorted(theirs)


def test_enqueue_many_puts_real_tasks_on_the_broker(queue):
    assert enqueue_many(SEND_STEP_TASK, [3, 1, 2], queue="send", list_key="xsell-test-dispatch") == 3
    packages = drain(queue)
    assert [(p["func"], p["args"], p["kwargs"]) for p in packages] == [
        (SEND_STEP_TASK, (3,), {}), (SEND_STEP_TASK, (1,), {}), (SEND_STEP_TASK, (2,), {})]
    assert len({p["id"] for p in packages}) == 3
    with pytest.raises(ValueError, match="unknown queue"):
        enqueue_many(SEND_STEP_TASK, [1], queue="nope")


def test_the_send_task_acts_once(queue, store):
    Store.objects.filter(pk=store.pk).update(timezone="UTC")
    store.refresh_from_db()
    (pk,) = due_sends(store, 1, due=datetime(2026, 3, 2, 12, tzinfo=UTC))
    sends_claim(now=datetime(2026, 3, 2, 12, tzinfo=UTC), limit=1)
    order(store, Enrollment.objects.get().customer, datetime(2026, 1, 1, tzinfo=UTC))
    with time_machine.travel(datetime(2026, 3, 2, 12, tzinfo=UTC), tick=False):
        assert tasks.send_step(pk) == "dispatched"
        assert tasks.send_step(pk) == "not_claimed"
    assert OutboundEmail.objects.count() == 1


def test_schedules_exist(db):
    from django_q.models import Schedule

    names = dict(Schedule.objects.values_list("name", "func"))
    assert names["xsell: sequence triggers"] == "xsell_plugin.sequences.tasks.scan"
    assert names["xsell: dispatch sequence sends"] == "xsell_plugin.sequences.tasks.dispatch"


@pytest.mark.django_db
def test_the_benchmark_function_reports_and_cleans_up():
    figures = bench.dispatch(size=250, batch=100)
    assert figures["claimed"] == figures["enqueued"] == figures["broker_queue_size"] == 250
    assert figures["left_scheduled"] == 0 and figures["batches"] == 3
    assert not Store.objects.filter(domain=bench.BENCH_DOMAIN).exists()
    report = bench.run(size=120)
    assert report["rows"][0]["name"] == "dispatch" and report["figures"]["claimed"] == 120


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="SKIP LOCKED and concurrent writers need PostgreSQL (SQLite has one writer)")
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_never_double_send(shop):
    """Two dispatchers claim in parallel, then two workers run every task (each delivered twice)."""
    from django.db import connections

    Store.objects.filter(pk=shop.pk).update(timezone="UTC")
    ids = due_sends(shop, 400, due=datetime(2026, 3, 2, 11, tzinfo=UTC))
    customers = [customer(shop) for _ in range(40)]
    for n, pk in enumerate(ids):  # spread the enrolments over 40 customers
        Enrollment.objects.filter(sends__pk=pk).update(customer=customers[n % 40])
    for c in customers:
        order(shop, c, datetime(2026, 1, 1, tzinfo=UTC))
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    claimed: list[list[int]] = [[], []]
    barrier = threading.Barrier(2)

    def dispatcher(n: int) -> None:
        try:
            barrier.wait()
            dispatch_due(now=now, batch=25, enqueue=lambda batch: claimed[n].extend(batch) or len(batch))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=dispatcher, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not set(claimed[0]) & set(claimed[1])
    assert sorted(claimed[0] + claimed[1]) == sorted(ids)

    work = claimed[0] + claimed[1]
    outcomes: list[list] = [[], []]

    def worker(n: int) -> None:
        try:
            barrier.wait()
            for pk in (work if n == 0 else list(reversed(work))):
                outcomes[n].append(send_step(pk, now=now))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    acted = [o for o in outcomes[0] + outcomes[1] if o.status != "not_claimed"]
    assert len(acted) == len(ids)  # every send processed exactly once
    emails = OutboundEmail.objects.for_store(shop)
    assert emails.values("idempotency_key").distinct().count() == emails.count()
    # the guardrails held across both workers: at most one email per customer (min spacing)
    per_customer = emails.values_list("customer_id", flat=True)
    assert len(per_customer) == len(set(per_customer)) == 40
