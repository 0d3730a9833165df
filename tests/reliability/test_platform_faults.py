"""The platforms misbehave: 429 and 5xx (with ``Retry-After``), answers slower than our read
timeout, Shopify's cost throttle, a bulk download that breaks off. Backfills and webhook
processing retry, resume from their cursor, and end with every row exactly once: nothing lost,
nothing written twice."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import SyncJob, WebhookEvent
from integrations.sync import sync_job_run, sync_job_start
from integrations.webhooks import webhook_event_process, webhook_event_record
from tests.fakes.shopify import catalogue
from tests.fakes.woocommerce_server import FakeWooCommerce
from tests.reliability.conftest import shopify_connect
from xsell_plugin.catalog.models import Product, Variant
from xsell_plugin.customers.models import Customer
from xsell_plugin.orders.models import Order, OrderLine

pytestmark = pytest.mark.django_db

CHAOS = [429, "timeout", 503, "throttled", 502, 429, "timeout", 500]


def run_to_the_end(job: SyncJob, *, runs: int = 40) -> tuple[str, int]:
    """What the sweeper does after each failure: run the job again once its backoff is over."""
    status, later = sync_job_run(job_id=job.pk), 0
    while status != SyncJob.Status.DONE and later < runs:
        later += 1
        status = sync_job_run(job_id=job.pk, now=timezone.now() + timedelta(hours=later))
    job.refresh_from_db()
    return status, later


@pytest.fixture
def short_timeouts(settings):
    settings.XSELL_HTTP_TIMEOUT = 0.3


def test_shopify_reconciliation_through_429_5xx_timeouts_and_throttling(shopify, short_timeouts):
    store, shop = shopify_connect(shopify, "chaos-shop.myshopify.com")
    catalogue.seed(shop, products=260, customers=0, orders=0)
    shopify.chaos.extend(CHAOS)
    shopify.chaos_every = 1  # eight faults in a row: more than one call retries, the job backs off
    job = sync_job_start(store=store, kind="products", mode=SyncJob.Mode.RECONCILE,
                         updated_since=catalogue.T0 - timedelta(days=400))
    status, _ = run_to_the_end(job)
    assert status == SyncJob.Status.DONE
    assert shopify.chaos_served == CHAOS  # every fault was served
    assert Product.objects.for_store(store).count() == 260
    assert Variant.objects.for_store(store).count() == 520
    assert job.received == 260  # no page written twice


def test_shopify_bulk_backfill_through_faults_and_a_broken_download(shopify, short_timeouts):
    store, shop = shopify_connect(shopify, "chaos-bulk.myshopify.com")
    catalogue.seed(shop, products=60, customers=40, orders=900)
    shopify.chaos.extend(CHAOS)
    shopify.chaos_every = 2
    shopify.script.poll_failures = 2
    shopify.script.break_download_after_lines = 700
    for kind, model, expected in (("customers", Customer, 40), ("orders", Order, 900)):
        job = sync_job_start(store=store, kind=kind)
        status, _ = run_to_the_end(job)
        assert status == SyncJob.Status.DONE, job.last_error
        assert model.objects.for_store(store).count() == expected
        assert job.received == expected
    assert OrderLine.objects.for_store(store).count() == sum(len(o["lineItems"]) for o in shop.orders)


def test_shopify_webhook_that_reads_back_survives_faults(shopify, short_timeouts):
    """``products/update`` reads the product back from GraphQL: its faults retry the event later,
    and the product is written once."""
    store, shop = shopify_connect(shopify, "chaos-hook.myshopify.com")
    catalogue.seed(shop, products=3, customers=0, orders=0)
    shopify.chaos.extend([503, "timeout", 429, 503, 503, 503, 503, 503])
    shopify.chaos_every = 1
    product = shop.products[1]
    body = json.dumps({"id": int(product["id"].rsplit("/", 1)[1]), "admin_graphql_api_id": product["id"],
                       "updated_at": product["updatedAt"], "title": "x"}).encode()
    event, created = webhook_event_record(store=store, platform="shopify", dedupe_key="hook-1",
                                          topic="products/update", body=body)
    assert created
    statuses, later = [webhook_event_process(event_id=event.pk)], 0
    while statuses[-1] != WebhookEvent.Status.DONE and later < 10:
        later += 1
        statuses.append(webhook_event_process(event_id=event.pk, now=timezone.now() + timedelta(hours=later)))
    assert statuses[0] == WebhookEvent.Status.PENDING and statuses[-1] == WebhookEvent.Status.DONE
    assert Product.objects.for_store(store).filter(external_id=product["id"]).count() == 1
    assert webhook_event_process(event_id=event.pk) is None  # done: a late redelivery does nothing


@pytest.fixture
def woo_fake():
    shop = FakeWooCommerce(post_callbacks=False)
    shop.serve()
    yield shop
    shop.shutdown()


def test_woocommerce_backfill_through_429_and_5xx(settings, woo_fake):
    from tests.factories import StoreFactory
    from xsell_plugin.stores.models import Store, StoreCredentials

    settings.XSELL_ALLOW_LOOPBACK_HTTP = True
    settings.XSELL_WOOCOMMERCE_RETRY_BACKOFF = 0.01
    settings.XSELL_WOOCOMMERCE_ATTEMPTS = 2
    from integrations.woocommerce.models import Site

    key, secret = woo_fake.issue_keys()
    store = StoreFactory(platform=Store.Platform.WOOCOMMERCE, domain=woo_fake.base_url.split("://", 1)[1])
    StoreCredentials.objects.create(store=store, consumer_key=key, consumer_secret=secret,
                                    webhook_secret="whsec")
    Site.objects.create(store=store, base_url=woo_fake.base_url, wc_version=woo_fake.version,
                        key_permissions="read_write")
    woo_fake.seed(products=230, variable_every=0, customers=120, orders=260)
    # more failures in a row than one call retries: the job backs off and resumes at its cursor
    woo_fake.fail("wc/v3/products", 503, times=3, page=2)
    woo_fake.fail("wc/v3/customers", 429, times=2, page=1, headers={"Retry-After": "0"})
    woo_fake.fail("wc/v3/orders", 500, times=5, page=3)
    woo_fake.fail("wc/v3/orders", 502, times=1, page=1)
    for kind, model, expected in (("products", Product, 230), ("customers", Customer, 120),
                                  ("orders", Order, 260)):
        job = sync_job_start(store=store, kind=kind)
        status, _ = run_to_the_end(job)
        assert status == SyncJob.Status.DONE, job.last_error
        assert model.objects.for_store(store).count() == expected
        assert job.received == expected
    assert all(f.times == 0 for f in woo_fake.failures)
