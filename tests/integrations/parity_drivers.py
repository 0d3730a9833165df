"""One driver per platform for ``test_platform_parity.py``: the same operations on a fake store,
so the parity tests can be written against the domain only.

A driver seeds its platform's loopback fake (the one that platform's own suite uses) from the
platform-neutral ``CATALOGUE`` / ``CUSTOMERS`` / ``ORDERS`` below, connects a Store of ours to it
the way the install flow leaves it, and produces signed webhook deliveries shaped like the
platform's. Everything platform-specific lives here; the attributes at the top of each driver
say, in domain terms, where the platforms legitimately differ.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

from django.utils import timezone

from tests.factories import StoreFactory
from tests.fakes.shopify import FakeShopify, FakeShopifyServer
from tests.fakes.shopify import catalogue as shopify_catalogue
from tests.fakes.woocommerce_server import FakeWooCommerce
from tests.integrations.shopify.conftest import API_KEY, SECRET
from tests.integrations.shopify.conftest import connect as shopify_connect
from tests.integrations.shopify.conftest import payload as shopify_payload
from tests.integrations.shopify.conftest import post_webhook as shopify_post
from tests.integrations.woocommerce.conftest import post_webhook as woo_post
from tests.integrations.woocommerce.conftest import woo_store
from xsell_plugin.stores.models import Store

PLATFORMS = ("shopify", "woocommerce")


# -- the store every driver seeds, in platform-neutral terms ------------------------------------

@dataclass(frozen=True)
class VariantSpec:
    title: str
    sku: str
    price: str
    stock: int | None  # None: stock not tracked


@dataclass(frozen=True)
class ProductSpec:
    title: str
    variants: tuple[VariantSpec, ...]


@dataclass(frozen=True)
class CustomerSpec:
    email: str  # as the merchant typed it: mixed case
    first_name: str
    last_name: str
    subscribed: bool  # only where the platform records marketing consent


@dataclass(frozen=True)
class OrderSpec:
    customer: int  # index into CUSTOMERS
    lines: tuple[tuple[int, int, int], ...]  # (product index, variant index, quantity)


CATALOGUE = (
    ProductSpec("Trail Backpack", (VariantSpec("Default", "PAR-BAG", "49.00", 12),)),
    ProductSpec("Merino Beanie", (VariantSpec("Small", "PAR-BEANIE-S", "19.00", 5),
                                  VariantSpec("Large", "PAR-BEANIE-L", "21.50", 0))),  # sold out
    ProductSpec("Canvas Tote", (VariantSpec("Red", "PAR-TOTE-R", "15.00", 7),
                                VariantSpec("Blue", "PAR-TOTE-B", "15.00", 3),
                                VariantSpec("Green", "PAR-TOTE-G", "16.25", 9))),
    ProductSpec("Alpine Mug", (VariantSpec("Default", "PAR-MUG", "12.99", None),)),
)
CUSTOMERS = (
    CustomerSpec("Ada.Lovelace@Example.COM", "Ada", "Lovelace", subscribed=True),
    CustomerSpec("grace.HOPPER@example.com", "Grace", "Hopper", subscribed=False),
    CustomerSpec("Alan.Turing@Example.com", "Alan", "Turing", subscribed=False),
)
ORDERS = (
    OrderSpec(0, ((0, 0, 1), (1, 1, 2))),
    OrderSpec(1, ((2, 2, 1),)),
    OrderSpec(0, ((3, 0, 3), (2, 0, 1), (1, 0, 1))),
)
NEW_ORDER = OrderSpec(1, ((1, 0, 1), (2, 1, 2)))  # placed after the backfill, arrives by webhook
SHIPPING = Decimal("5.00")  # every order ships for 5.00; no tax, no discounts


def spec_subtotal(order: OrderSpec) -> Decimal:
    return sum((Decimal(CATALOGUE[p].variants[v].price) * qty for p, v, qty in order.lines),
               Decimal("0"))


@dataclass(frozen=True)
class Delivery:
    """One signed webhook delivery, as the platform would POST it."""

    topic: str
    body: bytes
    delivery_id: str
    signature: str = ""  # WooCommerce: computed by the fake with the secret we registered


def _now() -> datetime:
    return timezone.now().astimezone(UTC).replace(microsecond=0)


# -- Shopify -------------------------------------------------------------------------------------

def _num(gid: str) -> int:
    return int(gid.rsplit("/", 1)[1])


def _money(amount: Decimal | str) -> dict:
    return {"shopMoney": {"amount": f"{Decimal(amount):.2f}", "currencyCode": "USD"}}


def _rest_money(bag: dict) -> dict:
    amount = bag["shopMoney"]["amount"]
    return {"shop_money": {"amount": amount, "currency_code": "USD"},
            "presentment_money": {"amount": amount, "currency_code": "USD"}}


class ShopifyDriver:
    platform = "shopify"
    # Shopify keeps email-marketing consent per customer; it arrives with the customer.
    has_consent = True
    # A product webhook is only a nudge: the product is read again over GraphQL (the fake serves
    # what it holds now), because webhook bodies carry neither collections nor unit costs.
    product_webhook_refetches = True
    # Shopify sends app/uninstalled; the store is disconnected by processing that webhook.
    has_uninstall_webhook = True
    # A variant's change moves its product's updatedAt, so the hourly pull sees it.
    reconcile_sees_variant_only_changes = True

    def __init__(self, fake: FakeShopify, name: str) -> None:
        self.fake = fake
        self.domain = f"parity-{name}.myshopify.com"
        self.shop = fake.add_shop(self.domain, name=f"Parity {name}")
        self.store: Store | None = None
        self._clock = _now() - timedelta(days=30)
        self._orders = 0

    def _tick(self, *, now: bool = True) -> str:
        """Strictly increasing times (Shopify's are whole seconds). The seed is history (a month
        ago); changes made after it happen now, or just after the last one."""
        self._clock += timedelta(seconds=1)
        if now:
            self._clock = max(self._clock, _now())
        return shopify_catalogue.iso(self._clock)

    # seeding and connecting
    def seed(self) -> None:
        for n, spec in enumerate(CATALOGUE):
            node = shopify_catalogue.product(n, self.domain, variants=len(spec.variants))
            stamp = self._tick(now=False)
            node.update(title=spec.title, handle=spec.title.lower().replace(" ", "-"),
                        createdAt=stamp, updatedAt=stamp)
            for variant, vspec in zip(node["variants"], spec.variants, strict=True):
                variant.update(title=vspec.title, sku=vspec.sku, price=vspec.price,
                               compareAtPrice=None, inventoryQuantity=vspec.stock or 0)
                variant["inventoryItem"]["tracked"] = vspec.stock is not None
            self.shop.products.append(node)
        for n, spec in enumerate(CUSTOMERS):
            node = shopify_catalogue.customer(n)
            stamp = self._tick(now=False)
            node.update(firstName=spec.first_name, lastName=spec.last_name, createdAt=stamp,
                        updatedAt=stamp)
            node["defaultEmailAddress"].update(
                emailAddress=spec.email, marketingUpdatedAt=stamp,
                marketingState="SUBSCRIBED" if spec.subscribed else "NOT_SUBSCRIBED")
            self.shop.customers.append(node)
        self.order_ids = [self.place_order(spec, now=False) for spec in ORDERS]

    def connect(self) -> Store:
        """The state right after an install: our store holds an expiring token the fake issued."""
        store = StoreFactory(platform=Store.Platform.SHOPIFY, domain=self.domain,
                             name=self.shop.name, status=Store.Status.INSTALLING)
        shopify_connect(self.fake, store)
        self.store = store
        return store

    # ids (what the domain rows carry as external_id)
    def product_id(self, p: int) -> str:
        return self.shop.products[p]["id"]

    def variant_id(self, p: int, v: int) -> str:
        return self.shop.products[p]["variants"][v]["id"]

    def customer_id(self, c: int) -> str:
        return self.shop.customers[c]["id"]

    def fake_order_total(self, order_id: str) -> Decimal:
        return Decimal(self._order(order_id)["totalPriceSet"]["shopMoney"]["amount"])

    def _order(self, order_id: str) -> dict:
        return next(o for o in self.shop.orders if o["id"] == order_id)

    # the merchant's side
    def place_order(self, spec: OrderSpec, *, now: bool = True) -> str:
        n, self._orders = self._orders, self._orders + 1
        customer = self.shop.customers[spec.customer]
        lines = []
        for i, (p, v, quantity) in enumerate(spec.lines):
            product = self.shop.products[p]
            variant = product["variants"][v]
            lines.append({
                "id": f"gid://shopify/LineItem/{(9000 + n) * 10 + i}", "title": product["title"],
                "quantity": quantity, "sku": variant["sku"],
                "originalUnitPriceSet": _money(variant["price"]), "totalDiscountSet": _money(0),
                "product": {"id": product["id"]}, "variant": {"id": variant["id"]},
            })
        subtotal = sum((Decimal(ln["originalUnitPriceSet"]["shopMoney"]["amount"]) * ln["quantity"]
                        for ln in lines), Decimal("0"))
        stamp = self._tick(now=now)
        self.shop.orders.append({
            "id": f"gid://shopify/Order/{9000 + n}", "name": f"#{1001 + n}",
            "email": customer["defaultEmailAddress"]["emailAddress"],
            "createdAt": stamp, "processedAt": stamp, "updatedAt": stamp, "cancelledAt": None,
            "currencyCode": "USD", "displayFinancialStatus": "PAID",
            "displayFulfillmentStatus": "UNFULFILLED", "sourceName": "web", "discountCodes": [],
            "customer": {"id": customer["id"]}, "subtotalPriceSet": _money(subtotal),
            "totalPriceSet": _money(subtotal + SHIPPING), "totalDiscountsSet": _money(0),
            "totalShippingPriceSet": _money(SHIPPING), "totalTaxSet": _money(0), "refunds": [],
            "lineItems": lines,
        })
        return f"gid://shopify/Order/{9000 + n}"

    def fulfil_order(self, order_id: str) -> None:
        self._order(order_id).update(displayFulfillmentStatus="FULFILLED", updatedAt=self._tick())

    def change_price(self, p: int, v: int, price: str) -> None:
        product = self.shop.products[p]
        product["variants"][v]["price"] = price
        product["updatedAt"] = self._tick()

    def rename_customer(self, c: int, first_name: str) -> None:
        self.shop.customers[c].update(firstName=first_name, updatedAt=self._tick())

    # webhooks (REST-shaped bodies, as Shopify sends them)
    def order_delivery(self, order_id: str, *, created: bool = False) -> Delivery:
        node = self._order(order_id)
        body = {
            "id": _num(node["id"]), "admin_graphql_api_id": node["id"], "name": node["name"],
            "email": node["email"], "contact_email": node["email"],
            "created_at": node["createdAt"], "processed_at": node["processedAt"],
            "updated_at": node["updatedAt"], "cancelled_at": node["cancelledAt"],
            "currency": node["currencyCode"],
            "financial_status": node["displayFinancialStatus"].lower(),
            "fulfillment_status": (None if node["displayFulfillmentStatus"] == "UNFULFILLED"
                                   else node["displayFulfillmentStatus"].lower()),
            "source_name": node["sourceName"], "discount_codes": [],
            "customer": {"id": _num(node["customer"]["id"]),
                         "admin_graphql_api_id": node["customer"]["id"], "email": node["email"]},
            "subtotal_price_set": _rest_money(node["subtotalPriceSet"]),
            "total_price_set": _rest_money(node["totalPriceSet"]),
            "total_discounts_set": _rest_money(node["totalDiscountsSet"]),
            "total_shipping_price_set": _rest_money(node["totalShippingPriceSet"]),
            "total_tax_set": _rest_money(node["totalTaxSet"]), "refunds": [],
            "line_items": [{
                "id": _num(ln["id"]), "admin_graphql_api_id": ln["id"], "title": ln["title"],
                "name": ln["title"], "quantity": ln["quantity"], "sku": ln["sku"],
                "price": ln["originalUnitPriceSet"]["shopMoney"]["amount"],
                "price_set": _rest_money(ln["originalUnitPriceSet"]),
                "total_discount_set": _rest_money(ln["totalDiscountSet"]),
                "discount_allocations": [], "product_id": _num(ln["product"]["id"]),
                "variant_id": _num(ln["variant"]["id"]),
            } for ln in node["lineItems"]],
        }
        topic = "orders/create" if created else "orders/updated"
        return Delivery(topic, json.dumps(body).encode(), str(uuid.uuid4()))

    def product_delivery(self, p: int, v: int) -> Delivery:
        node = self.shop.products[p]
        body = {
            "id": _num(node["id"]), "admin_graphql_api_id": node["id"], "title": node["title"],
            "updated_at": node["updatedAt"], "status": "active",
            "variants": [{"id": _num(x["id"]), "admin_graphql_api_id": x["id"], "price": x["price"],
                          "sku": x["sku"], "title": x["title"]} for x in node["variants"]],
        }
        return Delivery("products/update", json.dumps(body).encode(), str(uuid.uuid4()))

    def uninstall_delivery(self) -> Delivery | None:
        body = shopify_payload("app/uninstalled") | {"myshopify_domain": self.domain}
        return Delivery("app/uninstalled", json.dumps(body).encode(), str(uuid.uuid4()))

    def redeliver(self, delivery: Delivery) -> Delivery:
        """The same body again under a new webhook id (a replay, not a retry)."""
        return Delivery(delivery.topic, delivery.body, str(uuid.uuid4()))

    def post(self, client, delivery: Delivery):
        return shopify_post(client, topic=delivery.topic, shop=self.domain, body=delivery.body,
                            webhook_id=delivery.delivery_id)

    def close(self) -> None:
        self.fake.shops.pop(self.domain, None)


# -- WooCommerce ---------------------------------------------------------------------------------

class WooCommerceDriver:
    platform = "woocommerce"
    # WooCommerce core keeps no marketing consent: every customer arrives UNKNOWN (our own consent
    # record and suppression list govern sends; docs/woocommerce.md).
    has_consent = False
    # The product webhook body is the product (a variation's body updates that variation alone).
    product_webhook_refetches = False
    # No "app uninstalled" signal: the store is disconnected on our side (store_disconnect).
    has_uninstall_webhook = False
    # Known gap (docs/woocommerce.md, "Webhooks"): a variation-only change whose parent's
    # date_modified does not move is not listed by the hourly pull (products by modified_after).
    reconcile_sees_variant_only_changes = False

    def __init__(self, name: str) -> None:
        self.fake = FakeWooCommerce(name=f"Parity {name}", post_callbacks=False)
        self.fake.serve()
        self.fake.clock = _now() - timedelta(days=30)
        self.secret = f"whsec-parity-{name}"
        self.store: Store | None = None
        self._products: list[tuple[int, list[int]]] = []  # (product id, variation ids or [])
        self._customers: list[dict] = []

    def _advance(self) -> None:
        """Changes made after the seed happen now (the fake ticks a second per change)."""
        self.fake.clock = max(self.fake.clock, _now())

    # seeding and connecting
    def seed(self) -> None:
        for spec in CATALOGUE:
            if len(spec.variants) == 1:
                (vspec,) = spec.variants
                product = self.fake.add_product(name=spec.title, price=vspec.price,
                                                stock=vspec.stock, sku=vspec.sku)
                self._products.append((product["id"], []))
                continue
            product = self.fake.add_variable_product(
                name=spec.title, options=[(v.title, v.price, v.stock) for v in spec.variants])
            ids = list(product["variations"])
            for vid, vspec in zip(ids, spec.variants, strict=True):
                self.fake.variations[product["id"]][vid]["sku"] = vspec.sku
            self._products.append((product["id"], ids))
        self._customers = [self.fake.add_customer(email=c.email, first_name=c.first_name,
                                                  last_name=c.last_name) for c in CUSTOMERS]
        self.order_ids = [self.place_order(spec, now=False) for spec in ORDERS]

    def connect(self) -> Store:
        """The state right after the key-granting flow: keys, a webhook secret, the site row."""
        self.store = woo_store(self.fake, webhook_secret=self.secret)
        return self.store

    # ids
    def product_id(self, p: int) -> str:
        return str(self._products[p][0])

    def variant_id(self, p: int, v: int) -> str:
        pid, variations = self._products[p]
        return str(variations[v]) if variations else str(pid)

    def customer_id(self, c: int) -> str:
        return str(self._customers[c]["id"])

    def fake_order_total(self, order_id: str) -> Decimal:
        return Decimal(self.fake.orders[int(order_id)]["total"])

    # the merchant's side
    def place_order(self, spec: OrderSpec, *, now: bool = True) -> str:
        if now:
            self._advance()
        items = []
        for p, v, quantity in spec.lines:
            pid, variations = self._products[p]
            items.append((pid, variations[v] if variations else 0, quantity))
        subtotal = spec_subtotal(spec)
        order = self.fake.add_order(customer=self._customers[spec.customer], items=items,
                                    status="processing", shipping_total=f"{SHIPPING:.2f}",
                                    total=f"{subtotal + SHIPPING:.2f}")
        return str(order["id"])

    def fulfil_order(self, order_id: str) -> None:
        self._advance()
        self.fake.update("orders", int(order_id), status="completed")

    def change_price(self, p: int, v: int, price: str) -> None:
        self._advance()
        pid, variations = self._products[p]
        if variations:
            self.fake.update_variation(pid, variations[v], price=price, regular_price=price)
        else:
            self.fake.update("products", pid, price=price, regular_price=price)

    def rename_customer(self, c: int, first_name: str) -> None:
        self._advance()
        self.fake.update("customers", self._customers[c]["id"], first_name=first_name)

    # webhooks (what the fake would POST to the delivery URL we registered)
    def _delivery(self, topic: str, *, record_id: int | None = None,
                  body: dict | None = None) -> Delivery:
        deliveries = self.fake.deliveries(topic, body, record_id=record_id)
        assert len(deliveries) == 1, f"expected one registered {topic} webhook, got {deliveries}"
        (sent,) = deliveries
        assert urlsplit(sent.url).path == f"/webhooks/woocommerce/{self.store.pk}/"
        return Delivery(topic, sent.body, sent.headers["X-WC-Webhook-Delivery-ID"],
                        sent.headers["X-WC-Webhook-Signature"])

    def order_delivery(self, order_id: str, *, created: bool = False) -> Delivery:
        return self._delivery("order.created" if created else "order.updated",
                              record_id=int(order_id))

    def product_delivery(self, p: int, v: int) -> Delivery:
        pid, variations = self._products[p]
        return self._delivery("product.updated", record_id=variations[v] if variations else pid)

    def uninstall_delivery(self) -> Delivery | None:
        return None

    def redeliver(self, delivery: Delivery) -> Delivery:
        """The same body again under a new delivery id (a replay, not a retry)."""
        return self._delivery(delivery.topic, body=json.loads(delivery.body))

    def post(self, client, delivery: Delivery):
        return woo_post(client, self.store, delivery.body, topic=delivery.topic, secret=None,
                        delivery_id=delivery.delivery_id,
                        HTTP_X_WC_WEBHOOK_SIGNATURE=delivery.signature)

    def close(self) -> None:
        self.fake.shutdown()


Driver = ShopifyDriver | WooCommerceDriver


@dataclass
class Fakes:
    """The loopback servers behind the drivers: one Shopify fake serving every shop (as in the
    Shopify suite), one WooCommerce fake per store (as in the WooCommerce suite)."""

    shopify: FakeShopifyServer = field(
        default_factory=lambda: FakeShopifyServer(FakeShopify(api_key=API_KEY, api_secret=SECRET)))

    def start(self) -> Fakes:
        self.shopify.start()
        return self

    def stop(self) -> None:
        self.shopify.stop()

    def configure(self, settings) -> None:
        """Point both platforms at their fakes (the settings of both suites' fixtures)."""
        settings.XSELL_ALLOW_LOOPBACK_HTTP = True
        settings.XSELL_PUBLIC_URL = "http://testserver"
        settings.XSELL_SHOPIFY_ADMIN_BASE_URL = self.shopify.url
        settings.XSELL_SHOPIFY_API_KEY = API_KEY
        settings.XSELL_SHOPIFY_API_SECRET = SECRET
        settings.XSELL_SHOPIFY_OLD_API_SECRET = ""
        settings.XSELL_SHOPIFY_BULK_POLL_SECONDS = 0.01
        settings.XSELL_WOOCOMMERCE_RETRY_BACKOFF = 0.01
        settings.XSELL_WOOCOMMERCE_MAX_RETRY_SLEEP = 3.0
        settings.XSELL_WOOCOMMERCE_ATTEMPTS = 3
        settings.XSELL_WOOCOMMERCE_CONSENT_META_KEY = ""

    def driver(self, platform: str, name: str) -> Driver:
        if platform == "shopify":
            return ShopifyDriver(self.shopify.fake, name)
        if platform == "woocommerce":
            return WooCommerceDriver(name)
        raise ValueError(f"no driver for {platform!r}")
