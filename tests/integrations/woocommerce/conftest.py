"""Fixtures for the WooCommerce suite: a fake store on a real loopback server, and stores of
ours connected to it the way the connect flow leaves them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from integrations.woocommerce.models import Site
from tests.factories import StoreFactory
from tests.fakes.woocommerce_server import FakeWooCommerce, webhook_signature
from xsell_plugin.stores.models import Store, StoreCredentials

PAYLOADS = Path(__file__).resolve().parents[2] / "payloads" / "woocommerce"


def load(name: str):
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def raw(name: str) -> bytes:
    return (PAYLOADS / f"{name}.json").read_bytes()


@pytest.fixture(autouse=True)
def _woo_settings(settings):
    settings.XSELL_ALLOW_LOOPBACK_HTTP = True
    settings.XSELL_WOOCOMMERCE_RETRY_BACKOFF = 0.01
    settings.XSELL_WOOCOMMERCE_MAX_RETRY_SLEEP = 3.0
    settings.XSELL_WOOCOMMERCE_ATTEMPTS = 3
    settings.XSELL_PUBLIC_URL = "http://testserver"


@pytest.fixture
def fake():
    shop = FakeWooCommerce(post_callbacks=False)
    shop.serve()
    yield shop
    shop.shutdown()


def woo_store(fake: FakeWooCommerce, *, domain: str | None = None,
              webhook_secret: str = "whsec-first") -> Store:
    """A store connected to ``fake`` (keys issued by the fake, a site row, a webhook secret)."""
    key, secret = fake.issue_keys()
    store = StoreFactory(platform=Store.Platform.WOOCOMMERCE,
                         domain=domain or fake.base_url.split("://", 1)[1], name=fake.name,
                         currency=fake.currency, timezone="Europe/Paris")
    StoreCredentials.objects.create(store=store, consumer_key=key, consumer_secret=secret,
                                    webhook_secret=webhook_secret)
    Site.objects.create(store=store, base_url=fake.base_url, wc_version=fake.version,
                        key_permissions="read_write")
    return store


@pytest.fixture
def woo(db, fake):
    return woo_store(fake)


@pytest.fixture
def other_fake():
    shop = FakeWooCommerce(name="Other Shop", post_callbacks=False)
    shop.serve()
    yield shop
    shop.shutdown()


@pytest.fixture
def other_woo(db, other_fake):
    """A second store (its own fake, its own secret) whose data must never mix with the first."""
    return woo_store(other_fake, webhook_secret="whsec-second")


def post_webhook(client, store, body: bytes, *, topic: str, secret: str | None = None,
                 delivery_id: str = "d41d8cd98f00b204e9800998ecf8427e", path_suffix: str = "",
                 **headers):
    """POST a delivery the way WooCommerce sends one (raw JSON body, signature headers)."""
    extra = {"HTTP_X_WC_WEBHOOK_TOPIC": topic, "HTTP_X_WC_WEBHOOK_DELIVERY_ID": delivery_id,
             "HTTP_X_WC_WEBHOOK_SOURCE": "https://shop.example.com/"}
    if secret is not None:
        extra["HTTP_X_WC_WEBHOOK_SIGNATURE"] = webhook_signature(body, secret)
    extra.update(headers)
    return client.post(f"/webhooks/woocommerce/{store.pk}/{path_suffix}", data=body,
                       content_type="application/json", **extra)
