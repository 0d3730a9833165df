"""Bad input at the edges that strangers can reach: hypothesis fuzzes the webhook bodies and
headers of both platforms. Whatever arrives, the answer is never a 500, and nothing is written
except one ``WebhookEvent`` for an accepted delivery; processing a signed-but-strange event
either applies it whole or writes nothing (no partial write). Oversize bodies are refused with
413 before they are read.

``XSELL_FUZZ_EXAMPLES`` raises the number of examples (``make reliability`` uses the default
unless it is set; CI keeps it small)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from integrations.models import WebhookEvent
from integrations.webhooks import webhook_event_process
from tests.factories import StoreFactory
from tests.fakes.shopify import webhook_headers
from tests.fakes.woocommerce_server import webhook_signature
from tests.reliability.conftest import SECRET, shopify_connect
from xsell_plugin.activity.models import Checkout
from xsell_plugin.catalog.models import Product, Variant
from xsell_plugin.customers.models import Customer
from xsell_plugin.orders.models import Order, OrderLine
from xsell_plugin.stores.models import Store, StoreCredentials

pytestmark = pytest.mark.django_db
PAYLOADS = Path(__file__).resolve().parents[1] / "payloads"
EXAMPLES = int(os.environ.get("XSELL_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
ALLOWED = {200, 400, 401, 404, 413}
DOMAIN_MODELS = (Product, Variant, Customer, Order, OrderLine, Checkout)

SHOPIFY_TOPICS = [p.parent.name + "/" + p.stem for p in (PAYLOADS / "shopify").glob("*/*.json")]
WOO_TOPICS = sorted({p.stem for p in (PAYLOADS / "woocommerce").glob("*.json")
                     if p.stem.count(".") == 1 and p.stem.split(".")[0] in ("order", "product", "customer",
                                                                              "coupon")})


def _counts(store) -> dict[str, int]:
    return {m.__name__: m.objects.for_store(store).count() for m in DOMAIN_MODELS}


# --- strategies -----------------------------------------------------------------------------
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
                      st.floats(allow_nan=False), st.text(max_size=30),
                      st.sampled_from(["", "0", "-1", "1e309", "2026-13-45T25:61:00Z", "gid://shopify/X/1",
                                       "NaN", "\x00", "\u202e", "9" * 40, "2026-01-05T10:00:00Z"]))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)), max_leaves=12)


def _mutate(payload, data, depth: int = 0):
    """A recorded payload with some values replaced, removed or retyped (deep)."""
    if isinstance(payload, dict):
        out = {}
        for key, value in payload.items():
            action = data.draw(st.sampled_from(["keep", "keep", "keep", "drop", "replace", "recurse"]))
            if action == "drop":
                continue
            if action == "replace":
                out[key] = data.draw(json_value)
            elif action == "recurse" and depth < 4:
                out[key] = _mutate(value, data, depth + 1)
            else:
                out[key] = value
        return out
    if isinstance(payload, list):
        return [_mutate(v, data, depth + 1) for v in payload[:3]]
    return payload


def _body(data, recorded: dict) -> bytes:
    kind = data.draw(st.sampled_from(["mutated", "mutated", "mutated", "json", "bytes", "text"]))
    if kind == "mutated":
        return json.dumps(_mutate(recorded, data)).encode()
    if kind == "json":
        return json.dumps(data.draw(json_value)).encode()
    if kind == "text":
        return data.draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
    return data.draw(st.binary(max_size=300))


header_text = st.one_of(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80),
                        st.sampled_from(["", " ", "orders/create", "../../etc", "a" * 300]))


# --- Shopify ----------------------------------------------------------------------------------
@FUZZ
@given(data=st.data())
def test_shopify_webhook_fuzz(client, shopify, data):
    store = Store.objects.filter(domain="fuzz-shop.myshopify.com").first() or shopify_connect(
        shopify, "fuzz-shop.myshopify.com")[0]
    topic = data.draw(st.sampled_from([*SHOPIFY_TOPICS, "orders/create", "app/unknown"]))
    recorded_path = PAYLOADS / "shopify" / f"{topic}.json"
    recorded = json.loads(recorded_path.read_text()) if recorded_path.exists() else {"id": 1}
    body = _body(data, recorded)
    signed = data.draw(st.sampled_from(["valid", "valid", "valid", "wrong", "missing", "garbage"]))
    headers = webhook_headers(secret=SECRET, topic=topic, shop=store.domain, body=body,
                              webhook_id=f"fuzz-{data.draw(st.uuids())}",
                              style=data.draw(st.sampled_from(["x", "plain"])))
    hmac_key = next(k for k in headers if k.lower().endswith("hmac-sha256"))
    if signed == "wrong":
        headers[hmac_key] = base64.b64encode(hmac.new(b"other", body, hashlib.sha256).digest()).decode()
    elif signed == "missing":
        del headers[hmac_key]
    elif signed == "garbage":
        headers[hmac_key] = data.draw(header_text)
    for name in list(headers):
        if name != hmac_key and data.draw(st.integers(0, 9)) == 0:
            headers[name] = data.draw(header_text)  # a broken topic, shop, id or time
    headers.pop("Content-Type", None)
    before_events = WebhookEvent.objects.count()
    before = _counts(store)
    response = client.post("/webhooks/shopify/", data=body, content_type="application/json",
                           headers=headers)
    assert response.status_code in ALLOWED
    event(f"answer {response.status_code}")
    added = WebhookEvent.objects.count() - before_events
    assert added in (0, 1) and (added == 0 or response.status_code == 200)
    assert _counts(store) == before  # the receiver writes nothing else
    if added:
        _process_whole_or_nothing(store, before)


def _process_whole_or_nothing(store, before: dict[str, int]) -> None:
    recorded = WebhookEvent.objects.order_by("-pk").first()
    status = webhook_event_process(event_id=recorded.pk)
    event(f"processed: {status}")
    assert status in {WebhookEvent.Status.DONE, WebhookEvent.Status.IGNORED, WebhookEvent.Status.FAILED,
                      WebhookEvent.Status.PENDING}
    if status != WebhookEvent.Status.DONE:
        assert _counts(store) == before  # a failed event left no half-written rows


# --- WooCommerce ------------------------------------------------------------------------------
@pytest.fixture
def woo_store(db):
    store = StoreFactory(platform=Store.Platform.WOOCOMMERCE, domain="fuzz.example.com", name="Fuzz")
    StoreCredentials.objects.create(store=store, consumer_key="ck_f", consumer_secret="cs_f",
                                    webhook_secret="whsec-fuzz")
    return store


@FUZZ
@given(data=st.data())
def test_woocommerce_webhook_fuzz(client, woo_store, data):
    cart = data.draw(st.booleans())
    topic = "cart.updated" if cart else data.draw(st.sampled_from([*WOO_TOPICS, "action.woocommerce_x", ""]))
    recorded_path = PAYLOADS / "woocommerce" / f"{topic}.json"
    recorded = json.loads(recorded_path.read_text()) if recorded_path.exists() else {"id": 7}
    body = _body(data, recorded)
    signature = data.draw(st.sampled_from(["valid", "valid", "valid", "wrong", "missing", "garbage"]))
    headers = {"HTTP_X_WC_WEBHOOK_DELIVERY_ID": data.draw(header_text)}
    if not cart or data.draw(st.booleans()):
        headers["HTTP_X_WC_WEBHOOK_TOPIC"] = topic if data.draw(st.integers(0, 5)) else data.draw(header_text)
    if signature == "valid":
        headers["HTTP_X_WC_WEBHOOK_SIGNATURE"] = webhook_signature(body, "whsec-fuzz")
    elif signature == "wrong":
        headers["HTTP_X_WC_WEBHOOK_SIGNATURE"] = webhook_signature(body, "whsec-other")
    elif signature == "garbage":
        headers["HTTP_X_WC_WEBHOOK_SIGNATURE"] = data.draw(header_text)
    store_id = woo_store.pk if data.draw(st.integers(0, 9)) else data.draw(st.integers(0, 2 ** 31))
    before_events = WebhookEvent.objects.count()
    before = _counts(woo_store)
    response = client.post(f"/webhooks/woocommerce/{store_id}/{'cart' if cart else ''}", data=body,
                           content_type=data.draw(st.sampled_from(["application/json", "text/plain",
                                                                   "application/x-www-form-urlencoded"])),
                           **headers)
    assert response.status_code in ALLOWED
    event(f"answer {response.status_code}")
    added = WebhookEvent.objects.count() - before_events
    assert added in (0, 1) and (added == 0 or response.status_code == 200)
    assert _counts(woo_store) == before
    if added:
        _process_whole_or_nothing(woo_store, before)


# --- oversize ---------------------------------------------------------------------------------
BIG = b'{"id": 1, "pad": "' + b"x" * (5 * 1024 * 1024 + 10) + b'"}'


def test_oversize_shopify_webhook_is_413(client, shopify):
    store, _ = shopify_connect(shopify, "big-shop.myshopify.com")
    headers = webhook_headers(secret=SECRET, topic="orders/create", shop=store.domain, body=BIG)
    headers.pop("Content-Type")
    assert client.post("/webhooks/shopify/", data=BIG, content_type="application/json",
                       headers=headers).status_code == 413
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("suffix", ["", "cart"])
def test_oversize_woocommerce_webhook_and_cart_are_413(client, woo_store, suffix):
    response = client.post(f"/webhooks/woocommerce/{woo_store.pk}/{suffix}", data=BIG,
                           content_type="application/json", HTTP_X_WC_WEBHOOK_TOPIC="order.created",
                           HTTP_X_WC_WEBHOOK_SIGNATURE=webhook_signature(BIG, "whsec-fuzz"))
    assert response.status_code == 413
    assert not WebhookEvent.objects.exists()


def test_oversize_woocommerce_key_callback_is_413(client):
    assert client.post("/auth/woocommerce/callback", data=b"{" + b" " * (70 * 1024) + b"}",
                       content_type="application/json").status_code == 413


def test_oversize_mailer_webhook_is_413(client, settings):
    from emails.models import MailerAccount
    from emails.services import mailer_account_set

    store = StoreFactory()
    mailer_account_set(store=store, transport=MailerAccount.Transport.ESP, from_email="n@shop.example",
                       esp="postmark", esp_credentials={"server_token": "pm-token"},
                       webhook_secret="user:password")
    auth = "Basic " + base64.b64encode(b"user:password").decode()
    response = client.post(f"/webhooks/mailer/{store.pk}/postmark/", data=BIG,
                           content_type="application/json", HTTP_AUTHORIZATION=auth)
    assert response.status_code == 413
