"""The Shopify suite talks to a real loopback HTTP server (``tests.fakes.shopify``); only that
network edge is fake. ``XSELL_SHOPIFY_ADMIN_BASE_URL`` points every Shopify call at it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tests.fakes.shopify import FakeShopify, FakeShopifyServer, Shop, webhook_headers
from xsell_plugin.stores.models import Store
from xsell_plugin.stores.services import Credentials, store_install

API_KEY = "test_api_key"
SECRET = "test_secret_key"
PAYLOADS = Path(__file__).resolve().parents[2] / "payloads" / "shopify"


@pytest.fixture(scope="session")
def fake_server():
    server = FakeShopifyServer(FakeShopify(api_key=API_KEY, api_secret=SECRET)).start()
    yield server
    server.stop()


def point_at(server: FakeShopifyServer, settings, *, api_key: str = API_KEY,
             secret: str = SECRET) -> FakeShopify:
    """Reset the fake and send every Shopify call of this test to it."""
    server.fake.reset()
    settings.XSELL_SHOPIFY_ADMIN_BASE_URL = server.url
    settings.XSELL_SHOPIFY_API_KEY = api_key
    settings.XSELL_SHOPIFY_API_SECRET = secret
    settings.XSELL_SHOPIFY_OLD_API_SECRET = ""
    settings.XSELL_SHOPIFY_BULK_POLL_SECONDS = 0.01
    settings.XSELL_ALLOW_LOOPBACK_HTTP = True
    settings.XSELL_PUBLIC_URL = "https://xsell.test"
    return server.fake


@pytest.fixture
def fake(fake_server, settings) -> FakeShopify:
    return point_at(fake_server, settings)


def connect(fake: FakeShopify, store: Store, *, ttl: int = 3600) -> Shop:
    """The state right after an install: the fake issued a token, the store holds it."""
    shop = fake.shops.get(store.domain) or fake.add_shop(store.domain, name=store.name)
    issued = shop.issue(ttl=ttl)
    now = timezone.now()
    store_install(platform="shopify", domain=store.domain, name=store.name, currency=store.currency,
                  timezone_name=store.timezone, credentials=Credentials(
                      access_token=issued["access_token"], refresh_token=issued["refresh_token"],
                      access_token_expires_at=now + timedelta(seconds=ttl),
                      refresh_token_expires_at=now + timedelta(days=90), scopes=issued["scope"]))
    store.refresh_from_db()
    return shop


@pytest.fixture
def shop(fake, store) -> Shop:
    return connect(fake, store)


@pytest.fixture
def other_shop(fake, other_store) -> Shop:
    return connect(fake, other_store)


def payload(topic: str) -> dict:
    return json.loads((PAYLOADS / f"{topic}.json").read_text())


def post_webhook(client, *, topic: str, shop: str, body: bytes | dict, webhook_id: str | None = None,
                 style: str = "x", secret: str = SECRET, triggered_at: str | None = None, **extra):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = webhook_headers(secret=secret, topic=topic, shop=shop, body=raw, webhook_id=webhook_id,
                              style=style, triggered_at=triggered_at)
    headers.update(extra)
    return client.post("/webhooks/shopify/", data=raw, content_type="application/json",
                       headers={k: v for k, v in headers.items() if k != "Content-Type"})
