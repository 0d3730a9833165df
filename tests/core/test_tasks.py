"""enqueue_on_commit reaches the real broker (ORM on SQLite, Redis when REDIS_URL is set), only
after commit, and only with plain arguments."""

import pytest
from django.db import transaction
from django_q.brokers import get_broker
from django_q.signing import SignedPackage

from xsell_plugin.core.tasks import enqueue_now, enqueue_on_commit


@pytest.fixture
def broker(transactional_db):
    b = get_broker()
    b.purge_queue()
    yield b
    b.purge_queue()


def queued(broker) -> list[dict]:
    tasks = []
    while (found := broker.dequeue()):
        for ack_id, payload in found:
            tasks.append(SignedPackage.loads(payload))
            broker.acknowledge(ack_id)
    return tasks


def test_enqueued_after_commit(broker, store):
    with transaction.atomic():
        enqueue_on_commit("xsell_plugin.core.views.healthz", store.pk, "x", flag=True)
        assert broker.queue_size() == 0
    tasks = queued(broker)
    assert len(tasks) == 1
    assert tasks[0]["func"] == "xsell_plugin.core.views.healthz"
    assert tasks[0]["args"] == (store.pk, "x")
    assert tasks[0]["kwargs"] == {"flag": True}


def test_nothing_enqueued_on_rollback(broker):
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_on_commit("xsell_plugin.core.views.healthz", 1)
        raise RuntimeError("rolled back")
    assert queued(broker) == []


def test_callable_is_named_by_path(broker):
    enqueue_now(queued, 5)
    assert queued(broker)[0]["func"] == "tests.core.test_tasks.queued"


def test_model_instances_are_refused_where_the_mistake_is_made(broker, store):
    with pytest.raises(TypeError, match="ids or plain values"):
        enqueue_on_commit("xsell_plugin.core.views.healthz", store)
    with pytest.raises(TypeError):
        enqueue_now("xsell_plugin.core.views.healthz", items=[1, 2])
    assert queued(broker) == []


def test_unknown_queue_is_refused(broker):
    with pytest.raises(ValueError, match="unknown queue"):
        enqueue_now("xsell_plugin.core.views.healthz", 1, queue="nope")


def test_separate_queues_route_to_their_own_cluster(broker, settings):
    settings.XSELL_SEPARATE_QUEUES = True
    send_queue = get_broker(f"{settings.Q_CLUSTER['name']}-send")
    send_queue.purge_queue()
    try:
        enqueue_now("xsell_plugin.core.views.healthz", 1, queue="send")
        assert broker.queue_size() == 0
        assert send_queue.queue_size() == 1
    finally:
        send_queue.purge_queue()


def test_one_cluster_serves_every_queue_by_default(broker):
    enqueue_now("xsell_plugin.core.views.healthz", 1, queue="webhooks")
    assert len(queued(broker)) == 1
