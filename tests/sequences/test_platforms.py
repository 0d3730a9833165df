"""The same sequence on a Shopify store and a WooCommerce store, fed by each platform's real
loopback fake through its signed webhooks (``tests/integrations/parity_drivers.py``).

Where the platforms differ: Shopify sends marketing consent with the customer; WooCommerce has
none, so its customers arrive ``unknown`` and are emailed only under the store's explicit soft
opt-in policy (turned on here for WooCommerce, and shown to be required)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import tasks
from integrations.models import SyncJob, WebhookEvent
from integrations.sync import sync_job_run
from integrations.webhooks import webhook_event_process
from tests.integrations.parity_drivers import PLATFORMS, Fakes, OrderSpec
from tests.sequences.helpers import Engine, sent
from xsell_plugin.customers.models import Customer
from xsell_plugin.sequences.models import Enrollment
from xsell_plugin.sequences.services import sequence_create, sequence_settings_set

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def fakes():
    servers = Fakes().start()
    yield servers
    servers.stop()


@pytest.fixture
def connected(fakes, settings, db):
    fakes.configure(settings)
    settings.XSELL_SEQUENCE_CONTENT = "tests.sequences.helpers.content"
    made = []

    def make(platform: str, name: str):
        driver = fakes.driver(platform, name)
        made.append(driver)
        driver.seed()
        store = driver.connect()
        assert tasks.connect_store(store.pk) == 3
        for job in SyncJob.objects.for_store(store).order_by("pk"):
            sync_job_run(job_id=job.pk)
        return driver

    yield make
    for driver in made:
        driver.close()


def deliver(client, driver, delivery) -> None:
    assert driver.post(client, delivery).status_code == 200
    for event in WebhookEvent.objects.for_store(driver.store).filter(status="pending"):
        webhook_event_process(event_id=event.pk)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_new_order_by_webhook_runs_the_sequence(platform, connected, client):
    driver = connected(platform, f"seq-{platform}")
    store = driver.store
    sequence_create(store=store, key="post-purchase", name="Post-purchase", trigger="repeat_purchase",
                    steps=[{"kind": "value", "delay_minutes": 60},
                           {"kind": "complements", "delay_minutes": 60 * 24 * 2}])
    if not driver.has_consent:
        sequence_settings_set(store=store, soft_opt_in=True,
                              soft_opt_in_policy="https://shop.example/privacy#marketing")
    engine = Engine(store)
    now = timezone.now()
    engine.scan(now - timedelta(minutes=2))
    # The backfill brought last month's orders: nobody is enrolled by history.
    assert engine.scan(now - timedelta(minutes=1)).candidates == 0

    order_id = driver.place_order(OrderSpec(0, ((0, 0, 1),)))  # Ada, a repeat customer
    deliver(client, driver, driver.order_delivery(order_id, created=True))
    engine.scan(timezone.now() + timedelta(minutes=1))
    ada = Customer.objects.for_store(store).get(external_id=driver.customer_id(0))
    expected_consent = "subscribed" if driver.has_consent else "unknown"
    assert ada.consent_state == expected_consent
    enrollment = Enrollment.objects.for_store(store).get()
    assert (enrollment.customer_id, enrollment.trigger_key) == (ada.pk, f"order:{order_id}")

    engine.run_until(timezone.now() + timedelta(days=5))
    assert [kind for kind, _ in sent(store)] == ["value", "complements"]


def test_woocommerce_customers_need_the_soft_opt_in(connected, client):
    driver = connected("woocommerce", "seq-woo-no-soft")
    store = driver.store
    sequence_create(store=store, key="post-purchase", name="Post-purchase", trigger="repeat_purchase",
                    steps=[{"kind": "value", "delay_minutes": 60}])
    engine = Engine(store)
    engine.scan(timezone.now() - timedelta(minutes=1))
    order_id = driver.place_order(OrderSpec(0, ((0, 0, 1),)))
    deliver(client, driver, driver.order_delivery(order_id, created=True))
    result = engine.scan(timezone.now() + timedelta(minutes=1))
    assert result.not_enrolled == {"consent_unknown": 1}
    assert not Enrollment.objects.for_store(store).exists()
