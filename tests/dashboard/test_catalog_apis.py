"""Products and customers for the admin's pickers, and the merchant's recommendation rules and
per-product overrides, checked through the real recommendation path."""

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.recommendations.conftest import NOW, customer, order, product, shop_with_orders
from xsell_plugin.catalog.models import Product, Variant
from xsell_plugin.recommendations import selectors, services
from xsell_plugin.recommendations.context import Mode
from xsell_plugin.recommendations.models import ProductOverride, ProductTypeRule

pytestmark = pytest.mark.django_db
JSON = "application/json"


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    selectors.model_cache_clear()
    yield
    selectors.model_cache_clear()


def fields(response) -> dict:
    body = response.json()
    assert set(body) == {"code", "message", "extra"}, body
    return body["extra"].get("fields", {})


def test_products_for_the_pickers(api, store, other_store):
    tent = product(store, "tent", title="Trail Tent", product_type="Tent", price="100.00", cost="40.00",
                   image_url="https://cdn.example/tent.jpg")
    Variant.objects.create(store=store, product=tent, external_id="tent-xl", sku="TENT-XL",
                           price=Decimal("140.00"), cost=Decimal("60.00"), inventory_quantity=3)
    product(store, "mat", title="Sleeping Mat", product_type="Mat", price="30.00", quantity=0)
    product(store, "old", title="Old Tent", product_type="Tent", price="80.00", status="archived")
    product(store, "gone", title="Gone Tent", product_type="Tent", status="deleted")
    Product.objects.create(store=store, external_id="novariant", title="No variant yet")
    product(other_store, "theirs", title="Their Tent", product_type="Tent")

    page = api.get("/api/v1/products").json()
    assert page["count"] == 4  # deleted products are left out unless asked for
    by_ext = {p["external_id"]: p for p in page["results"]}
    assert "theirs" not in by_ext and "gone" not in by_ext
    t = by_ext["tent"]
    assert (t["title"], t["product_type"], t["price"], t["cost"], t["inventory"], t["in_stock"]) == (
        "Trail Tent", "Tent", "100.00", "40.00", 13, True)
    assert t["image_url"] == "https://cdn.example/tent.jpg" and t["variant_count"] == 2
    assert by_ext["mat"]["in_stock"] is False and by_ext["mat"]["inventory"] == 0
    assert by_ext["novariant"]["price"] is None and by_ext["novariant"]["in_stock"] is False

    def ext(query):
        return sorted(p["external_id"] for p in api.get(f"/api/v1/products?{query}").json()["results"])

    assert ext("search=tent") == ["old", "tent"]
    assert ext("search=TENT-XL") == ["tent"]  # by SKU
    assert ext("in_stock=true") == ["tent"]
    assert ext("in_stock=false") == ["mat", "novariant", "old"]
    assert ext("product_type=tent") == ["old", "tent"]
    assert ext("status=deleted") == ["gone"]
    assert ext("search=tent&in_stock=true&product_type=Tent") == ["tent"]
    limited = api.get("/api/v1/products?limit=2").json()
    assert len(limited["results"]) == 2 and limited["next"] is not None
    assert api.get("/api/v1/products?status=nope").status_code == 400


def test_customers_for_the_preview_picker(api, store, other_store):
    tent = product(store, "tent")
    ada = customer(store, "ada")
    ada.first_name, ada.last_name = "Ada", "Lovelace"
    ada.save()
    grace = customer(store, "grace")
    order(store, ada, "o1", [tent], days_ago=20)
    order(store, ada, "o2", [tent], days_ago=10)
    order(store, grace, "o3", [tent], days_ago=1)
    customer(store, "browser")
    customer(other_store, "ada-elsewhere")

    page = api.get("/api/v1/customers").json()
    assert page["count"] == 3
    assert [c["external_id"] for c in page["results"]] == ["grace", "ada", "browser"]  # latest buyer first
    first = page["results"][1]
    assert (first["email"], first["first_name"], first["last_name"], first["orders_count"]) == (
        "ada@example.com", "Ada", "Lovelace", 2)
    assert set(first) >= {"id", "email", "first_name", "last_name", "orders_count"}
    def found(search):
        return [c["external_id"] for c in api.get(f"/api/v1/customers?search={search}").json()["results"]]

    assert found("lovelace") == ["ada"]
    assert found("grace@") == ["grace"]
    assert api.get("/api/v1/customers?search=elsewhere").json()["count"] == 0


def test_product_type_rules_round_trip_and_the_engine_reads_them(api, store):
    shop = shop_with_orders(store)
    big = product(store, "a-tent2", title="Big Tent", product_type="Tent", price="150.00", cost="50.00")
    services.recs_model_refresh(store=store, now=NOW)
    owner = shop["customers"][0]

    def upsell():
        return [r.key for r in selectors.customer_recommendations(
            store=store, customer_id=owner.pk, now=NOW, trigger_product_ids=[shop["tent"].pk],
            mode=Mode.UPSELL, limit=5)]

    created = api.post("/api/v1/recommendations/rules", {"product_type": "Tent", "durable": True},
                       content_type=JSON)
    assert created.status_code == 201, created.json()
    rule = created.json()
    assert (rule["product_type"], rule["durable"]) == ("Tent", True)
    assert big.pk not in upsell()  # an owner of a durable type is not sold another
    changed = api.patch(f"/api/v1/recommendations/rules/{rule['id']}", {"durable": False}, content_type=JSON)
    assert changed.status_code == 200 and changed.json()["durable"] is False
    assert big.pk in upsell()
    assert api.get("/api/v1/recommendations/rules").json()["count"] == 1
    assert api.get("/api/v1/recommendations/rules?durable=false").json()["count"] == 1

    dup = api.post("/api/v1/recommendations/rules", {"product_type": "Tent", "durable": None},
                   content_type=JSON)
    assert dup.status_code == 400 and "product_type" in fields(dup)
    assert "product_type" in fields(api.post("/api/v1/recommendations/rules",
                                             {"product_type": " ", "durable": True}, content_type=JSON))
    unsure = api.post("/api/v1/recommendations/rules", {"product_type": "Stove", "durable": None},
                      content_type=JSON)
    assert unsure.status_code == 201 and unsure.json()["durable"] is None
    assert api.delete(f"/api/v1/recommendations/rules/{rule['id']}").status_code == 204
    assert not ProductTypeRule.objects.filter(product_type="Tent").exists()


def test_overrides_change_real_recommendations(api, store):
    shop = shop_with_orders(store)
    services.recs_model_refresh(store=store, now=NOW)
    tent, bag, stove = shop["tent"], shop["bag"], shop["stove"]
    buyer = customer(store, "new-buyer")
    order(store, buyer, "just-now", [tent], days_ago=0)

    def recs(limit=2):
        return [r.key for r in selectors.customer_recommendations(
            store=store, customer_id=buyer.pk, now=NOW + timedelta(hours=1),
            trigger_product_ids=[tent.pk], limit=limit)]

    assert recs()[0] == bag.pk  # bought together 6 times

    pin = api.post("/api/v1/recommendations/overrides",
                   {"product_id": tent.pk, "recommended_product_id": stove.pk, "action": "pin"},
                   content_type=JSON)
    assert pin.status_code == 201, pin.json()
    titles = (pin.json()["product_title"], pin.json()["recommended_product_title"])
    assert titles == ("Trail Tent", "Camp Stove")
    picks = selectors.customer_recommendations(store=store, customer_id=buyer.pk,
                                               now=NOW + timedelta(hours=1),
                                               trigger_product_ids=[tent.pk], limit=2)
    assert [p.key for p in picks] == [stove.pk, bag.pk]
    assert picks[0].reason.code == "pinned" and picks[0].reason.text == "Picked by the store"

    # a pinned product that cannot be bought is not shown
    stove.variants.update(inventory_quantity=0)
    assert stove.pk not in recs()
    stove.variants.update(inventory_quantity=10)

    exclude = api.post("/api/v1/recommendations/overrides",
                       {"product_id": tent.pk, "recommended_product_id": bag.pk, "action": "exclude"},
                       content_type=JSON)
    assert exclude.status_code == 201
    assert bag.pk not in recs(limit=5)

    # the same pair again changes its action (200), never a second row
    flipped = api.post("/api/v1/recommendations/overrides",
                       {"product_id": tent.pk, "recommended_product_id": bag.pk, "action": "pin"},
                       content_type=JSON)
    assert flipped.status_code == 200 and flipped.json()["id"] == exclude.json()["id"]
    assert recs() == [stove.pk, bag.pk]
    listed = api.get(f"/api/v1/recommendations/overrides?product_id={tent.pk}").json()
    assert listed["count"] == 2
    assert api.get("/api/v1/recommendations/overrides?action=exclude").json()["count"] == 0

    assert api.delete(f"/api/v1/recommendations/overrides/{pin.json()['id']}").status_code == 204
    assert recs()[0] == bag.pk
    # overrides of another product leave this one alone
    ProductOverride.objects.create(store=store, product=stove, recommended_product=bag, action="exclude")
    assert bag.pk in recs()


def test_override_validation_and_tenancy(api, other_api, store, other_store):
    tent = product(store, "tent")
    lamp = product(store, "lamp")
    theirs = product(other_store, "theirs")

    def post(client=api, **body):
        return client.post("/api/v1/recommendations/overrides",
                           {"product_id": tent.pk, "recommended_product_id": lamp.pk, "action": "pin",
                            **body},
                           content_type=JSON)

    assert "recommended_product_id" in fields(post(recommended_product_id=tent.pk))
    assert "recommended_product_id" in fields(post(recommended_product_id=theirs.pk))
    assert "product_id" in fields(post(product_id=theirs.pk))
    assert "action" in fields(post(action="boost"))
    assert "product_id" in fields(post(client=other_api))  # the first store's products are unknown there
    made = post().json()["id"]
    rule = ProductTypeRule.objects.create(store=store, product_type="Tent", durable=True)
    for method, url in [("get", f"/api/v1/recommendations/overrides/{made}"),
                        ("delete", f"/api/v1/recommendations/overrides/{made}"),
                        ("get", f"/api/v1/recommendations/rules/{rule.pk}"),
                        ("patch", f"/api/v1/recommendations/rules/{rule.pk}"),
                        ("delete", f"/api/v1/recommendations/rules/{rule.pk}")]:
        response = getattr(other_api, method)(url, {"durable": False}, content_type=JSON)
        assert response.status_code == 404, (method, url)
        assert set(response.json()) == {"code", "message", "extra"}
    assert other_api.get("/api/v1/recommendations/overrides").json()["count"] == 0
    assert other_api.get("/api/v1/recommendations/rules").json()["count"] == 0
    assert other_api.get("/api/v1/products").json()["count"] == 1
    assert ProductOverride.objects.filter(pk=made).exists()
    assert ProductTypeRule.objects.get(pk=rule.pk).durable
