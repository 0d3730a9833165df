"""Stores connected to the real loopback fakes of both platforms: codes are really created on
them. ``platform_store`` is parametrised over Shopify and WooCommerce."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from integrations.woocommerce.models import Site
from tests.factories import StoreFactory
from tests.fakes.shopify import FakeShopify, FakeShopifyServer
from tests.fakes.woocommerce_server import FakeWooCommerce
from xsell_plugin.catalog.models import Product, Variant
from xsell_plugin.stores.models import Store, StoreCredentials
from xsell_plugin.stores.services import Credentials, store_install

NOW = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)
API_KEY, SECRET = "test_api_key", "test_secret_key"


@dataclass
class Connected:
    store: Store
    platform: str

    def discounts(self) -> list[dict]:
        """What the platform holds, as (code, kind of value) dicts."""
        raise NotImplementedError

    def product_ext(self, n: int) -> str:
        return f"gid://shopify/Product/{n}" if self.platform == "shopify" else str(n)


@dataclass
class ShopifyConnected(Connected):
    fake: FakeShopify = None

    def discounts(self) -> list[dict]:
        shop = self.fake.shops[self.store.domain]
        out = []
        for d in shop.discounts:
            value = (d.get("customerGets") or {"value": {}})["value"]
            out.append({"code": d["code"],
                        "free_shipping": d["kind"] == "discountCodeFreeShippingCreate",
                        "percent": (Decimal(str(value["percentage"])) * 100).normalize()
                        if "percentage" in value else None,
                        "amount": Decimal(value["discountAmount"]["amount"])
                        if "discountAmount" in value else None,
                        "products": (d.get("customerGets") or {"items": {}})["items"].get(
                            "products", {}).get("productsToAdd", [])})
        return out


@dataclass
class WooConnected(Connected):
    fake: FakeWooCommerce = None

    def discounts(self) -> list[dict]:
        out = []
        for c in self.fake.coupons.values():
            percent = c["discount_type"] == "percent"
            out.append({"code": c["code"], "free_shipping": bool(c.get("free_shipping")),
                        "percent": Decimal(c["amount"]).normalize() if percent else None,
                        "amount": None if percent else Decimal(c["amount"]),
                        "products": [str(p) for p in c.get("product_ids") or []]})
        return out


@pytest.fixture(scope="session")
def shopify_server():
    server = FakeShopifyServer(FakeShopify(api_key=API_KEY, api_secret=SECRET)).start()
    yield server
    server.stop()


def _shopify(server, settings, domain: str) -> ShopifyConnected:
    settings.XSELL_SHOPIFY_ADMIN_BASE_URL = server.url
    settings.XSELL_SHOPIFY_API_KEY = API_KEY
    settings.XSELL_SHOPIFY_API_SECRET = SECRET
    settings.XSELL_ALLOW_LOOPBACK_HTTP = True
    fake = server.fake
    shop = fake.shops.get(domain) or fake.add_shop(domain, name=domain)
    issued = shop.issue(ttl=3600)
    now = timezone.now()
    store = store_install(
        platform="shopify", domain=domain, name=domain, currency="USD",
        timezone_name="America/New_York", credentials=Credentials(
            access_token=issued["access_token"], refresh_token=issued["refresh_token"],
            access_token_expires_at=now + timedelta(seconds=3600),
            refresh_token_expires_at=now + timedelta(days=90), scopes=issued["scope"]))
    store = Store.objects.get(platform="shopify", domain=domain)
    store.status = Store.Status.ACTIVE
    store.save()
    return ShopifyConnected(store=store, platform="shopify", fake=fake)


def _woo(fake: FakeWooCommerce) -> WooConnected:
    key, secret = fake.issue_keys()
    store = StoreFactory(platform=Store.Platform.WOOCOMMERCE,
                         domain=fake.base_url.split("://", 1)[1], name=fake.name,
                         currency=fake.currency, timezone="America/New_York")
    StoreCredentials.objects.create(store=store, consumer_key=key, consumer_secret=secret,
                                    webhook_secret="whsec")
    Site.objects.create(store=store, base_url=fake.base_url, wc_version=fake.version,
                        key_permissions="read_write")
    return WooConnected(store=store, platform="woocommerce", fake=fake)


@pytest.fixture(params=["shopify", "woocommerce"])
def platform_store(request, db, settings, shopify_server):
    settings.XSELL_ALLOW_LOOPBACK_HTTP = True
    if request.param == "shopify":
        shopify_server.fake.reset()
        yield _shopify(shopify_server, settings, "offers-shop.myshopify.com")
        return
    settings.XSELL_WOOCOMMERCE_RETRY_BACKOFF = 0.01
    settings.XSELL_WOOCOMMERCE_ATTEMPTS = 2
    fake = FakeWooCommerce(post_callbacks=False)
    fake.serve()
    try:
        yield _woo(fake)
    finally:
        fake.shutdown()


def priced(store, ext: str, *, price: str, cost: str | None, quantity: int = 10,
           product_type: str = "Gear") -> Product:
    p = Product.objects.create(store=store, external_id=ext, title=f"Product {ext}",
                               product_type=product_type)
    Variant.objects.create(store=store, product=p, external_id=f"{ext}-v", price=Decimal(price),
                           cost=Decimal(cost) if cost is not None else None,
                           inventory_quantity=quantity)
    return p
