"""Install, reinstall, uninstall, redaction and data export."""

from datetime import timedelta

import pytest
from django.db import connection

from integrations.connection import store_disconnect
from integrations.models import SyncJob
from integrations.sync import sync_job_start
from tests.factories import (
    T0,
    CheckoutDataFactory,
    CustomerDataFactory,
    OrderDataFactory,
    ProductDataFactory,
)
from xsell_plugin.activity.models import Checkout
from xsell_plugin.activity.services import activity_event_record, checkouts_upsert
from xsell_plugin.catalog.models import Product, Variant
from xsell_plugin.catalog.services import product_upsert
from xsell_plugin.core.exceptions import ValidationFailed
from xsell_plugin.customers.models import Customer, Suppression
from xsell_plugin.customers.services import (
    customer_data_export,
    customer_redact,
    customer_upsert,
    suppression_add,
)
from xsell_plugin.orders.models import Order, OrderLine
from xsell_plugin.orders.services import order_upsert
from xsell_plugin.sequences.models import Sequence
from xsell_plugin.sequences.templates import DEFAULTS
from xsell_plugin.stores.models import Store, StoreCredentials
from xsell_plugin.stores.services import (
    Credentials,
    store_credentials_update,
    store_install,
    store_redact,
)

pytestmark = pytest.mark.django_db


def install(domain="shop.myshopify.com", token="shpat_1"):
    return store_install(platform="shopify", domain=domain, name="Shop", currency="EUR",
                         timezone_name="Europe/Paris",
                         credentials=Credentials(access_token=token, scopes="read_products"))


class TestInstall:
    def test_install_stores_encrypted_credentials(self):
        store, created = install()
        assert created and store.status == Store.Status.ACTIVE
        assert (store.currency, store.timezone) == ("EUR", "Europe/Paris")
        assert store.credentials.access_token == "shpat_1"
        with connection.cursor() as cursor:
            cursor.execute("SELECT access_token FROM stores_storecredentials")
            assert "shpat_1" not in cursor.fetchone()[0]

    def test_reinstall_after_uninstall_reactivates_with_new_credentials(self):
        store, _ = install()
        store_disconnect(store=store)
        again, created = install(domain="SHOP.myshopify.com", token="shpat_2")
        assert not created and again.pk == store.pk
        assert again.status == Store.Status.ACTIVE and again.uninstalled_at is None
        assert StoreCredentials.objects.get(store=again).access_token == "shpat_2"

    def test_install_adds_the_default_sequences_paused_once(self):
        store, _ = install()
        sequences = Sequence.objects.for_store(store)
        assert sequences.count() == len(DEFAULTS) > 0
        assert set(sequences.values_list("status", flat=True)) == {Sequence.Status.PAUSED}
        sequences.filter(key=DEFAULTS[0].key).update(status=Sequence.Status.ACTIVE)  # the merchant's
        store_disconnect(store=store)
        install(token="shpat_2")
        assert Sequence.objects.for_store(store).count() == len(DEFAULTS)
        assert Sequence.objects.for_store(store).get(key=DEFAULTS[0].key).status == "active"

    def test_invalid_details_are_refused(self):
        with pytest.raises(ValidationFailed) as error:
            store_install(platform="shopify", domain="x.myshopify.com", credentials=Credentials(),
                          currency="euro", timezone_name="Mars/Olympus")
        assert set(error.value.extra["fields"]) == {"currency", "timezone"}
        assert not Store.objects.exists()

    def test_credentials_update_changes_only_what_is_named(self):
        store, _ = install()
        store_credentials_update(store=store, access_token="shpat_new", refresh_token="r1")
        creds = StoreCredentials.objects.get(store=store)
        assert (creds.access_token, creds.refresh_token, creds.scopes) == (
            "shpat_new", "r1", "read_products")
        with pytest.raises(ValueError):
            store_credentials_update(store=store, password="x")


class TestUninstall:
    def test_uninstall_wipes_access_and_stops_sync(self, store, other_store):
        StoreCredentials.objects.create(store=store, access_token="t", webhook_secret="w")
        job = sync_job_start(store=store, kind="products")
        other_job = sync_job_start(store=other_store, kind="products")
        assert store_disconnect(store=store) is True
        assert store_disconnect(store=store) is False  # a second uninstall webhook
        creds = StoreCredentials.objects.get(store=store)
        assert (creds.access_token, creds.webhook_secret) == ("", "")
        assert store.status == Store.Status.UNINSTALLED and store.uninstalled_at is not None
        assert SyncJob.objects.get(pk=job.pk).status == "failed"
        assert SyncJob.objects.get(pk=other_job.pk).status == "pending"


def fill(store):
    product_upsert(store=store, product=ProductDataFactory(external_id="p1"))
    customer_upsert(store=store, customer=CustomerDataFactory(external_id="c1", email="ada@example.com"))
    order_upsert(store=store, order=OrderDataFactory(external_id="o1", customer_external_id="c1",
                                                     email="ada@example.com"))
    checkouts_upsert(store=store, checkouts=[CheckoutDataFactory(email="ada@example.com")])
    activity_event_record(store=store, event_id="e1", kind="browse", customer_external_id="c1",
                          product_external_id="p1", occurred_at=T0)
    suppression_add(store=store, email="ada@example.com", reason="unsubscribed")


class TestRedaction:
    def test_store_redact_deletes_that_store_only(self, store, other_store):
        fill(store)
        fill(other_store)
        store_redact(store=store)
        assert not Store.objects.filter(pk=store.pk).exists()
        for model in (Product, Variant, Customer, Order, OrderLine, Checkout, Suppression):
            assert not model.objects.filter(store_id=store.pk).exists(), model
            assert model.objects.for_store(other_store).exists(), model

    def test_customer_redact_erases_personal_data_and_keeps_revenue(self, store, other_store):
        fill(store)
        fill(other_store)
        assert customer_redact(store=store, external_id="c1", email="Ada@Example.com") == 1
        assert not Customer.objects.for_store(store).exists()
        assert not Checkout.objects.for_store(store).exists()
        assert not Suppression.objects.for_store(store).exists()
        order = Order.objects.for_store(store).get()
        assert (order.email, order.customer_id, order.customer_external_id) == ("", None, "")
        assert order.total > 0
        assert Customer.objects.for_store(other_store).count() == 1  # untouched

    def test_data_export_lists_what_we_hold(self, store, other_store):
        fill(store)
        order_upsert(store=other_store, order=OrderDataFactory(email="ada@example.com"))
        data = customer_data_export(store=store, external_id="c1")
        assert [c["email"] for c in data["customers"]] == ["ada@example.com"]
        assert [o["external_id"] for o in data["orders"]] == ["o1"]
        assert len(data["checkouts"]) == 1 and data["activity"][0]["product"] == "p1"
        assert data["suppressed"] == ["unsubscribed"]
        assert data["customers"][0]["consent_state"] == "subscribed"

    def test_export_of_unknown_customer_is_empty(self, store):
        data = customer_data_export(store=store, external_id="nobody")
        assert data["customers"] == [] and data["orders"] == []


def test_reinstall_keeps_install_time_when_never_uninstalled():
    store, _ = install()
    first = store.installed_at
    again, _ = install(token="shpat_3")
    assert again.installed_at == first
    assert again.installed_at < first + timedelta(seconds=1)
