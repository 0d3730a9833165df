"""Backfill through bulk operations (JSONL streamed, children joined by ``__parentId``), resumed
from the checkpointed cursor after a crash; reconciliation pages by ``updated_at``."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import SyncJob
from integrations.shopify.platform import decode_cursor
from integrations.sync import sync_backfill_start, sync_job_run, sync_job_start
from tests.fakes.shopify import catalogue
from xsell_plugin.catalog.models import Collection, Product, ProductCollection, Variant
from xsell_plugin.customers.models import Customer
from xsell_plugin.orders.models import Order, OrderLine

pytestmark = pytest.mark.django_db

LATER = timedelta(minutes=30)  # past any retry backoff


def run(job, *, later=False):
    status = sync_job_run(job_id=job.pk, now=timezone.now() + LATER if later else None)
    job.refresh_from_db()
    return status


def test_full_backfill_of_products_customers_and_orders(store, shop):
    catalogue.seed(shop, products=40, customers=12, orders=25)
    jobs = sync_backfill_start(store=store)
    assert [run(job) for job in jobs] == ["done", "done", "done"]
    assert Product.objects.for_store(store).count() == 40
    assert Variant.objects.for_store(store).count() == 80
    assert Collection.objects.for_store(store).count() == len(catalogue.collections())
    assert ProductCollection.objects.for_store(store).count() == 40
    assert Customer.objects.for_store(store).count() == 12
    assert Order.objects.for_store(store).count() == 25
    lines = OrderLine.objects.for_store(store)
    assert lines.count() == sum(len(o["lineItems"]) for o in shop.orders)
    assert not lines.filter(variant__isnull=True).exists()  # linked to the catalogue
    assert Order.objects.for_store(store).filter(customer__isnull=False).count() == 25
    variant = Variant.objects.for_store(store).get(external_id=shop.products[3]["variants"][1]["id"])
    assert variant.cost is not None and variant.price > 0
    subscribed = Customer.objects.for_store(store).filter(consent_state="subscribed").count()
    assert subscribed == sum(c["defaultEmailAddress"]["marketingState"] == "SUBSCRIBED"
                             for c in shop.customers)
    assert shop.calls["bulk:run"] == 3
    assert all(job.cursor == "" for job in jobs)


def test_an_empty_shop_finishes(store, shop):
    job = sync_job_start(store=store, kind="customers")
    assert run(job) == "done"
    assert job.cursor == ""


def test_10k_products_resume_after_a_crash_mid_download(store, shop, fake, capsys):
    catalogue.seed(shop, products=10_000, customers=0, orders=0)
    fake.script.break_download_after_lines = 18_000  # the connection drops mid-file
    job = sync_job_start(store=store, kind="products")
    started = time.perf_counter()
    assert run(job) == "pending"  # retryable: back off, resume later
    first = job.received
    state = decode_cursor(job.cursor)
    assert 0 < first < 10_000 and state["line"] > 0 and state["url"]
    assert run(job, later=True) == "done"
    elapsed = time.perf_counter() - started
    assert Product.objects.for_store(store).count() == 10_000
    assert Variant.objects.for_store(store).count() == 20_000
    assert job.received == 10_000  # nothing written twice: the second run started at the cursor
    assert (shop.calls["bulk:run"], shop.calls["bulk:download"]) == (1, 2)
    with capsys.disabled():
        print(f"\n  bulk backfill: 10,000 products + 20,000 variants in {elapsed:.1f}s "
              f"= {10_000 / elapsed:,.0f} products/s (one crash and resume included)")


def test_a_crash_while_polling_resumes_the_same_operation(store, shop, fake):
    catalogue.seed(shop, products=30, customers=0, orders=0)
    fake.script.poll_failures = 6  # more 5xx than the client retries in one run
    job = sync_job_start(store=store, kind="products")
    assert run(job) == "pending"
    assert decode_cursor(job.cursor)["op"] == "gid://shopify/BulkOperation/1"
    assert run(job, later=True) == "done"
    assert shop.calls["bulk:run"] == 1
    assert Product.objects.for_store(store).count() == 30


def test_an_expired_result_url_runs_the_operation_again(store, shop, fake):
    catalogue.seed(shop, products=1200, customers=0, orders=0)
    fake.script.break_download_after_lines = 2000
    job = sync_job_start(store=store, kind="products")
    assert run(job) == "pending"
    for op in shop.bulk_ops.values():
        del op["content"]  # the signed URL has expired: 403
    assert run(job, later=True) == "done"
    assert shop.calls["bulk:run"] == 2
    assert Product.objects.for_store(store).count() == 1200


def test_reconciliation_pages_only_what_changed(store, shop):
    catalogue.seed(shop, products=0, customers=0, orders=0)
    since = timezone.now() - timedelta(hours=1)
    old, new = catalogue.T0 - timedelta(days=3), timezone.now()
    shop.products = [catalogue.product(n, shop.domain, updated_at=new if n < 150 else old)
                     for n in range(170)]
    big = catalogue.product(999, shop.domain, variants=120, updated_at=new)  # > one nested page
    shop.products.append(big)
    job = sync_job_start(store=store, kind="products", mode=SyncJob.Mode.RECONCILE, updated_since=since)
    assert run(job) == "done"
    assert Product.objects.for_store(store).count() == 151
    assert job.pages == 2
    assert Variant.objects.for_store(store).filter(product__external_id=big["id"]).count() == 120
    assert shop.calls["XsellProductVariants"] == 1
    assert shop.calls["bulk:run"] == 0


def test_reconciliation_of_orders_and_customers(store, shop):
    catalogue.seed(shop, products=5, customers=4, orders=6)
    since = catalogue.T0 - timedelta(days=365)
    for kind in ("customers", "orders"):
        job = sync_job_start(store=store, kind=kind, mode=SyncJob.Mode.RECONCILE, updated_since=since)
        assert run(job) == "done"
    assert Customer.objects.for_store(store).count() == 4
    assert Order.objects.for_store(store).count() == 6


def test_backfills_of_two_shops_stay_apart(store, shop, other_store, other_shop):
    catalogue.seed(shop, products=10, customers=3, orders=4, seed=1)
    catalogue.seed(other_shop, products=7, customers=2, orders=3, seed=2)
    for target in (store, other_store):
        for job in sync_backfill_start(store=target):
            assert run(job) == "done"
    assert Product.objects.for_store(store).count() == 10
    assert Product.objects.for_store(other_store).count() == 7
    assert Order.objects.for_store(other_store).count() == 3
    assert (shop.calls["bulk:run"], other_shop.calls["bulk:run"]) == (3, 3)
