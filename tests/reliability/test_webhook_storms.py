"""Webhook storms: many versions of the same records, each delivered several times, in shuffled
order, through the real receivers; then the processing tasks run shuffled, some twice (a broker
redelivery). Nothing is lost, nothing is applied twice, and the final state is the newest version
whatever the arrival order."""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from integrations import tasks
from integrations.models import WebhookEvent
from tests.factories import StoreFactory
from tests.fakes.shopify import webhook_headers
from tests.fakes.woocommerce_server import webhook_signature
from tests.reliability.conftest import SECRET
from xsell_plugin.customers.models import ConsentState, Customer
from xsell_plugin.orders.models import Order, OrderLine
from xsell_plugin.stores.models import Store, StoreCredentials

pytestmark = pytest.mark.django_db
PAYLOADS = Path(__file__).resolve().parents[1] / "payloads"
T0 = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def shopify_order(order_id: int, version: int) -> dict:
    """Version ``version`` of an order: a later ``updated_at``, a different total, status and
    lines (version 3 adds a line, version 5 drops one)."""
    payload = json.loads((PAYLOADS / "shopify" / "orders" / "updated.json").read_text())
    payload["id"] = order_id
    payload["admin_graphql_api_id"] = f"gid://shopify/Order/{order_id}"
    payload["name"] = f"#R{order_id}"
    payload["updated_at"] = _iso(T0 + timedelta(minutes=version))
    payload.pop("total_price_set", None)
    payload["total_price"] = f"{100 + version}.00"
    payload["financial_status"] = ["pending", "authorized", "paid", "paid", "partially_refunded",
                                   "refunded"][version % 6]
    payload["refunds"] = []
    template = payload["line_items"][0]
    count = 1 + (version >= 3) + (version >= 4) - (version >= 5)
    payload["line_items"] = []
    for n in range(count):
        line = copy.deepcopy(template)
        line["id"] = order_id * 10 + n
        line["admin_graphql_api_id"] = f"gid://shopify/LineItem/{order_id * 10 + n}"
        line["quantity"] = version + n
        payload["line_items"].append(line)
    return payload


def shopify_customer(customer_id: int, version: int) -> dict:
    payload = json.loads((PAYLOADS / "shopify" / "customers" / "update.json").read_text())
    payload["id"] = customer_id
    payload["admin_graphql_api_id"] = f"gid://shopify/Customer/{customer_id}"
    payload["email"] = f"storm{customer_id}@example.com"
    payload["first_name"] = f"V{version}"
    payload["updated_at"] = _iso(T0 + timedelta(minutes=version))
    payload["email_marketing_consent"] = {
        "state": "subscribed" if version % 2 else "unsubscribed", "opt_in_level": "single_opt_in",
        "consent_updated_at": _iso(T0 + timedelta(minutes=version))}
    return payload


def storm(deliveries: list[tuple[str, str, dict]], *, rng: random.Random, copies=(1, 3)):
    """Every (topic, delivery id, payload) 1 to 3 times, the whole lot shuffled."""
    out = [item for item in deliveries for _ in range(rng.randint(*copies))]
    rng.shuffle(out)
    return out


def process_shuffled(rng: random.Random) -> None:
    """What the workers do: each event's task, shuffled, a third of them delivered twice."""
    ids = list(WebhookEvent.objects.order_by("pk").values_list("pk", flat=True))
    ids += rng.sample(ids, len(ids) // 3)
    rng.shuffle(ids)
    for event_id in ids:
        tasks.process_webhook_event(event_id)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shopify_storm_is_applied_once_and_ends_at_the_newest(client, shopify, seed):
    from tests.reliability.conftest import shopify_connect

    store, _ = shopify_connect(shopify, "storm-shop.myshopify.com")
    rng = random.Random(seed)
    versions = 6
    deliveries = []
    for order_id in (5001, 5002, 5003):
        deliveries += [("orders/updated", f"o{order_id}-v{v}", shopify_order(order_id, v))
                       for v in range(versions)]
    for customer_id in (7001, 7002):
        deliveries += [("customers/update", f"c{customer_id}-v{v}", shopify_customer(customer_id, v))
                       for v in range(versions)]
    for topic, delivery, payload in storm(deliveries, rng=rng):
        body = json.dumps(payload).encode()
        headers = webhook_headers(secret=SECRET, topic=topic, shop=store.domain, body=body,
                                  webhook_id=delivery)
        response = client.post("/webhooks/shopify/", data=body, content_type="application/json",
                               headers={k: v for k, v in headers.items() if k != "Content-Type"})
        assert response.status_code == 200

    assert WebhookEvent.objects.for_store(store).count() == len(deliveries)  # once per delivery id
    process_shuffled(rng)
    events = WebhookEvent.objects.for_store(store)
    assert set(events.values_list("status", flat=True)) == {WebhookEvent.Status.DONE}
    assert set(events.values_list("attempts", flat=True)) == {1}  # claimed once each

    newest = versions - 1
    for order_id in (5001, 5002, 5003):
        order = Order.objects.for_store(store).get(external_id=f"gid://shopify/Order/{order_id}")
        expected = shopify_order(order_id, newest)
        assert order.total == Decimal(expected["total_price"])
        assert order.financial_status == expected["financial_status"]
        lines = OrderLine.objects.for_store(store).filter(order=order)
        assert sorted(lines.values_list("quantity", flat=True)) == sorted(
            line["quantity"] for line in expected["line_items"])
    assert Order.objects.for_store(store).count() == 3
    for customer_id in (7001, 7002):
        customer = Customer.objects.for_store(store).get(
            external_id=f"gid://shopify/Customer/{customer_id}")
        assert customer.first_name == f"V{newest}"
        wanted = ConsentState.SUBSCRIBED if newest % 2 else ConsentState.UNSUBSCRIBED
        assert customer.consent_state == wanted
    assert Customer.objects.for_store(store).count() == 2


def woo_order(order_id: int, version: int) -> dict:
    payload = json.loads((PAYLOADS / "woocommerce" / "order.updated.json").read_text())
    payload["id"] = payload["number"] = order_id
    modified = T0 + timedelta(minutes=version)
    payload["date_modified_gmt"] = modified.strftime("%Y-%m-%dT%H:%M:%S")
    payload["date_modified"] = payload["date_modified_gmt"]
    payload["status"] = ["pending", "processing", "on-hold", "processing", "completed", "completed"][version]
    payload["total"] = f"{50 + version}.00"
    payload["refunds"] = []
    line = copy.deepcopy(payload["line_items"][0])
    line["id"] = order_id * 10
    line["quantity"] = version + 1
    line["subtotal"] = line["total"] = f"{10 * (version + 1)}.00"
    payload["line_items"] = [line]
    return payload


@pytest.mark.parametrize("seed", [1, 2])
def test_woocommerce_storm_is_applied_once_and_ends_at_the_newest(client, seed):
    store = StoreFactory(platform=Store.Platform.WOOCOMMERCE, domain="storm.example.com", name="Storm")
    StoreCredentials.objects.create(store=store, consumer_key="ck_x", consumer_secret="cs_x",
                                    webhook_secret="whsec-storm")
    rng = random.Random(seed)
    deliveries = [("order.updated", f"{order_id:08x}{v:024x}", woo_order(order_id, v))
                  for order_id in (801, 802) for v in range(6)]
    for topic, delivery, payload in storm(deliveries, rng=rng):
        body = json.dumps(payload).encode()
        response = client.post(
            f"/webhooks/woocommerce/{store.pk}/", data=body, content_type="application/json",
            HTTP_X_WC_WEBHOOK_TOPIC=topic, HTTP_X_WC_WEBHOOK_DELIVERY_ID=delivery,
            HTTP_X_WC_WEBHOOK_SIGNATURE=webhook_signature(body, "whsec-storm"))
        assert response.status_code == 200
    assert WebhookEvent.objects.for_store(store).count() == len(deliveries)
    process_shuffled(rng)
    assert set(WebhookEvent.objects.for_store(store).values_list("status", "attempts")) == {
        (WebhookEvent.Status.DONE, 1)}
    for order_id in (801, 802):
        order = Order.objects.for_store(store).get(external_id=str(order_id))
        assert order.total == Decimal("55.00") and order.fulfillment_status == "fulfilled"
        assert list(OrderLine.objects.for_store(store).filter(order=order)
                    .values_list("quantity", flat=True)) == [6]
    assert Order.objects.for_store(store).count() == 2
