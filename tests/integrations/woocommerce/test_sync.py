"""Backfill and reconciliation through the shared runner (integrations.sync) against the fake."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import tasks
from integrations.models import SyncJob
from integrations.sync import sync_backfill_start, sync_job_run, sync_job_start
from integrations.woocommerce.client import PageCursor
from xsell_plugin.catalog.models import Collection, Product, Variant
from xsell_plugin.customers.models import Customer
from xsell_plugin.orders.models import Order, OrderLine

pytestmark = pytest.mark.django_db


def run(job, *, now=None):
    return sync_job_run(job_id=job.pk, now=now)


def test_full_backfill_in_pages(fake, woo, other_fake, other_woo):
    fake.seed(products=260, customers=120, orders=230)
    other_fake.seed(products=5, customers=3, orders=4, seed=3)
    for store in (woo, other_woo):
        assert [run(job) for job in sync_backfill_start(store=store)] == ["done"] * 3
    variable = [p for p in fake.products.values() if p["type"] == "variable"]
    assert Product.objects.for_store(woo).count() == 260
    assert Variant.objects.for_store(woo).count() == 260 - len(variable) + sum(
        len(fake.variations[p["id"]]) for p in variable)
    assert Customer.objects.for_store(woo).count() == 120
    assert Order.objects.for_store(woo).count() == 230
    assert Collection.objects.for_store(woo).count() == 4
    # three pages each for products and orders (X-WP-TotalPages = 3)
    assert [q["page"] for q in fake.requested("wc/v3/products")] == ["1", "2", "3"]
    assert [q["page"] for q in fake.requested("wc/v3/orders")] == ["1", "2", "3"]
    products = SyncJob.objects.for_store(woo).get(kind="products")
    assert (products.pages, products.received, products.applied, products.cursor) == (3, 260, 260, "")
    # links: every order line points at its product and variant
    assert not OrderLine.objects.for_store(woo).filter(variant__isnull=True).exists()
    linked = Product.objects.for_store(woo).exclude(cross_sell_ids=[]).first()
    assert all(isinstance(i, str) for i in linked.cross_sell_ids)
    # the second store saw only its own store's data
    assert Product.objects.for_store(other_woo).count() == 5
    assert Order.objects.for_store(other_woo).count() == 4
    assert not set(Product.objects.for_store(other_woo).values_list("external_id", flat=True)) & {
        str(i) for i in fake.products if i not in other_fake.products}


def test_crash_mid_backfill_resumes_from_the_cursor(fake, woo, settings):
    fake.seed(products=300, variable_every=0)
    fake.fail("wc/v3/products", 503, page=2, times=settings.XSELL_WOOCOMMERCE_ATTEMPTS)
    job = sync_job_start(store=woo, kind=SyncJob.Kind.PRODUCTS)
    assert run(job) == "pending"  # page 2 kept failing: the job will be tried again later
    job.refresh_from_db()
    assert Product.objects.for_store(woo).count() == 100
    assert PageCursor.load(job.cursor).page == 2 and "503" in job.last_error
    assert run(job) is None  # not before its backoff
    assert run(job, now=timezone.now() + timedelta(hours=1)) == "done"
    assert Product.objects.for_store(woo).count() == 300
    pages = [q["page"] for q in fake.requested("wc/v3/products")]
    assert pages.count("1") == 1  # page 1 was not read again
    assert pages.count("2") == settings.XSELL_WOOCOMMERCE_ATTEMPTS + 1


def test_reconcile_pulls_only_what_changed(fake, woo):
    fake.seed(products=30, customers=10, orders=20, variable_every=0)
    for job in sync_backfill_start(store=woo):
        run(job)
    since = fake.clock
    product = next(iter(fake.products.values()))
    fake.update("products", product["id"], name="Renamed", stock_quantity=0,
                stock_status="outofstock", manage_stock=True)
    order = next(iter(fake.orders.values()))
    fake.update("orders", order["id"], status="cancelled")
    customer = next(iter(fake.customers.values()))
    fake.update("customers", customer["id"], first_name="Changed")
    seen = len(fake.log)
    for kind in SyncJob.Kind.values:
        job = sync_job_start(store=woo, kind=kind, mode=SyncJob.Mode.RECONCILE,
                             updated_since=since)
        assert run(job) == "done"
        assert SyncJob.objects.get(pk=job.pk).received == 1
    queries = {p: q for _, p, q in fake.log[seen:]}
    assert queries["wc/v3/products"]["dates_are_gmt"] == "true"
    assert queries["wc/v3/orders"]["modified_after"] == since.replace(tzinfo=None).isoformat()
    assert Product.objects.for_store(woo).get(external_id=str(product["id"])).title == "Renamed"
    assert Order.objects.for_store(woo).get(external_id=str(order["id"])).cancelled_at is not None
    assert Customer.objects.for_store(woo).get(external_id=str(customer["id"])).first_name == "Changed"


def test_connect_task_registers_webhooks_then_backfills(fake, woo):
    fake.seed(products=5, customers=2, orders=3)
    assert tasks.connect_store(woo.pk) == 3
    assert len(fake.webhooks) == 14
    for job in SyncJob.objects.for_store(woo):
        run(job)
    assert Order.objects.for_store(woo).count() == 3


def test_hourly_reconciliation_revives_disabled_webhooks(fake, woo):
    tasks.connect_store(woo.pk)
    for job in SyncJob.objects.for_store(woo):
        run(job)
    hook = next(h for h in fake.webhooks.values() if h["topic"] == "order.created")
    hook["status"] = "disabled"
    assert tasks.reconcile_stores() == 1
    assert hook["status"] == "active"
    reconcile = SyncJob.objects.for_store(woo).filter(mode=SyncJob.Mode.RECONCILE)
    assert reconcile.count() == 3 and all(j.updated_since for j in reconcile)
