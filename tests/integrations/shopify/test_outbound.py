"""What we write to Shopify: webhook subscriptions, discount codes, consent; and cart links."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from integrations.base import ConsentState, CustomerData, DiscountCodeRequest
from integrations.exceptions import TerminalPlatformError
from integrations.registry import get_platform
from integrations.shopify import topics
from integrations.shopify.platform import ShopifyPlatform
from integrations.tasks import connect_store
from tests.fakes.shopify import catalogue
from xsell_plugin.customers.services import customers_upsert

pytestmark = pytest.mark.django_db

ENDS = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def test_registry_gives_the_shopify_platform(store, shop):
    assert isinstance(get_platform(store), ShopifyPlatform)


class TestWebhookSubscriptions:
    def test_registers_every_topic_but_compliance_once(self, store, shop):
        platform = ShopifyPlatform(store)
        platform.register_webhooks()
        platform.register_webhooks()  # idempotent
        subscribed = sorted(s["topic"] for s in shop.webhooks.values())
        assert subscribed == sorted(topics.graphql_enum(t) for t in topics.SUBSCRIBED)
        assert {s["uri"] for s in shop.webhooks.values()} == {"https://xsell.test/webhooks/shopify/"}
        assert not {"CUSTOMERS_REDACT", "SHOP_REDACT", "CUSTOMERS_DATA_REQUEST"} & set(subscribed)
        assert shop.calls["XsellWebhookCreate"] == len(topics.SUBSCRIBED)

    def test_a_moved_app_updates_its_subscriptions(self, store, shop, settings):
        ShopifyPlatform(store).register_webhooks()
        settings.XSELL_PUBLIC_URL = "https://new-host.test"
        ShopifyPlatform(store).register_webhooks()
        assert len(shop.webhooks) == len(topics.SUBSCRIBED)
        assert {s["uri"] for s in shop.webhooks.values()} == {"https://new-host.test/webhooks/shopify/"}

    def test_connect_task_registers_then_starts_the_backfill(self, store, shop):
        assert connect_store(store.pk) == 3
        assert len(shop.webhooks) == len(topics.SUBSCRIBED)


class TestDiscounts:
    def test_percent_code_restricted_to_the_customer(self, store, shop):
        catalogue.seed(shop, products=2, customers=3, orders=0)
        email = shop.customers[1]["defaultEmailAddress"]["emailAddress"]
        issued = ShopifyPlatform(store).create_discount_code(DiscountCodeRequest(
            code="XS-ABC123", ends_at=ENDS, percent_off=Decimal("15"), customer_email=email.upper()))
        assert (issued.code, issued.ends_at) == ("XS-ABC123", ENDS)
        assert issued.external_id.startswith("gid://shopify/DiscountCodeNode/")
        sent = shop.discounts[0]
        assert sent["context"] == {"customers": {"add": [shop.customers[1]["id"]]}}
        assert sent["customerGets"]["value"] == {"percentage": 0.15}
        assert sent["customerGets"]["items"] == {"all": True}
        assert (sent["usageLimit"], sent["appliesOncePerCustomer"]) == (1, True)
        assert sent["endsAt"] == "2026-02-01T12:00:00+00:00"

    def test_amount_code_on_some_products_found_locally(self, store, shop):
        customers_upsert(store=store, customers=[CustomerData(
            "gid://shopify/Customer/55", "local@example.com", ENDS)])
        ShopifyPlatform(store).create_discount_code(DiscountCodeRequest(
            code="XS-5OFF", ends_at=ENDS, amount_off=Decimal("5.00"), customer_email="local@example.com",
            product_external_ids=("gid://shopify/Product/1",)))
        sent = shop.discounts[0]
        assert sent["context"] == {"customers": {"add": ["gid://shopify/Customer/55"]}}
        assert sent["customerGets"]["value"] == {
            "discountAmount": {"amount": "5.00", "appliesOnEachItem": False}}
        assert sent["customerGets"]["items"] == {"products": {"productsToAdd": ["gid://shopify/Product/1"]}}
        assert shop.calls["XsellCustomerByEmail"] == 0

    def test_without_a_known_customer_it_is_single_use_for_anyone(self, store, shop):
        ShopifyPlatform(store).create_discount_code(DiscountCodeRequest(
            code="XS-ANY", ends_at=ENDS, percent_off=Decimal("10"), customer_email="nobody@example.com"))
        assert shop.discounts[0]["context"] == {"all": "ALL"}

    def test_buy_x_get_y_free_add_on(self, store, shop):
        issued = ShopifyPlatform(store).create_discount_code(DiscountCodeRequest(
            code="XS-SLEEVE", ends_at=ENDS, percent_off=Decimal("100"),
            buy_product_external_ids=("gid://shopify/Product/1",), buy_quantity=1,
            product_external_ids=("gid://shopify/Product/2",), get_quantity=1))
        assert (issued.code, issued.ends_at) == ("XS-SLEEVE", ENDS)
        sent = shop.discounts[0]
        assert sent["kind"] == "discountCodeBxgyCreate"
        assert sent["customerBuys"] == {
            "value": {"quantity": "1"},
            "items": {"products": {"productsToAdd": ["gid://shopify/Product/1"]}}}
        assert sent["customerGets"] == {
            "value": {"discountOnQuantity": {"quantity": "1", "effect": {"percentage": 1.0}}},
            "items": {"products": {"productsToAdd": ["gid://shopify/Product/2"]}}}
        assert (sent["usageLimit"], sent["usesPerOrderLimit"], sent["appliesOncePerCustomer"]) == (
            1, 1, True)
        assert sent["endsAt"] == "2026-02-01T12:00:00+00:00"

    @pytest.mark.parametrize("kwargs", [
        {"percent_off": None, "amount_off": Decimal("5")},
        {"percent_off": Decimal("50"), "product_external_ids": ()},
        {"percent_off": Decimal("50"), "buy_quantity": 0},
    ])
    def test_invalid_buy_x_get_y_never_reaches_shopify(self, store, shop, kwargs):
        request = {"code": "XS-B", "ends_at": ENDS, "buy_product_external_ids": ("gid://shopify/Product/1",),
                   "product_external_ids": ("gid://shopify/Product/2",), **kwargs}
        with pytest.raises(ValueError):
            ShopifyPlatform(store).create_discount_code(DiscountCodeRequest(**request))
        assert shop.discounts == []

    def test_free_shipping_code(self, store, shop):
        issued = ShopifyPlatform(store).create_discount_code(DiscountCodeRequest(
            code="XS-SHIP", ends_at=ENDS, free_shipping=True))
        assert (issued.code, issued.ends_at) == ("XS-SHIP", ENDS)
        sent = shop.discounts[0]
        assert sent["kind"] == "discountCodeFreeShippingCreate"
        assert sent["destination"] == {"all": True} and "customerGets" not in sent
        assert (sent["usageLimit"], sent["appliesOncePerCustomer"]) == (1, True)
        with pytest.raises(ValueError):
            ShopifyPlatform(store).create_discount_code(DiscountCodeRequest(
                code="XS-SHIP2", ends_at=ENDS, free_shipping=True, percent_off=Decimal("10")))
        assert len(shop.discounts) == 1

    def test_a_taken_code_is_a_terminal_error(self, store, shop):
        request = DiscountCodeRequest(code="XS-DUP", ends_at=ENDS, percent_off=Decimal("10"))
        ShopifyPlatform(store).create_discount_code(request)
        with pytest.raises(TerminalPlatformError):
            ShopifyPlatform(store).create_discount_code(request)

    @pytest.mark.parametrize("kwargs", [{}, {"percent_off": Decimal("10"), "amount_off": Decimal("1")},
                                        {"percent_off": Decimal("0")}, {"percent_off": Decimal("120")}])
    def test_invalid_requests_never_reach_shopify(self, store, shop, kwargs):
        with pytest.raises(ValueError):
            ShopifyPlatform(store).create_discount_code(DiscountCodeRequest(code="X", ends_at=ENDS, **kwargs))
        assert shop.discounts == []


def test_cart_url(store, shop):
    url = ShopifyPlatform(store).cart_url(
        [("gid://shopify/ProductVariant/111", 2), ("gid://shopify/ProductVariant/222", 1),
         ("gid://shopify/ProductVariant/333", 0)], discount_code="XS 10%")
    assert url == "https://first-shop.myshopify.com/cart/111:2,222:1?discount=XS%2010%25"
    assert ShopifyPlatform(store).cart_url([("333", 1)]) == "https://first-shop.myshopify.com/cart/333:1"


class TestConsentWriteBack:
    def test_unsubscribe_by_id(self, store, shop):
        catalogue.seed(shop, products=0, customers=2, orders=0)
        customer = shop.customers[0]
        ShopifyPlatform(store).update_marketing_consent(
            customer_external_id=customer["id"], email="", state=ConsentState.UNSUBSCRIBED)
        update = shop.consent_updates[0]
        assert update["customerId"] == customer["id"]
        assert update["emailMarketingConsent"]["marketingState"] == "UNSUBSCRIBED"
        assert customer["defaultEmailAddress"]["marketingState"] == "UNSUBSCRIBED"

    def test_unsubscribe_by_email_looks_the_customer_up(self, store, shop):
        catalogue.seed(shop, products=0, customers=2, orders=0)
        email = shop.customers[1]["defaultEmailAddress"]["emailAddress"]
        ShopifyPlatform(store).update_marketing_consent(customer_external_id="", email=email,
                                                        state=ConsentState.UNSUBSCRIBED)
        assert shop.consent_updates[0]["customerId"] == shop.customers[1]["id"]

    def test_unknown_customer_and_unsupported_states_do_nothing(self, store, shop):
        platform = ShopifyPlatform(store)
        platform.update_marketing_consent(customer_external_id="", email="x@example.com",
                                          state=ConsentState.UNSUBSCRIBED)
        platform.update_marketing_consent(customer_external_id="gid://shopify/Customer/1", email="",
                                          state=ConsentState.PENDING)
        assert shop.consent_updates == []
