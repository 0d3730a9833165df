"""The webhook and cart endpoints, and processing recorded events through the domain."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from integrations.models import WebhookEvent
from integrations.webhooks import webhook_event_process
from tests.integrations.woocommerce.conftest import load, post_webhook, raw
from xsell_plugin.activity.models import Checkout
from xsell_plugin.catalog.models import Product, Variant
from xsell_plugin.customers.models import Customer
from xsell_plugin.orders.models import Order
from xsell_plugin.stores.models import Store

pytestmark = pytest.mark.django_db
SECRET = "whsec-first"


def process_all(store):
    statuses = []
    for event_id in (WebhookEvent.objects.for_store(store).filter(status="pending")
                     .order_by("pk").values_list("pk", flat=True)):
        statuses.append(webhook_event_process(event_id=event_id))
    return statuses


def send(client, store, name, topic, *, body=None, secret=SECRET, **kwargs):
    data = raw(name) if body is None else json.dumps(body).encode()
    return post_webhook(client, store, data, topic=topic, secret=secret, **kwargs)


# -- the endpoint ----------------------------------------------------------------------------

def test_recorded_once_and_answered_fast(client, woo, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = send(client, woo, "order.created", "order.created")
    assert response.status_code == 200 and response.json() == {"status": "accepted"}
    event = WebhookEvent.objects.for_store(woo).get()
    assert (event.platform, event.topic, event.status) == ("woocommerce", "order.created", "pending")
    assert event.triggered_at == datetime(2026, 1, 5, 10, 24, 49, tzinfo=UTC)
    assert event.body.encode() == raw("order.created")
    assert len(callbacks) == 1  # processing is enqueued after commit


def test_bad_or_missing_signature_is_401(client, woo):
    assert send(client, woo, "order.created", "order.created", secret="wrong").status_code == 401
    assert send(client, woo, "order.created", "order.created", secret=None).status_code == 401
    assert not WebhookEvent.objects.exists()


def test_another_stores_secret_cannot_post_here(client, woo, other_woo):
    response = send(client, woo, "order.created", "order.created", secret="whsec-second")
    assert response.status_code == 401
    assert send(client, other_woo, "order.created", "order.created",
                secret="whsec-second").status_code == 200
    assert not WebhookEvent.objects.for_store(woo).exists()
    assert WebhookEvent.objects.for_store(other_woo).count() == 1


def test_unknown_or_uninstalled_store_is_404(client, woo):
    woo_id = woo.pk
    assert post_webhook(client, type(woo)(pk=woo_id + 999), raw("order.created"),
                        topic="order.created", secret=SECRET).status_code == 404
    Store.objects.filter(pk=woo_id).update(status=Store.Status.UNINSTALLED)
    assert send(client, woo, "order.created", "order.created").status_code == 404


def test_shopify_store_id_is_404(client, store):
    assert send(client, store, "order.created", "order.created").status_code == 404


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"no": "id"}', "é".encode("latin-1")])
def test_malformed_body_is_400(client, woo, body):
    assert post_webhook(client, woo, body, topic="order.updated", secret=SECRET).status_code == 400


def test_unknown_topic_is_200_and_not_recorded(client, woo):
    response = send(client, woo, "order.created", "action.woocommerce_checkout_order_processed")
    assert response.status_code == 200 and response.json() == {"status": "ignored"}
    assert not WebhookEvent.objects.exists()


def test_larger_than_5_mb_is_413(client, woo):
    body = b'{"id": 1, "pad": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    assert post_webhook(client, woo, body, topic="order.updated", secret=SECRET).status_code == 413


def test_creation_ping(client, woo):
    ping = b"webhook_id=142"
    unsigned = client.post(f"/webhooks/woocommerce/{woo.pk}/", data=ping,
                           content_type="application/x-www-form-urlencoded")
    assert unsigned.status_code == 200
    signed = post_webhook(client, woo, ping, topic="", secret=SECRET)
    assert signed.status_code == 200
    assert post_webhook(client, woo, ping, topic="", secret="wrong").status_code == 401
    assert not WebhookEvent.objects.exists()


def test_duplicate_deliveries(client, woo):
    assert send(client, woo, "order.created", "order.created", delivery_id="abc").json() == {
        "status": "accepted"}
    assert send(client, woo, "order.created", "order.created", delivery_id="abc").json() == {
        "status": "duplicate"}
    # same delivery id (one-second resolution), different event: both kept
    other = load("order.created") | {"id": 728, "number": "728"}
    assert send(client, woo, "", "order.created", body=other, delivery_id="abc").json() == {
        "status": "accepted"}
    assert WebhookEvent.objects.for_store(woo).count() == 2
    process_all(woo)
    assert Order.objects.for_store(woo).count() == 2


# -- processing ------------------------------------------------------------------------------

def test_order_created_then_updated(client, woo):
    send(client, woo, "order.created", "order.created")
    send(client, woo, "order.updated", "order.updated")
    assert process_all(woo) == ["done", "done"]
    order = Order.objects.for_store(woo).get(external_id="727")
    assert (order.total, order.refunded_total, order.financial_status, order.fulfillment_status) == (
        Decimal("56.34"), Decimal("4.00"), "partially_refunded", "fulfilled")
    assert order.discount_codes == ["xs-ada-2026"] and order.lines.count() == 2


def test_out_of_order_and_replayed_order_updates_never_roll_back(client, woo):
    send(client, woo, "order.updated", "order.updated", delivery_id="late")
    send(client, woo, "order.created", "order.created", delivery_id="early")  # arrives second
    process_all(woo)
    order = Order.objects.for_store(woo).get()
    assert order.fulfillment_status == "fulfilled" and order.refunded_total == Decimal("4.00")
    # a replay of the older state (new delivery id) is recorded, applied as stale: no change
    send(client, woo, "order.created", "order.created", delivery_id="replay")
    assert process_all(woo) == ["done"]
    order.refresh_from_db()
    assert order.fulfillment_status == "fulfilled" and order.refunded_total == Decimal("4.00")


def test_order_deleted_means_trashed_then_gone(client, woo, fake):
    product = fake.add_product()
    order = fake.add_order(items=[(product["id"], 0, 1)])
    send(client, woo, "", "order.created", body=order)
    process_all(woo)
    fake.update("orders", order["id"], status="trash")
    send(client, woo, "", "order.deleted", body={"id": order["id"]})
    process_all(woo)
    stored = Order.objects.for_store(woo).get()
    assert stored.cancelled_at is not None and stored.financial_status == "voided"
    del fake.orders[order["id"]]  # emptied from the trash: 404
    send(client, woo, "", "order.deleted", body={"id": order["id"]}, delivery_id="again")
    assert process_all(woo) == ["done"]


def test_variable_product_fetches_its_variations(client, woo, fake):
    product = fake.add_variable_product(options=[("Red", "30.00", 2), ("Blue", "31.00", 0)])
    send(client, woo, "", "product.created", body=product)
    assert process_all(woo) == ["done"]
    stored = Product.objects.for_store(woo).get(external_id=str(product["id"]))
    variants = {v.title: v for v in stored.variants.all()}
    assert set(variants) == {"Red", "Blue"}
    assert variants["Blue"].stock_status == Variant.StockStatus.OUT_OF_STOCK


def test_variation_update_and_product_deletion(client, woo, fake):
    product = fake.add_variable_product()
    send(client, woo, "", "product.created", body=product)
    process_all(woo)
    vid = product["variations"][0]
    variation = fake.update_variation(product["id"], vid, stock_quantity=0,
                                      stock_status="outofstock")
    payload = {**variation, "type": "variation", "parent_id": product["id"]}
    send(client, woo, "", "product.updated", body=payload)
    process_all(woo)
    assert Variant.objects.for_store(woo).get(external_id=str(vid)).inventory_quantity == 0
    send(client, woo, "", "product.deleted", body={"id": product["id"]})
    process_all(woo)
    assert Product.objects.for_store(woo).get().status == Product.Status.DELETED


def test_variation_before_its_product_reads_the_product(client, woo, fake):
    product = fake.add_variable_product()
    vid = product["variations"][1]
    payload = {**fake.variations[product["id"]][vid], "type": "variation",
               "parent_id": product["id"]}
    send(client, woo, "", "product.created", body=payload)
    assert process_all(woo) == ["done"]
    assert Variant.objects.for_store(woo).count() == 2


def test_customer_events(client, woo):
    send(client, woo, "customer.created", "customer.created")
    send(client, woo, "customer.deleted", "customer.deleted")
    send(client, woo, "coupon.created", "coupon.created")
    assert process_all(woo) == ["done", "ignored", "ignored"]
    customer = Customer.objects.for_store(woo).get()
    assert (customer.email, customer.consent_state) == ("john.doe@example.com", "unknown")


def test_store_unreachable_while_applying_retries_later(client, woo, fake):
    product = fake.add_variable_product()
    fake.fail(f"wc/v3/products/{product['id']}/variations", 503)
    send(client, woo, "", "product.updated", body=product)
    assert process_all(woo) == ["pending"]
    event = WebhookEvent.objects.for_store(woo).get()
    assert event.lease_expires_at is not None and "503" in event.last_error
    assert not Product.objects.exists()


# -- the cart endpoint -----------------------------------------------------------------------

def test_signed_cart_event(client, woo):
    response = post_webhook(client, woo, raw("cart.updated"), topic="", secret=SECRET,
                            path_suffix="cart")
    assert response.status_code == 200
    assert process_all(woo) == ["done"]
    cart = Checkout.objects.for_store(woo).get()
    assert (cart.kind, cart.status, cart.email, cart.subtotal) == (
        "cart", "open", "john.doe@example.com", Decimal("47.98"))
    assert [ln["variant_external_id"] for ln in cart.lines] == ["794", "732"]


def test_unsigned_or_foreign_cart_event(client, woo, other_woo):
    assert post_webhook(client, woo, raw("cart.updated"), topic="", secret=None,
                        path_suffix="cart").status_code == 401
    assert post_webhook(client, woo, raw("cart.updated"), topic="", secret="whsec-second",
                        path_suffix="cart").status_code == 401
    assert not WebhookEvent.objects.exists()


def test_invalid_cart_is_400_with_the_reason(client, woo):
    body = json.dumps(load("cart.updated") | {"currency": "dollars"}).encode()
    response = post_webhook(client, woo, body, topic="", secret=SECRET, path_suffix="cart")
    assert response.status_code == 400 and "currency" in response.json()["message"]


def test_cart_converted_to_an_order(client, woo):
    post_webhook(client, woo, raw("cart.updated"), topic="", secret=SECRET, path_suffix="cart")
    later = load("cart.updated") | {"updated_at": "2026-01-05T10:40:00Z", "order_id": 727}
    post_webhook(client, woo, json.dumps(later).encode(), topic="", secret=SECRET,
                 path_suffix="cart")
    process_all(woo)
    cart = Checkout.objects.for_store(woo).get()
    assert (cart.status, cart.order_external_id) == ("completed", "727")
