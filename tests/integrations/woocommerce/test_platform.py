"""WooCommercePlatform against the fake: webhook registration, coupons, cart links."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from integrations.base import ConsentState, DiscountCodeRequest, Platform
from integrations.exceptions import TerminalPlatformError
from integrations.registry import get_platform
from integrations.woocommerce import topics
from integrations.woocommerce.models import Site
from integrations.woocommerce.platform import WooCommercePlatform, secret_fingerprint
from xsell_plugin.stores.models import StoreCredentials

pytestmark = pytest.mark.django_db
ENDS = datetime(2026, 1, 11, 12, 0, tzinfo=UTC)


def ours(fake, store):
    url = f"http://testserver/webhooks/woocommerce/{store.pk}/"
    return {h["topic"]: h for h in fake.webhooks.values() if h["delivery_url"] == url}


def test_registry_gives_the_woocommerce_platform(woo):
    platform = get_platform(woo)
    assert isinstance(platform, WooCommercePlatform) and isinstance(platform, Platform)
    platform.verify_credentials()


def test_register_webhooks_is_idempotent(fake, woo):
    WooCommercePlatform(woo).register_webhooks()
    hooks = ours(fake, woo)
    assert set(hooks) == set(topics.SUBSCRIBED)
    assert {h["secret"] for h in hooks.values()} == {"whsec-first"}
    assert {h["status"] for h in hooks.values()} == {"active"}
    assert [m for m, p, _ in fake.log if p == "wc/v3/webhooks"].count("POST") == len(
        topics.SUBSCRIBED)
    seen = len(fake.log)
    WooCommercePlatform(woo).register_webhooks()
    assert {m for m, _, _ in fake.log[seen:]} == {"GET"}  # nothing created, nothing changed


def test_a_disabled_webhook_is_reactivated(fake, woo):
    platform = WooCommercePlatform(woo)
    platform.register_webhooks()
    hook = ours(fake, woo)["order.updated"]
    hook["status"] = "disabled"  # WooCommerce did this after 5 failed deliveries
    paused = ours(fake, woo)["coupon.deleted"]
    paused["status"] = "paused"  # the merchant did this
    WooCommercePlatform(woo).register_webhooks()
    assert fake.webhooks[hook["id"]]["status"] == "active"
    assert fake.webhooks[paused["id"]]["status"] == "paused"
    assert ("PUT", f"wc/v3/webhooks/{hook['id']}") in [(m, p) for m, p, _ in fake.log]


def test_duplicates_and_stale_topics_are_removed(fake, woo):
    platform = WooCommercePlatform(woo)
    platform.register_webhooks()
    url = platform.delivery_url()
    dup = platform.client.post("webhooks", {"topic": "order.created", "delivery_url": url,
                                            "secret": "whsec-first", "status": "active"}).data
    stale = platform.client.post("webhooks", {"topic": "coupon.restored", "delivery_url": url,
                                              "secret": "whsec-first", "status": "active"}).data
    foreign = platform.client.post("webhooks", {"topic": "order.created",
                                                "delivery_url": "https://other.example/hook",
                                                "secret": "theirs", "status": "active"}).data
    WooCommercePlatform(woo).register_webhooks()
    assert dup["id"] not in fake.webhooks and stale["id"] not in fake.webhooks
    assert foreign["id"] in fake.webhooks  # not ours: untouched


def test_a_new_secret_is_written_to_existing_webhooks(fake, woo):
    WooCommercePlatform(woo).register_webhooks()
    StoreCredentials.objects.filter(store=woo).update(webhook_secret="whsec-rotated")
    WooCommercePlatform(woo).register_webhooks()
    assert {h["secret"] for h in ours(fake, woo).values()} == {"whsec-rotated"}
    site = Site.objects.get(store=woo)
    assert site.webhook_secret_fingerprint == secret_fingerprint("whsec-rotated")


def test_register_refreshes_the_woocommerce_version(fake, woo):
    fake.version = "9.8.1"
    WooCommercePlatform(woo).register_webhooks()
    assert Site.objects.get(store=woo).wc_version == "9.8.1"


def test_a_store_without_keys_is_terminal(woo):
    StoreCredentials.objects.filter(store=woo).update(consumer_key="")
    with pytest.raises(TerminalPlatformError):
        WooCommercePlatform(woo).register_webhooks()


def test_coupon_creation_fields(fake, woo):
    issued = WooCommercePlatform(woo).create_discount_code(DiscountCodeRequest(
        code="XS-ADA-7", ends_at=ENDS, percent_off=Decimal("15"), customer_email="ada@example.com",
        product_external_ids=("794",)))
    coupon = fake.coupons[int(issued.external_id)]
    assert (issued.code, issued.ends_at) == ("xs-ada-7", ENDS)  # WooCommerce lower-cases codes
    assert {k: coupon[k] for k in ("discount_type", "amount", "individual_use", "usage_limit",
                                   "usage_limit_per_user", "email_restrictions",
                                   "date_expires_gmt", "product_ids")} == {
        "discount_type": "percent", "amount": "15", "individual_use": True, "usage_limit": 1,
        "usage_limit_per_user": 1, "email_restrictions": ["ada@example.com"],
        "date_expires_gmt": "2026-01-11T12:00:00", "product_ids": [794]}
    assert {"key": "_xsell_issued", "value": "1"} in coupon["meta_data"]


def test_free_shipping_coupon(fake, woo):
    issued = WooCommercePlatform(woo).create_discount_code(DiscountCodeRequest(
        code="XS-SHIP", ends_at=ENDS, free_shipping=True, customer_email="ada@example.com"))
    coupon = fake.coupons[int(issued.external_id)]
    assert (coupon["discount_type"], coupon["amount"], coupon["free_shipping"]) == (
        "fixed_cart", "0", True)
    assert coupon["email_restrictions"] == ["ada@example.com"] and coupon["usage_limit"] == 1


def test_buy_x_get_y_is_refused_with_a_typed_error(fake, woo):
    with pytest.raises(TerminalPlatformError) as error:
        WooCommercePlatform(woo).create_discount_code(DiscountCodeRequest(
            code="XS-BXGY", ends_at=ENDS, percent_off=Decimal("100"),
            buy_product_external_ids=("732",), product_external_ids=("794",)))
    assert error.value.code == "platform_unsupported"
    assert fake.coupons == {}


def test_coupon_retry_after_a_lost_answer_returns_the_same_coupon(fake, woo):
    request = DiscountCodeRequest(code="XS-BOB", ends_at=ENDS, amount_off=Decimal("5"),
                                  customer_email="bob@example.com")
    first = WooCommercePlatform(woo).create_discount_code(request)
    again = WooCommercePlatform(woo).create_discount_code(request)
    assert first == again and len(fake.coupons) == 1
    someone_else = DiscountCodeRequest(code="XS-BOB", ends_at=ENDS, amount_off=Decimal("5"),
                                       customer_email="eve@example.com")
    with pytest.raises(TerminalPlatformError, match="taken"):
        WooCommercePlatform(woo).create_discount_code(someone_else)


def test_cart_url_on_woocommerce_10(woo):
    url = WooCommercePlatform(woo).cart_url([("732", 2), ("794", 1)], discount_code="xs-ada 7")
    base = Site.objects.get(store=woo).base_url
    assert url == f"{base}/checkout-link/?products=732:2,794:1&coupon=xs-ada%207"


def test_cart_url_on_older_stores(woo):
    Site.objects.filter(store=woo).update(wc_version="9.9.2")
    platform = WooCommercePlatform(woo)
    base = Site.objects.get(store=woo).base_url
    assert platform.cart_url([("732", 1)]) == f"{base}/?add-to-cart=732&quantity=1"
    assert platform.cart_url([("732", 1), ("794", 3), ("800", 1)], discount_code="XS") == (
        f"{base}/?add-to-cart=732&quantity=1&xsell_add=794:3,800:1&coupon_code=XS")


def test_consent_is_not_written_to_the_store(fake, woo):
    WooCommercePlatform(woo).update_marketing_consent(
        customer_external_id="25", email="a@example.com", state=ConsentState.UNSUBSCRIBED)
    assert not fake.log  # no call at all
