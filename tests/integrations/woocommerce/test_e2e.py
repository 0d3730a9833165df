"""The whole journey over real HTTP: the merchant connects in a browser, WordPress (the fake)
posts the keys to our live server, the backfill runs, and a change in the store arrives as a
signed webhook and is applied."""

import re
from urllib.parse import urljoin

import pytest
import requests

from integrations import tasks
from integrations.models import SyncJob, WebhookEvent
from integrations.sync import sync_job_run
from integrations.webhooks import webhook_event_process
from tests.fakes.woocommerce_server import FakeWooCommerce
from xsell_plugin.catalog.models import Product
from xsell_plugin.customers.models import Customer
from xsell_plugin.orders.models import Order
from xsell_plugin.stores.models import Store


@pytest.fixture
def live_fake():
    shop = FakeWooCommerce(name="Live Fake Shop", post_callbacks=True)
    shop.serve()
    shop.seed(products=40, customers=12, orders=30)
    yield shop
    shop.shutdown()


@pytest.mark.django_db(transaction=True)
def test_connect_backfill_and_stay_in_sync(live_server, live_fake, settings):
    settings.XSELL_PUBLIC_URL = live_server.url
    browser = requests.Session()
    start = browser.get(f"{live_server.url}/auth/woocommerce/connect",
                        params={"store_url": live_fake.base_url}, allow_redirects=False, timeout=10)
    assert start.status_code == 302
    authorize = start.headers["Location"]
    screen = browser.get(authorize, timeout=10)
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', screen.text))
    fields = {k: v.replace("&amp;", "&") for k, v in fields.items()}
    approved = browser.post(authorize.split("?")[0], data={**fields, "approve": "1"},
                            allow_redirects=False, timeout=30)
    assert approved.status_code == 302, approved.text
    assert live_fake.callbacks == [(f"{live_server.url}/auth/woocommerce/callback", 200)]
    back = browser.get(approved.headers["Location"], allow_redirects=False, timeout=10)
    assert back.status_code == 302 and back.headers["Location"] == "/app/"
    app = browser.get(urljoin(live_server.url, "/app/"), timeout=10)
    assert app.status_code == 200 and "Live Fake Shop" in app.text

    store = Store.objects.get(platform="woocommerce")
    tasks.connect_store(store.pk)  # what the worker runs after the install commits
    for job in SyncJob.objects.for_store(store):
        assert sync_job_run(job_id=job.pk) == "done"
    assert Product.objects.for_store(store).count() == 40
    assert Customer.objects.for_store(store).count() == 12
    assert Order.objects.for_store(store).count() == 30

    product = next(p for p in live_fake.products.values() if p["type"] == "simple")
    live_fake.update("products", product["id"], name="Renamed in WordPress")
    assert live_fake.deliver("product.updated", record_id=product["id"]) == [200]
    (event,) = WebhookEvent.objects.for_store(store)
    assert webhook_event_process(event_id=event.pk) == "done"
    assert Product.objects.for_store(store).get(
        external_id=str(product["id"])).title == "Renamed in WordPress"
