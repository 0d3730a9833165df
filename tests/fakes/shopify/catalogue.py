"""A seeded, deterministic shop in GraphQL Admin API shape (what our queries select): products
with variants and collections, customers with email-marketing consent, orders with line items."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

_ADJECTIVES = ["Classic", "Trail", "Everyday", "Organic", "Merino", "Canvas", "Alpine", "Studio"]
_NOUNS = [("Backpack", "Bags"), ("Water Bottle", "Outdoor"), ("Beanie", "Apparel"),
          ("Socks", "Apparel"), ("Headlamp", "Outdoor"), ("Notebook", "Stationery"),
          ("Mug", "Kitchen"), ("Tote", "Bags"), ("Rain Jacket", "Apparel"), ("Tent", "Outdoor")]
_FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim"]
_LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
_CONSENT = ["SUBSCRIBED", "SUBSCRIBED", "NOT_SUBSCRIBED", "UNSUBSCRIBED", "PENDING"]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def money(amount: float) -> dict:
    return {"shopMoney": {"amount": f"{amount:.2f}", "currencyCode": "USD"}}


def collections() -> list[dict]:
    names = sorted({group for _, group in _NOUNS})
    return [{"id": f"gid://shopify/Collection/{500 + i}", "title": name, "handle": name.lower()}
            for i, name in enumerate(names)]


def product(n: int, shop: str, *, variants: int = 2, updated_at: datetime | None = None,
            rng: random.Random | None = None) -> dict:
    rng = rng or random.Random(n)
    noun, group = _NOUNS[n % len(_NOUNS)]
    title = f"{_ADJECTIVES[n % len(_ADJECTIVES)]} {noun} {n}"
    handle = title.lower().replace(" ", "-")
    price = 10 + (n % 17) * 5
    created = T0 - timedelta(days=30) + timedelta(minutes=n)
    by_title = {c["title"]: c for c in collections()}
    return {
        "id": f"gid://shopify/Product/{1000 + n}", "title": title, "handle": handle,
        "vendor": "Fake Outfitters", "productType": group, "tags": [group.lower(), "seeded"],
        "status": "ACTIVE", "description": f"The {title.lower()}.",
        "onlineStoreUrl": f"https://{shop}/products/{handle}",
        "createdAt": iso(created), "updatedAt": iso(updated_at or created + timedelta(days=1)),
        "featuredMedia": {"preview": {"image": {"url": f"https://cdn.example/{handle}.jpg"}}},
        "variants": [
            {
                "id": f"gid://shopify/ProductVariant/{(1000 + n) * 10 + v}",
                "title": ["Small", "Medium", "Large", "XL"][v % 4] if variants > 1 else "Default Title",
                "sku": f"FAKE-{n}-{v}", "price": f"{price + v * 2:.2f}",
                "compareAtPrice": f"{price + 10:.2f}" if n % 5 == 0 else None,
                "position": v + 1, "inventoryQuantity": rng.randint(0, 40),
                "inventoryPolicy": "DENY",
                "inventoryItem": {"id": f"gid://shopify/InventoryItem/{(1000 + n) * 10 + v}",
                                  "tracked": True,
                                  "unitCost": {"amount": f"{price * 0.45:.2f}"}},
            }
            for v in range(variants)
        ],
        "collections": [by_title[group]],
    }


def customer(n: int, *, updated_at: datetime | None = None) -> dict:
    created = T0 - timedelta(days=60) + timedelta(hours=n)
    first, last = _FIRST[n % len(_FIRST)], _LAST[n % len(_LAST)]
    return {
        "id": f"gid://shopify/Customer/{7000 + n}", "firstName": first, "lastName": last,
        "tags": ["seeded"], "createdAt": iso(created),
        "updatedAt": iso(updated_at or created + timedelta(days=2)),
        "defaultEmailAddress": {
            "emailAddress": f"{first}.{last}.{n}@example.com".lower(),
            "marketingState": _CONSENT[n % len(_CONSENT)],
            "marketingOptInLevel": "SINGLE_OPT_IN",
            "marketingUpdatedAt": iso(created + timedelta(hours=1)),
        },
    }


def order(n: int, products: list[dict], customers: list[dict], *, rng: random.Random) -> dict:
    placed = T0 - timedelta(days=20) + timedelta(hours=n * 3)
    buyer = customers[rng.randrange(len(customers))] if customers else None
    lines = []
    for i in range(rng.randint(1, 3)):
        item = products[rng.randrange(len(products))]
        variant = item["variants"][rng.randrange(len(item["variants"]))]
        quantity = rng.randint(1, 2)
        lines.append({
            "id": f"gid://shopify/LineItem/{(9000 + n) * 10 + i}", "title": item["title"],
            "quantity": quantity, "sku": variant["sku"],
            "originalUnitPriceSet": money(float(variant["price"])),
            "totalDiscountSet": money(0), "product": {"id": item["id"]},
            "variant": {"id": variant["id"]},
        })
    subtotal = sum(float(ln["originalUnitPriceSet"]["shopMoney"]["amount"]) * ln["quantity"] for ln in lines)
    return {
        "id": f"gid://shopify/Order/{9000 + n}", "name": f"#{1001 + n}",
        "email": (buyer or {}).get("defaultEmailAddress", {}).get("emailAddress", ""),
        "createdAt": iso(placed), "processedAt": iso(placed), "updatedAt": iso(placed + timedelta(hours=1)),
        "cancelledAt": None, "currencyCode": "USD", "displayFinancialStatus": "PAID",
        "displayFulfillmentStatus": "FULFILLED", "sourceName": "web", "discountCodes": [],
        "customer": {"id": buyer["id"]} if buyer else None,
        "subtotalPriceSet": money(subtotal), "totalPriceSet": money(subtotal + 5),
        "totalDiscountsSet": money(0), "totalShippingPriceSet": money(5), "totalTaxSet": money(0),
        "refunds": [], "lineItems": lines,
    }


def seed(shop, *, products: int = 40, customers: int = 15, orders: int = 30, seed: int = 7,
         variants: int = 2) -> None:
    """Fill a fake shop (``tests.fakes.shopify.server.Shop``) with a catalogue and history."""
    rng = random.Random(seed)
    shop.products = [product(n, shop.domain, variants=variants, rng=rng) for n in range(products)]
    shop.customers = [customer(n) for n in range(customers)]
    shop.orders = ([order(n, shop.products, shop.customers, rng=rng) for n in range(orders)]
                   if products else [])
