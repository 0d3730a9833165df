"""The domain behaves the same whichever platform a store is on (issue 4).

Every test runs once per platform against that platform's real loopback fake, through a driver
(``parity_drivers``) with the same operations: seed the fake store, connect a Store of ours, and
produce signed webhook deliveries. The assertions below are written against the domain only
(``xsell_plugin.*`` rows and services, ``integrations.sync`` / ``.webhooks`` / ``.tasks`` /
``.connection``); this module imports nothing from ``integrations.shopify`` or
``integrations.woocommerce``. Where the platforms legitimately differ, the driver says so in an
attribute (``has_consent``, ``has_uninstall_webhook``, ...) and the test asserts each side.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from integrations import tasks
from integrations.connection import store_disconnect
from integrations.models import SyncJob, WebhookEvent
from integrations.sync import sync_backfill_start, sync_job_run, sync_reconcile_start
from integrations.webhooks import webhook_event_process
from tests.integrations.parity_drivers import (
    CATALOGUE,
    CUSTOMERS,
    NEW_ORDER,
    ORDERS,
    PLATFORMS,
    SHIPPING,
    Fakes,
    spec_subtotal,
)
from xsell_plugin.catalog.models import Collection, Product, ProductCollection, Variant
from xsell_plugin.customers.models import ConsentState, Customer
from xsell_plugin.orders.models import Order, OrderLine, Refund
from xsell_plugin.stores.models import Store, StoreCredentials

pytestmark = pytest.mark.django_db

DOMAIN_MODELS = (Product, Variant, Collection, ProductCollection, Customer, Order, OrderLine, Refund)
ACTIVE_JOB = (SyncJob.Status.PENDING, SyncJob.Status.RUNNING)


# -- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fakes():
    servers = Fakes().start()
    yield servers
    servers.stop()


@pytest.fixture
def make_driver(fakes, settings, db):
    """``make_driver(platform, name)``: a seeded fake store on that platform and a Store of ours
    connected to it (webhooks registered and backfill started by ``tasks.connect_store``)."""
    fakes.configure(settings)
    made = []

    def make(platform: str, name: str = "a", *, backfill: bool = True):
        driver = fakes.driver(platform, name)
        made.append(driver)
        driver.seed()
        store = driver.connect()
        assert store.is_active
        assert tasks.connect_store(store.pk) == 3  # products, customers, orders
        if backfill:
            assert run_jobs(store) == ["done"] * 3
        return driver

    yield make
    for driver in made:
        driver.close()


@pytest.fixture(params=PLATFORMS)
def platform(request) -> str:
    return request.param


@pytest.fixture
def driver(make_driver, platform):
    return make_driver(platform)


# -- helpers (domain only) -----------------------------------------------------------------------

def run_jobs(store) -> list[str | None]:
    """Run every unfinished sync job of the store, oldest first, as the worker would."""
    ids = (SyncJob.objects.for_store(store).filter(status__in=ACTIVE_JOB)
           .order_by("pk").values_list("pk", flat=True))
    return [sync_job_run(job_id=job_id) for job_id in list(ids)]


def process_events(store) -> list[str | None]:
    ids = (WebhookEvent.objects.for_store(store).filter(status=WebhookEvent.Status.PENDING)
           .order_by("pk").values_list("pk", flat=True))
    return [webhook_event_process(event_id=event_id) for event_id in list(ids)]


def deliver(client, driver, delivery) -> list[str | None]:
    """POST a signed delivery to the platform's endpoint, then process what it recorded."""
    assert driver.post(client, delivery).status_code == 200
    return process_events(driver.store)


def snapshot(store) -> dict:
    """Every domain row of the store, by model and pk, without our own write times."""
    return {
        (model.__name__, row["id"]): {k: v for k, v in row.items()
                                      if k not in ("created_at", "updated_at")}
        for model in DOMAIN_MODELS for row in model.objects.for_store(store).values()
    }


def changed_rows(before: dict, after: dict) -> set[tuple[str, int]]:
    return {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}


def order_view(order: Order) -> dict:
    """An order as the domain sees it: totals, customer and lines linked to our own rows."""
    return {
        "external_id": order.external_id, "customer": order.customer.external_id,
        "email": order.email, "currency": order.currency, "total": order.total,
        "subtotal": order.subtotal, "shipping": order.shipping_total, "tax": order.tax_total,
        "discount": order.discount_total, "placed_at": order.placed_at,
        "financial_status": order.financial_status,
        "fulfillment_status": order.fulfillment_status,
        "lines": sorted(
            (ln.external_id, ln.product.external_id, ln.variant.external_id, ln.quantity,
             ln.unit_price, ln.total_discount, ln.line_total, ln.sku)
            for ln in order.lines.select_related("product", "variant")),
    }


def assert_order_matches_spec(driver, order: Order, spec) -> None:
    store = driver.store
    assert order.store_id == store.pk
    customer = Customer.objects.for_store(store).get(external_id=driver.customer_id(spec.customer))
    assert order.customer_id == customer.pk
    assert order.email == CUSTOMERS[spec.customer].email.lower()
    subtotal = spec_subtotal(spec)
    assert order.total == driver.fake_order_total(order.external_id) == subtotal + SHIPPING
    assert (order.subtotal, order.shipping_total, order.tax_total, order.discount_total) == (
        subtotal, SHIPPING, Decimal("0"), Decimal("0"))
    assert order.total == order.subtotal - order.discount_total + order.shipping_total + order.tax_total
    assert order.currency == "USD" and order.financial_status == "paid"
    lines = sorted(order.lines.select_related("product", "variant"), key=lambda ln: ln.pk)
    expected = sorted(
        (driver.product_id(p), driver.variant_id(p, v), qty, Decimal(CATALOGUE[p].variants[v].price))
        for p, v, qty in spec.lines)
    assert sorted((ln.product.external_id, ln.variant.external_id, ln.quantity, ln.unit_price)
                  for ln in lines) == expected
    for line in lines:
        assert line.store_id == line.product.store_id == line.variant.store_id == store.pk
        assert line.variant.product_id == line.product_id
        assert line.line_total == line.unit_price * line.quantity - line.total_discount
    assert sum(ln.line_total for ln in lines) == order.subtotal


# -- 1. backfill ---------------------------------------------------------------------------------

def test_backfill_brings_the_whole_store_into_the_domain(driver):
    store = driver.store
    jobs = SyncJob.objects.for_store(store).order_by("pk")
    assert [(j.kind, j.mode, j.status) for j in jobs] == [
        ("products", "backfill", "done"), ("customers", "backfill", "done"),
        ("orders", "backfill", "done")]
    assert [j.received for j in jobs] == [len(CATALOGUE), len(CUSTOMERS), len(ORDERS)]

    # catalogue: every product and variant, prices as Decimal, stock as the fake has it
    assert Product.objects.for_store(store).count() == len(CATALOGUE)
    assert Variant.objects.for_store(store).count() == sum(len(p.variants) for p in CATALOGUE)
    for p, spec in enumerate(CATALOGUE):
        product = Product.objects.for_store(store).get(external_id=driver.product_id(p))
        assert (product.title, product.status) == (spec.title, Product.Status.ACTIVE)
        assert product.variants.count() == len(spec.variants)
        for v, vspec in enumerate(spec.variants):
            variant = Variant.objects.for_store(store).get(external_id=driver.variant_id(p, v))
            assert variant.product_id == product.pk
            assert isinstance(variant.price, Decimal) and variant.price == Decimal(vspec.price)
            assert (variant.sku, variant.title) == (vspec.sku, vspec.title)
            assert variant.inventory_quantity == vspec.stock
            if vspec.stock == 0:
                assert variant.stock_status == Variant.StockStatus.OUT_OF_STOCK
                assert not variant.available
            else:
                assert variant.stock_status == Variant.StockStatus.IN_STOCK
                assert variant.available
    sold_out = Variant.objects.for_store(store).filter(stock_status="out_of_stock")
    assert list(sold_out.values_list("external_id", flat=True)) == [driver.variant_id(1, 1)]

    # customers: emails normalised; consent only where the platform has it
    assert Customer.objects.for_store(store).count() == len(CUSTOMERS)
    for c, spec in enumerate(CUSTOMERS):
        customer = Customer.objects.for_store(store).get(external_id=driver.customer_id(c))
        assert customer.email == spec.email.lower() != spec.email
        assert (customer.first_name, customer.last_name) == (spec.first_name, spec.last_name)
        if driver.has_consent:
            assert customer.consent_state == (
                ConsentState.SUBSCRIBED if spec.subscribed else ConsentState.NOT_SUBSCRIBED)
        else:
            assert customer.consent_state == ConsentState.UNKNOWN

    # orders: linked to our customers, products and variants; totals as the fake says
    assert Order.objects.for_store(store).count() == len(ORDERS)
    assert OrderLine.objects.for_store(store).count() == sum(len(o.lines) for o in ORDERS)
    for order_id, spec in zip(driver.order_ids, ORDERS, strict=True):
        assert_order_matches_spec(driver, Order.objects.for_store(store).get(external_id=order_id),
                                  spec)

    # every row belongs to this store (and nothing else exists)
    for model in DOMAIN_MODELS:
        assert not model.objects.exclude(store=store).exists(), model.__name__


def test_backfill_and_reconcile_again_change_nothing(driver):
    store = driver.store
    before = snapshot(store)
    assert len(before) > 20
    assert [j.status for j in sync_backfill_start(store=store)] == ["pending"] * 3
    assert run_jobs(store) == ["done"] * 3
    assert snapshot(store) == before
    reconcile = sync_reconcile_start(store=store)
    assert {j.mode for j in reconcile} == {SyncJob.Mode.RECONCILE}
    assert run_jobs(store) == ["done"] * 3
    assert snapshot(store) == before


# -- 2. a signed webhook for a new order ---------------------------------------------------------

def test_order_webhook_gives_the_same_order_as_a_backfill(client, driver):
    store = driver.store
    order_id = driver.place_order(NEW_ORDER)
    delivery = driver.order_delivery(order_id, created=True)
    # the platform delivers it twice (a retry): recorded once
    assert driver.post(client, delivery).status_code == 200
    assert driver.post(client, delivery).status_code == 200
    (event,) = WebhookEvent.objects.for_store(store)
    assert (event.platform, event.status) == (store.platform, WebhookEvent.Status.PENDING)
    assert webhook_event_process(event_id=event.pk) == WebhookEvent.Status.DONE
    assert webhook_event_process(event_id=event.pk) is None  # a second task finds it done

    order = Order.objects.for_store(store).get(external_id=order_id)
    assert_order_matches_spec(driver, order, NEW_ORDER)
    from_webhook = order_view(order)
    assert Order.objects.for_store(store).count() == len(ORDERS) + 1

    # a backfill reads the same order from the platform's API: the domain row is the same
    sync_backfill_start(store=store)
    assert run_jobs(store) == ["done"] * 3
    assert order_view(Order.objects.for_store(store).get(external_id=order_id)) == from_webhook
    assert Order.objects.for_store(store).count() == len(ORDERS) + 1


# -- 3. a stale replay -------------------------------------------------------------------------

def test_a_stale_order_version_never_rolls_the_order_back(client, driver):
    store = driver.store
    order_id = driver.place_order(NEW_ORDER)
    first = driver.order_delivery(order_id, created=True)
    assert deliver(client, driver, first) == ["done"]
    assert Order.objects.for_store(store).get(external_id=order_id).fulfillment_status == "unfulfilled"

    driver.fulfil_order(order_id)
    assert deliver(client, driver, driver.order_delivery(order_id)) == ["done"]
    newer = Order.objects.for_store(store).get(external_id=order_id)
    assert newer.fulfillment_status == "fulfilled"
    after_newer = snapshot(store)

    # the first version again, under a new delivery id: recorded and processed, changes nothing
    assert deliver(client, driver, driver.redeliver(first)) == ["done"]
    assert WebhookEvent.objects.for_store(store).count() == 3
    order = Order.objects.for_store(store).get(external_id=order_id)
    assert (order.fulfillment_status, order.source_updated_at) == (
        "fulfilled", newer.source_updated_at)
    assert snapshot(store) == after_newer


# -- 4. a price change by product webhook --------------------------------------------------------

def test_product_webhook_with_a_new_price_updates_the_variant(client, driver):
    store = driver.store
    variants = Variant.objects.for_store(store)

    def prices() -> dict[str, tuple[int, Decimal]]:
        return {v.external_id: (v.pk, v.price) for v in variants.all()}

    before = prices()
    driver.change_price(1, 0, "17.40")  # one variant of a product with two
    driver.change_price(0, 0, "52.25")  # a product with a single variant
    # until the webhook arrives, the domain still has the old prices
    assert prices() == before
    assert deliver(client, driver, driver.product_delivery(1, 0)) == ["done"]
    assert deliver(client, driver, driver.product_delivery(0, 0)) == ["done"]

    after = prices()
    assert after[driver.variant_id(1, 0)] == (before[driver.variant_id(1, 0)][0], Decimal("17.40"))
    assert after[driver.variant_id(0, 0)] == (before[driver.variant_id(0, 0)][0], Decimal("52.25"))
    untouched = set(before) - {driver.variant_id(1, 0), driver.variant_id(0, 0)}
    assert {k: after[k] for k in untouched} == {k: before[k] for k in untouched}
    sibling = variants.get(external_id=driver.variant_id(1, 1))
    assert (sibling.price, sibling.stock_status) == (Decimal("21.50"), "out_of_stock")
    # order history keeps the price paid
    paid = OrderLine.objects.for_store(store).filter(variant__external_id=driver.variant_id(1, 0))
    assert set(paid.values_list("unit_price", flat=True)) == {Decimal("19.00")}


# -- 5. reconciliation ---------------------------------------------------------------------------

def test_reconciliation_picks_up_changes_no_webhook_announced(driver):
    store = driver.store
    before = snapshot(store)
    order_id = driver.order_ids[1]
    driver.change_price(3, 0, "14.50")  # a single-variant product
    driver.change_price(1, 0, "18.00")  # one variant of a product with two
    driver.fulfil_order(order_id)
    driver.rename_customer(2, "Alan M.")

    jobs = sync_reconcile_start(store=store)
    assert [(j.kind, j.mode) for j in jobs] == [
        ("products", "reconcile"), ("customers", "reconcile"), ("orders", "reconcile")]
    assert all(j.updated_since is not None for j in jobs)
    assert run_jobs(store) == ["done"] * 3

    variants = Variant.objects.for_store(store)
    assert variants.get(external_id=driver.variant_id(3, 0)).price == Decimal("14.50")
    beanie = variants.get(external_id=driver.variant_id(1, 0)).price
    if driver.reconcile_sees_variant_only_changes:
        assert beanie == Decimal("18.00")
    else:  # the documented gap: that variant's own next webhook repairs it
        assert beanie == Decimal("19.00")
    order = Order.objects.for_store(store).get(external_id=order_id)
    assert order.fulfillment_status == "fulfilled"
    assert Customer.objects.for_store(store).get(
        external_id=driver.customer_id(2)).first_name == "Alan M."

    # nothing but the changed records (and rows hanging off them) moved
    allowed_products = {driver.product_id(3), driver.product_id(1)}
    touched = changed_rows(before, snapshot(store))
    assert touched
    for model_name, pk in touched:
        if model_name == "Product":
            assert Product.objects.get(pk=pk).external_id in allowed_products
        elif model_name == "Variant":
            assert Variant.objects.get(pk=pk).product.external_id in allowed_products
        elif model_name == "Order":
            assert Order.objects.get(pk=pk).external_id == order_id
        elif model_name == "OrderLine":
            assert OrderLine.objects.get(pk=pk).order.external_id == order_id
        elif model_name == "Customer":
            assert Customer.objects.get(pk=pk).external_id == driver.customer_id(2)
        else:
            pytest.fail(f"{model_name} {pk} changed")


# -- 6. tenancy ----------------------------------------------------------------------------------

def test_two_stores_on_the_same_platform_never_see_each_others_rows(client, make_driver, platform):
    first, second = make_driver(platform, "a"), make_driver(platform, "b")
    a, b = first.store, second.store
    # both fakes were seeded alike: the same external ids live in both stores, apart
    for model in (Product, Variant, Customer, Order, OrderLine):
        ids_a = set(model.objects.for_store(a).values_list("external_id", flat=True))
        ids_b = set(model.objects.for_store(b).values_list("external_id", flat=True))
        pks_a = set(model.objects.for_store(a).values_list("pk", flat=True))
        pks_b = set(model.objects.for_store(b).values_list("pk", flat=True))
        assert ids_a and ids_a == ids_b, model.__name__
        assert not pks_a & pks_b, model.__name__
    for store in (a, b):
        lines = OrderLine.objects.for_store(store).select_related("order__customer", "product",
                                                                   "variant")
        assert lines.count() == sum(len(o.lines) for o in ORDERS)
        for line in lines:
            assert {line.order.store_id, line.order.customer.store_id, line.product.store_id,
                    line.variant.store_id} == {store.pk}
    b_before = snapshot(b)

    # a webhook, a reconciliation and a disconnect of the first store leave the second alone
    first.change_price(1, 0, "17.40")
    assert deliver(client, first, first.product_delivery(1, 0)) == ["done"]
    assert Variant.objects.for_store(a).get(external_id=first.variant_id(1, 0)).price == Decimal("17.40")
    order_id = first.place_order(NEW_ORDER)
    assert deliver(client, first, first.order_delivery(order_id, created=True)) == ["done"]
    sync_reconcile_start(store=a)
    assert run_jobs(a) == ["done"] * 3
    store_disconnect(store=a)
    assert not WebhookEvent.objects.for_store(b).exists()
    assert snapshot(b) == b_before
    assert Variant.objects.for_store(b).get(external_id=second.variant_id(1, 0)).price == Decimal("19.00")
    b.refresh_from_db()
    assert b.is_active
    assert _credentials_kept(b)


def test_a_shopify_and_a_woocommerce_store_hold_the_same_domain_picture(make_driver):
    """The same merchant data on each platform gives the same domain rows (ids aside)."""
    pictures = {}
    for platform in PLATFORMS:
        driver = make_driver(platform, "side")
        pictures[platform] = _picture(driver.store, consent=driver.has_consent)
    shopify, woocommerce = pictures["shopify"], pictures["woocommerce"]
    assert shopify["customers"] != woocommerce["customers"]  # consent: see below
    for name in ("products", "orders"):
        assert shopify[name] == woocommerce[name], name
    assert [c[:3] for c in shopify["customers"]] == [c[:3] for c in woocommerce["customers"]]
    assert {c[3] for c in woocommerce["customers"]} == {ConsentState.UNKNOWN}
    assert sorted(c[3] for c in shopify["customers"]) == sorted(
        ConsentState.SUBSCRIBED if c.subscribed else ConsentState.NOT_SUBSCRIBED for c in CUSTOMERS)
    for model in DOMAIN_MODELS:  # and neither store's rows point into the other
        for row in model.objects.values("store_id", *(
                f"{f.name}__store_id" for f in model._meta.concrete_fields
                if f.is_relation and f.name != "store")):
            assert len({v for v in row.values() if v is not None}) == 1, (model.__name__, row)


def _picture(store, *, consent: bool) -> dict:
    products = sorted(
        (p.title, p.status, tuple(sorted(
            (v.title, v.sku, v.price, v.inventory_quantity, v.stock_status)
            for v in p.variants.all())))
        for p in Product.objects.for_store(store).prefetch_related("variants"))
    customers = sorted(
        (c.email, c.first_name, c.last_name, c.consent_state)
        for c in Customer.objects.for_store(store))
    orders = sorted(
        (o.customer.email, o.email, o.currency, o.subtotal, o.shipping_total, o.total,
         o.financial_status, tuple(sorted(
             (ln.product.title, ln.variant.sku, ln.quantity, ln.unit_price, ln.line_total)
             for ln in o.lines.all())))
        for o in Order.objects.for_store(store).select_related("customer").prefetch_related(
            "lines__product", "lines__variant"))
    return {"products": products, "customers": customers, "orders": orders}


def _credentials_kept(store) -> bool:
    creds = StoreCredentials.objects.get(store=store)
    return bool(creds.access_token or (creds.consumer_key and creds.consumer_secret))


# -- 7. disconnect -------------------------------------------------------------------------------

def test_disconnect_stops_everything_for_the_store(client, make_driver, platform):
    driver = make_driver(platform, backfill=False)  # the backfill is still pending
    store = driver.store
    assert SyncJob.objects.for_store(store).filter(status__in=ACTIVE_JOB).count() == 3
    assert _credentials_kept(store)
    pending = list(SyncJob.objects.for_store(store).values_list("pk", flat=True))

    uninstall = driver.uninstall_delivery()
    if driver.has_uninstall_webhook:  # the platform tells us
        assert uninstall is not None
        assert deliver(client, driver, uninstall) == ["done"]
    else:  # no such signal: the merchant disconnects on our side
        assert uninstall is None
        assert store_disconnect(store=store) is True
    assert store_disconnect(store=store) is False  # already done: nothing changes

    store.refresh_from_db()
    assert (store.status, store.is_active) == (Store.Status.UNINSTALLED, False)
    assert store.uninstalled_at is not None
    creds = StoreCredentials.objects.get(store=store)
    assert (creds.access_token, creds.refresh_token, creds.scopes, creds.consumer_key,
            creds.consumer_secret, creds.webhook_secret) == ("", "", "", "", "", "")
    assert (creds.access_token_expires_at, creds.refresh_token_expires_at) == (None, None)
    assert not SyncJob.objects.for_store(store).filter(status__in=ACTIVE_JOB).exists()
    assert set(SyncJob.objects.for_store(store).values_list("status", flat=True)) == {"failed"}
    assert [sync_job_run(job_id=pk) for pk in pending] == [None, None, None]  # nothing to claim
    assert tasks.connect_store(store.pk) == 0
    assert tasks.reconcile_stores() == 0
    assert SyncJob.objects.for_store(store).count() == 3  # no job was started since
    # the pending backfill never ran: nothing was pulled after the disconnect
    assert not any(model.objects.for_store(store).exists() for model in (Product, Customer, Order))

    # a webhook that still arrives changes nothing in the domain
    order_id = driver.place_order(NEW_ORDER)
    driver.post(client, driver.order_delivery(order_id, created=True))
    process_events(store)
    assert not Order.objects.for_store(store).exists()
