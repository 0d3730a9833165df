"""Webhook events and sync jobs: recorded once, applied once, resumed after a crash."""

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from integrations import tasks
from integrations.models import SyncJob, WebhookEvent
from integrations.sync import (
    RECONCILE_OVERLAP,
    sync_backfill_start,
    sync_job_run,
    sync_job_start,
    sync_reconcile_start,
)
from integrations.webhooks import webhook_event_process, webhook_event_record
from tests.factories import T0
from tests.fakes import platform as fake
from xsell_plugin.catalog.models import Product

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fake_platform(settings):
    settings.XSELL_PLATFORMS = {"shopify": "tests.fakes.platform.FakePlatform"}
    fake.SCRIPT = fake.Script()
    return fake.SCRIPT


def record(store, key="d1", topic="products/update", n=1, updated_at=T0):
    body = json.dumps({"n": n, "updated_at": updated_at.isoformat()}).encode()
    return webhook_event_record(store=store, platform="shopify", dedupe_key=key, topic=topic, body=body)


class TestWebhooks:
    def test_recorded_once_and_enqueued_after_commit(self, store, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks() as callbacks:
            event, created = record(store)
            again, created_again = record(store)
        assert created and event.status == WebhookEvent.Status.PENDING
        assert (again, created_again) == (None, False)
        assert len(callbacks) == 1  # one task for one delivery
        assert WebhookEvent.objects.for_store(store).count() == 1

    def test_same_delivery_id_in_two_stores_is_two_events(self, store, other_store):
        assert record(store)[1] and record(other_store)[1]

    def test_processed_once_even_if_the_task_runs_twice(self, store, fake_platform):
        event, _ = record(store)
        assert webhook_event_process(event_id=event.pk) == WebhookEvent.Status.DONE
        assert webhook_event_process(event_id=event.pk) is None
        assert len(fake_platform.handled) == 1
        event.refresh_from_db()
        assert (event.status, event.attempts, event.processed_at is not None) == ("done", 1, True)
        assert Product.objects.for_store(store).get().external_id == "p1"

    def test_unknown_topic_is_ignored(self, store):
        event, _ = record(store, topic="themes/publish")
        assert webhook_event_process(event_id=event.pk) == WebhookEvent.Status.IGNORED

    def test_retryable_error_backs_off_then_succeeds(self, store, fake_platform):
        event, _ = record(store)
        fake_platform.webhook_error = fake.RetryablePlatformError("throttled", retry_after=90)
        now = timezone.now()
        assert webhook_event_process(event_id=event.pk, now=now) == WebhookEvent.Status.PENDING
        event.refresh_from_db()
        assert event.lease_expires_at >= now + timedelta(seconds=90)
        assert "throttled" in event.last_error
        fake_platform.webhook_error = None
        # not before its time, then yes
        assert webhook_event_process(event_id=event.pk, now=now + timedelta(seconds=30)) is None
        assert webhook_event_process(event_id=event.pk, now=now + timedelta(seconds=91)) == "done"

    def test_a_failed_handler_leaves_no_partial_write(self, store, fake_platform):
        event, _ = record(store)
        fake_platform.webhook_error = ValueError("malformed payload")
        assert webhook_event_process(event_id=event.pk) == WebhookEvent.Status.FAILED
        assert not Product.objects.for_store(store).exists()

    @pytest.mark.parametrize("error", [KeyError("id"), TypeError("'NoneType' is not iterable")])
    def test_an_unreadable_payload_fails_at_once(self, store, fake_platform, error):
        event, _ = record(store)
        fake_platform.webhook_error = error
        assert webhook_event_process(event_id=event.pk) == WebhookEvent.Status.FAILED
        event.refresh_from_db()
        assert event.attempts == 1 and type(error).__name__ in event.last_error

    def test_unexpected_errors_retry_a_bounded_number_of_times(self, store, fake_platform):
        event, _ = record(store)
        fake_platform.webhook_error = RuntimeError("bug")
        now = timezone.now()
        statuses = []
        for _ in range(10):
            now += timedelta(hours=2)
            statuses.append(webhook_event_process(event_id=event.pk, now=now))
        assert statuses[:7] == ["pending"] * 7
        assert statuses[7] == "failed"
        assert statuses[8:] == [None, None]

    def test_lost_task_is_swept_and_a_crashed_claim_is_retaken(self, store, fake_platform):
        event, _ = record(store)
        WebhookEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(minutes=2))
        assert tasks.sweep()["webhook_events"] == 1
        # a worker claimed it and died: nobody else may take it until the lease expires
        now = timezone.now()
        WebhookEvent.objects.filter(pk=event.pk).update(
            status="processing", lease_expires_at=now + timedelta(minutes=5))
        assert webhook_event_process(event_id=event.pk, now=now) is None
        assert webhook_event_process(event_id=event.pk, now=now + timedelta(minutes=6)) == "done"


class TestSync:
    def test_backfill_pages_through_everything(self, store, fake_platform):
        fake_platform.products = [fake.product(n, T0) for n in range(35)]
        job = sync_job_start(store=store, kind="products")
        assert sync_job_run(job_id=job.pk) == SyncJob.Status.DONE
        job.refresh_from_db()
        assert (job.received, job.applied, job.pages, job.cursor) == (35, 35, 4, "")
        assert Product.objects.for_store(store).count() == 35

    def test_crash_mid_way_resumes_from_the_last_committed_page(self, store, fake_platform):
        fake_platform.products = [fake.product(n, T0) for n in range(100)]
        fake_platform.fail_at_page = {6: fake.RetryablePlatformError("503")}
        job = sync_job_start(store=store, kind="products")
        now = timezone.now()
        assert sync_job_run(job_id=job.pk, now=now) == SyncJob.Status.PENDING
        job.refresh_from_db()
        assert (job.cursor, job.pages, Product.objects.for_store(store).count()) == ("60", 6, 60)

        assert sync_job_run(job_id=job.pk, now=now + timedelta(hours=1)) == SyncJob.Status.DONE
        job.refresh_from_db()
        assert fake_platform.served_cursors == [None, "60"]  # resumed, not restarted
        assert (job.received, job.pages, job.attempts) == (100, 10, 1)  # failures since progress
        assert Product.objects.for_store(store).count() == 100

    def test_a_worker_killed_mid_job_is_taken_over_after_its_lease(self, store, fake_platform):
        fake_platform.products = [fake.product(n, T0) for n in range(20)]
        job = sync_job_start(store=store, kind="products")
        now = timezone.now()
        SyncJob.objects.filter(pk=job.pk).update(status="running", cursor="10",
                                                 lease_expires_at=now + timedelta(minutes=5))
        assert sync_job_run(job_id=job.pk, now=now) is None  # still leased by the dead worker
        assert tasks.sweep()["sync_jobs"] == 0
        later = now + timedelta(minutes=6)
        assert sync_job_run(job_id=job.pk, now=later) == SyncJob.Status.DONE
        assert fake_platform.served_cursors == ["10"]

    def test_attempts_count_failures_since_the_last_progress(self, store, fake_platform):
        fake_platform.products = [fake.product(n, T0) for n in range(80)]
        # a transient failure after every committed page: never more than 1 in a row
        fake_platform.fail_at_page = {n: fake.RetryablePlatformError("503") for n in range(1, 8)}
        job = sync_job_start(store=store, kind="products")
        now = timezone.now()
        statuses = []
        for _ in range(8):  # more claims than MAX_ATTEMPTS, each one making progress
            now += timedelta(hours=2)
            statuses.append(sync_job_run(job_id=job.pk, now=now))
        assert statuses == [SyncJob.Status.PENDING] * 7 + [SyncJob.Status.DONE]
        assert Product.objects.for_store(store).count() == 80

    def test_not_ready_never_uses_up_attempts(self, store, fake_platform):
        fake_platform.products = [fake.product(1, T0)]
        job = sync_job_start(store=store, kind="products")
        claim_at = timezone.now()
        for _ in range(12):  # twice MAX_ATTEMPTS
            fake_platform.fail_at_page = {0: fake.PlatformNotReady("still running", retry_after=20)}
            before = timezone.now()
            assert sync_job_run(job_id=job.pk, now=claim_at) == SyncJob.Status.PENDING
            job.refresh_from_db()
            assert job.attempts == 0 and job.lease_expires_at >= before + timedelta(seconds=20)
            claim_at = job.lease_expires_at
        assert sync_job_run(job_id=job.pk, now=claim_at) == SyncJob.Status.DONE

    def test_terminal_error_fails_the_job_with_its_reason(self, store, fake_platform):
        fake_platform.products = [fake.product(1, T0)]
        fake_platform.fail_at_page = {0: fake.TerminalPlatformError("access revoked")}
        job = sync_job_start(store=store, kind="products")
        assert sync_job_run(job_id=job.pk) == SyncJob.Status.FAILED
        job.refresh_from_db()
        assert job.last_error == "access revoked"

    def test_one_unfinished_job_per_kind(self, store, other_store):
        first = sync_job_start(store=store, kind="products")
        assert sync_job_start(store=store, kind="products").pk == first.pk
        assert sync_job_start(store=other_store, kind="products").pk != first.pk
        assert [j.kind for j in sync_backfill_start(store=store)] == ["products", "customers", "orders"]

    def test_reconcile_starts_from_the_last_finished_sync(self, store, fake_platform):
        fake_platform.products = [fake.product(1, T0), fake.product(2, T0 + timedelta(days=2))]
        job = sync_job_start(store=store, kind="products")
        sync_job_run(job_id=job.pk)
        SyncJob.objects.filter(pk=job.pk).update(started_at=T0 + timedelta(days=1))
        jobs = {j.kind: j for j in sync_reconcile_start(store=store)}
        assert jobs["products"].mode == "reconcile"
        assert jobs["products"].updated_since == T0 + timedelta(days=1) - RECONCILE_OVERLAP
        assert jobs["orders"].mode == "backfill"  # never synced yet
        assert sync_job_run(job_id=jobs["products"].pk) == "done"
        jobs["products"].refresh_from_db()
        assert jobs["products"].received == 1

    def test_unknown_kind_is_refused(self, store):
        with pytest.raises(ValueError):
            sync_job_start(store=store, kind="coupons")


def test_schedules_exist():
    from django_q.models import Schedule

    names = set(Schedule.objects.values_list("name", flat=True))
    assert {"xsell: sweep lost tasks", "xsell: reconcile stores"} <= names


def test_reconcile_task_covers_connected_stores_only(store, settings):
    from tests.factories import StoreFactory

    StoreFactory(platform="demo")
    StoreFactory(platform="shopify", status="uninstalled")
    with transaction.atomic():
        assert tasks.reconcile_stores() == 1
    assert SyncJob.objects.for_store(store).count() == 3
