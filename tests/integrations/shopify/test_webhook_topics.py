"""Every topic's effect on the domain rows, applied the way production does it: the signed
delivery is recorded by the receiver, then ``webhook_event_process`` hands it to
``ShopifyPlatform.handle_webhook``. Replays and late deliveries never roll data back."""

import copy
from decimal import Decimal

import pytest

from integrations.models import SyncJob, WebhookEvent
from integrations.shopify.platform import ShopifyPlatform
from integrations.sync import sync_job_start
from integrations.webhooks import webhook_event_process
from tests.fakes.shopify import catalogue
from tests.integrations.shopify.conftest import payload, post_webhook
from xsell_plugin.activity.models import Checkout
from xsell_plugin.catalog.models import Collection, Product, Variant
from xsell_plugin.customers.models import Customer, DataExport
from xsell_plugin.orders.models import Order, Refund
from xsell_plugin.stores.models import Store, StoreCredentials

pytestmark = pytest.mark.django_db

IPOD = "gid://shopify/Product/788032119674292922"
PINK = "gid://shopify/ProductVariant/642667041472713922"
BLACK = "gid://shopify/ProductVariant/757650484644203962"
ORDER = "gid://shopify/Order/820982911946154508"
BOB = "gid://shopify/Customer/706405506930370084"


def deliver(client, store, topic, body=None, *, webhook_id=None):
    """Deliver signed, then process; returns the event's final status ("duplicate" if not new)."""
    before = set(WebhookEvent.objects.for_store(store).values_list("pk", flat=True))
    response = post_webhook(client, topic=topic, shop=store.domain,
                            body=payload(topic) if body is None else body, webhook_id=webhook_id)
    assert response.status_code == 200
    new = WebhookEvent.objects.for_store(store).exclude(pk__in=before)
    if not new.exists():
        return "duplicate"
    return webhook_event_process(event_id=new.get().pk)


def ipod_node(updated_at="2026-01-09T13:00:00Z", black_quantity=0):
    return {
        "id": IPOD, "title": "IPod Nano - 8GB", "handle": "ipod-nano", "vendor": "Apple",
        "productType": "Music Players", "tags": ["Emotive", "MP3"], "status": "ACTIVE",
        "description": "An mp3 player.", "onlineStoreUrl": "https://first-shop.example/products/ipod-nano",
        "createdAt": "2025-11-01T15:00:00Z", "updatedAt": updated_at,
        "featuredMedia": {"preview": {"image": {"url": "https://cdn.example/ipod.jpg"}}},
        "variants": [
            {"id": PINK, "title": "Pink", "sku": "IPOD2008PINK", "price": "199.00",
             "compareAtPrice": "249.00", "position": 1, "inventoryQuantity": 12,
             "inventoryPolicy": "DENY", "inventoryItem": {
                 "id": "gid://shopify/InventoryItem/800000000000001", "tracked": True,
                 "unitCost": {"amount": "80.00"}}},
            {"id": BLACK, "title": "Black", "sku": "IPOD2008BLACK", "price": "199.00",
             "compareAtPrice": "249.00", "position": 2, "inventoryQuantity": black_quantity,
             "inventoryPolicy": "DENY", "inventoryItem": {
                 "id": "gid://shopify/InventoryItem/800000000000002", "tracked": True,
                 "unitCost": {"amount": "80.00"}}},
        ],
        "collections": [{"id": "gid://shopify/Collection/841564295", "title": "IPods", "handle": "ipods"}],
    }


class TestOrders:
    def test_create_maps_totals_lines_discounts_and_customer(self, client, store, shop):
        assert deliver(client, store, "orders/create") == "done"
        order = Order.objects.for_store(store).get(external_id=ORDER)
        assert (order.name, order.currency, order.total, order.subtotal) == (
            "#9999", "USD", Decimal("403.00"), Decimal("388.00"))
        assert (order.discount_total, order.shipping_total, order.discount_codes) == (
            Decimal("10.00"), Decimal("15.00"), ["WELCOME10"])
        assert order.customer_external_id == "gid://shopify/Customer/115310627314723954"
        assert (order.financial_status, order.fulfillment_status) == ("pending", "unfulfilled")
        lines = {ln.external_id: ln for ln in order.lines.all()}
        pink = lines["gid://shopify/LineItem/866550311766439020"]
        assert (pink.variant_external_id, pink.unit_price, pink.total_discount, pink.line_total) == (
            PINK, Decimal("199.00"), Decimal("5.00"), Decimal("194.00"))
        assert lines["gid://shopify/LineItem/141249953214522974"].total_discount == Decimal("5.00")

    def test_out_of_order_and_replayed_deliveries_never_roll_back(self, client, store, shop):
        assert deliver(client, store, "orders/updated") == "done"  # 12:30, arrives first
        assert deliver(client, store, "orders/paid") == "done"  # 11:05, late: skipped by the upsert
        assert deliver(client, store, "orders/create") == "done"  # 11:00, later still
        order = Order.objects.for_store(store).get()
        assert (order.fulfillment_status, order.financial_status) == ("partially_fulfilled", "pending")
        # the same delivery again (Shopify retry, same webhook id) is not even recorded
        assert deliver(client, store, "orders/updated", webhook_id="dup") == "done"
        assert deliver(client, store, "orders/updated", webhook_id="dup") == "duplicate"

    def test_paid_after_create_is_applied(self, client, store, shop):
        deliver(client, store, "orders/create")
        deliver(client, store, "orders/paid")
        assert Order.objects.for_store(store).get().financial_status == "paid"

    def test_refund_reads_the_order_as_shopify_has_it_now(self, client, store, shop):
        deliver(client, store, "orders/create")
        catalogue.seed(shop, products=3, customers=1, orders=0)
        node = catalogue.order(0, shop.products, shop.customers, rng=__import__("random").Random(1))
        node.update(id=ORDER, name="#9999", updatedAt="2026-01-12T14:15:00Z", refunds=[{
            "id": "gid://shopify/Refund/890088186047892319", "createdAt": "2026-01-12T14:15:00Z",
            "note": "Item arrived damaged", "totalRefundedSet": {"shopMoney": {"amount": "194.00"}}}])
        shop.orders = [node]
        assert deliver(client, store, "refunds/create") == "done"
        order = Order.objects.for_store(store).get()
        assert order.refunded_total == Decimal("194.00")
        assert Refund.objects.for_store(store).get().reason == "Item arrived damaged"


class TestProducts:
    def test_create_and_update_fetch_collections_and_costs(self, client, store, shop):
        shop.products = [ipod_node()]
        assert deliver(client, store, "products/update") == "done"
        product = Product.objects.for_store(store).get(external_id=IPOD)
        assert (product.title, product.vendor, product.status) == ("IPod Nano - 8GB", "Apple", "active")
        variants = {v.external_id: v for v in Variant.objects.for_store(store)}
        assert variants[PINK].cost == Decimal("80.00")
        assert (variants[BLACK].inventory_quantity, variants[BLACK].stock_status) == (0, "out_of_stock")
        assert Collection.objects.for_store(store).get().title == "IPods"
        assert shop.calls["XsellProduct"] == 1

    def test_shopify_serving_an_older_product_than_the_webhook_is_retried(self, client, store, shop):
        shop.products = [ipod_node(updated_at="2026-01-09T12:00:00Z")]  # the webhook says 13:00
        assert deliver(client, store, "products/update") == "pending"
        assert not Product.objects.for_store(store).exists()

    def test_delete_then_a_late_update_keeps_it_deleted(self, client, store, shop):
        shop.products = [ipod_node()]
        deliver(client, store, "products/update")
        shop.products = []  # gone on Shopify
        assert deliver(client, store, "products/delete") == "done"
        assert Product.objects.for_store(store).get().status == "deleted"
        assert deliver(client, store, "products/create") == "done"  # late: Shopify has no product
        assert Product.objects.for_store(store).get().status == "deleted"

    def test_inventory_level_sets_the_variant_total(self, client, store, shop):
        shop.products = [ipod_node()]
        deliver(client, store, "products/update")
        shop.products = [ipod_node(black_quantity=6)]  # 6 across locations now
        assert deliver(client, store, "inventory_levels/update") == "done"
        black = Variant.objects.for_store(store).get(external_id=BLACK)
        assert (black.inventory_quantity, black.stock_status) == (6, "in_stock")
        older = {**payload("inventory_levels/update"), "updated_at": "2026-01-09T09:00:00-05:00"}
        shop.products = [ipod_node(black_quantity=1)]
        deliver(client, store, "inventory_levels/update", older)
        assert Variant.objects.for_store(store).get(external_id=BLACK).inventory_quantity == 6


class TestCustomersAndCheckouts:
    def test_customer_create_update_and_late_replay(self, client, store, shop):
        assert deliver(client, store, "customers/update") == "done"
        assert deliver(client, store, "customers/create") == "done"  # older, late
        customer = Customer.objects.for_store(store).get(external_id=BOB)
        assert (customer.email, customer.last_name, customer.tags) == (
            "bob@biller.com", "Biller-Smith", ["VIP", "newsletter"])
        assert (customer.consent_state, customer.consent_source) == ("subscribed", "shopify:SINGLE_OPT_IN")

    def test_consent_update_and_an_older_one_after_it(self, client, store, shop):
        deliver(client, store, "customers/create")
        assert deliver(client, store, "customers/email_marketing_consent_update") == "done"
        assert Customer.objects.for_store(store).get().consent_state == "unsubscribed"
        older = copy.deepcopy(payload("customers/email_marketing_consent_update"))
        older["email_marketing_consent"].update(state="subscribed",
                                                consent_updated_at="2026-01-03T10:00:00-05:00")
        deliver(client, store, "customers/email_marketing_consent_update", older)
        assert Customer.objects.for_store(store).get().consent_state == "unsubscribed"

    def test_checkouts_keep_the_newest_snapshot(self, client, store, shop):
        assert deliver(client, store, "checkouts/update") == "done"
        assert deliver(client, store, "checkouts/create") == "done"  # older, late
        checkout = Checkout.objects.for_store(store).get()
        assert (checkout.status, checkout.subtotal, checkout.lines[0]["quantity"]) == (
            "open", Decimal("398.00"), 2)
        assert checkout.lines[0]["variant_external_id"] == PINK
        assert checkout.recovery_url.startswith("https://checkout.local/")
        assert checkout.customer_external_id == BOB


class TestAppLifecycle:
    def test_uninstall_stops_the_store_and_wipes_access(self, client, store, shop):
        job = sync_job_start(store=store, kind="products")
        assert deliver(client, store, "app/uninstalled") == "done"
        store.refresh_from_db()
        assert store.status == Store.Status.UNINSTALLED
        creds = StoreCredentials.objects.get(store=store)
        assert (creds.access_token, creds.refresh_token) == ("", "")
        job.refresh_from_db()
        assert job.status == SyncJob.Status.FAILED
        # later non-compliance deliveries are ignored; the data stays until shop/redact
        assert deliver(client, store, "orders/create") == "ignored"

    def test_scopes_update_is_recorded(self, client, store, shop):
        deliver(client, store, "app/scopes_update")
        assert StoreCredentials.objects.get(store=store).scopes == (
            "read_customers,read_orders,read_products,write_discounts")

    def test_platform_returns_false_for_topics_it_does_not_handle(self, store, shop):
        assert ShopifyPlatform(store).handle_webhook("themes/publish", {}) is False


class TestCompliance:
    def _bob_with_an_order(self, client, store):
        deliver(client, store, "customers/create")
        order = copy.deepcopy(payload("orders/create"))
        order["customer"].update(id=706405506930370084, admin_graphql_api_id=BOB, email="bob@biller.com")
        order["email"] = "bob@biller.com"
        deliver(client, store, "orders/create", order)
        deliver(client, store, "checkouts/create")

    def test_data_request_keeps_one_export_for_the_merchant(self, client, store, shop):
        self._bob_with_an_order(client, store)
        assert deliver(client, store, "customers/data_request") == "done"
        assert deliver(client, store, "customers/data_request") == "done"  # another delivery id
        export = DataExport.objects.for_store(store).get()
        assert export.request_id == "shopify:9999"
        assert export.data["customers"][0]["email"] == "bob@biller.com"
        assert [o["external_id"] for o in export.data["orders"]] == [ORDER]

    def test_customer_redact_erases_the_person_and_keeps_anonymous_orders(self, client, store, shop):
        self._bob_with_an_order(client, store)
        deliver(client, store, "customers/data_request")
        assert deliver(client, store, "customers/redact") == "done"
        assert not Customer.objects.for_store(store).exists()
        assert not DataExport.objects.for_store(store).exists()
        assert not Checkout.objects.for_store(store).exists()
        order = Order.objects.for_store(store).get()
        assert (order.email, order.customer_external_id, order.total) == ("", "", Decimal("403.00"))

    def test_shop_redact_waits_for_uninstall_then_erases_everything(self, client, store, shop):
        self._bob_with_an_order(client, store)
        assert deliver(client, store, "shop/redact") == "done"  # still installed: refused
        assert Store.objects.filter(pk=store.pk).exists()
        deliver(client, store, "app/uninstalled")
        assert deliver(client, store, "shop/redact") is not None
        assert not Store.objects.filter(pk=store.pk).exists()
        assert not Order.objects.filter(store_id=store.pk).exists()
        assert not Customer.objects.filter(store_id=store.pk).exists()


class TestTenancy:
    def test_two_shops_never_see_each_others_data(self, client, store, shop, other_store, other_shop):
        for target in (store, other_store):
            deliver(client, target, "customers/create")
            deliver(client, target, "orders/create")
        shop.products = [ipod_node()]
        deliver(client, store, "products/update")  # only the first shop has the product
        deliver(client, store, "customers/redact")
        assert not Customer.objects.for_store(store).exists()
        assert Customer.objects.for_store(other_store).get().external_id == BOB
        assert Order.objects.for_store(other_store).get().customer_external_id.endswith("115310627314723954")
        assert Product.objects.for_store(store).count() == 1
        assert not Product.objects.for_store(other_store).exists()
        assert other_shop.calls["XsellProduct"] == 0
