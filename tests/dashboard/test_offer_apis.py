"""Bundles and incentives through the admin API: the quote's money checked by hand, bundles the
store could not honour refused (stock, margin floor), round trips, field-named errors, the
incentive margin preview, and another store's 404s."""

from decimal import Decimal

import pytest
from django.utils import timezone

from tests.offers.conftest import priced
from tests.recommendations.conftest import customer, order
from xsell_plugin.offers.models import Bundle, BundleItem, Incentive, IssuedCode

pytestmark = pytest.mark.django_db
JSON = "application/json"


def fields(response) -> dict:
    body = response.json()
    assert set(body) == {"code", "message", "extra"}, body
    return body["extra"].get("fields", {})


@pytest.fixture
def camp(store):
    return {
        "core": priced(store, "core", price="100.00", cost="40.00"),
        "a": priced(store, "a", price="40.00", cost="10.00"),
        "b": priced(store, "b", price="9.99", cost="3.00"),
    }


def bundle_body(camp, **changes):
    return {"name": "Camp set", "kind": "fixed", "percent_off": "10",
            "core_product_id": camp["core"].pk, "addon_product_ids": [camp["a"].pk, camp["b"].pk],
            **changes}


def test_quote_math_by_hand(api, store, camp):
    # 100.00 + 40.00 + 9.99 = 149.99; 10 % = 14.999 -> 15.00 off; 134.99 to pay.
    quote = api.post("/api/v1/bundles/quote", bundle_body(camp), content_type=JSON)
    assert quote.status_code == 200, quote.json()
    q = quote.json()
    assert (q["currency"], q["total"], q["discounted_total"], q["saving"], q["saving_percent"]) == (
        "USD", "149.99", "134.99", "15.00", "10.0")
    # cost 40 + 10 + 3 = 53; margin (134.99 - 53) / 134.99 = 0.6074
    assert (q["cost_total"], q["margin"], q["margin_ok"], q["in_stock"]) == ("53.00", "0.6074", True, True)
    assert q["margin_floor"] == "0.200"
    # the saving is spread by regular amount, cents rounded down, the remainder on the dearest line
    lines = {line["product_id"]: line for line in q["lines"]}
    assert [lines[camp[k].pk]["saving"] for k in ("core", "a", "b")] == ["10.01", "4.00", "0.99"]
    assert [lines[camp[k].pk]["discounted_line_total"] for k in ("core", "a", "b")] == [
        "89.99", "36.00", "9.00"]
    assert not Bundle.objects.exists()  # a quote saves nothing

    # an adjustable bundle, 12.00 off with any one add-on or more: the weakest choice is core + b
    # (100 + 20 - 12 = 108 for a cost of 45: margin 0.5833)
    b20 = priced(store, "b20", price="20.00", cost="5.00")
    adjustable = api.post("/api/v1/bundles/quote", bundle_body(
        camp, kind="adjustable", percent_off=None, amount_off="12.00", min_addons=1,
        addon_product_ids=[camp["a"].pk, b20.pk]), content_type=JSON).json()
    assert (adjustable["total"], adjustable["discounted_total"], adjustable["saving"]) == (
        "160.00", "148.00", "12.00")
    assert adjustable["worst_margin"] == "0.5833" and adjustable["margin_ok"] is True


def test_bundle_round_trip(api, store, camp):
    created = api.post("/api/v1/bundles", bundle_body(camp), content_type=JSON)
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "active" and body["core_product_id"] == camp["core"].pk
    assert body["addon_product_ids"] == [camp["a"].pk, camp["b"].pk]
    assert [(i["product_id"], i["role"], i["quantity"], i["price"]) for i in body["items"]] == [
        (camp["core"].pk, "core", 1, "100.00"), (camp["a"].pk, "addon", 1, "40.00"),
        (camp["b"].pk, "addon", 1, "9.99")]
    assert body["items"][0]["title"] == "Product core" and body["quote"]["discounted_total"] == "134.99"
    pk = body["id"]

    c = priced(store, "c", price="20.00", cost="5.00")
    changed = api.patch(f"/api/v1/bundles/{pk}",
                        {"amount_off": "5.00", "addon_product_ids": [camp["a"].pk, c.pk]},
                        content_type=JSON)
    assert changed.status_code == 200, changed.json()
    assert changed.json()["percent_off"] is None and changed.json()["amount_off"] == "5.00"
    assert changed.json()["addon_product_ids"] == [camp["a"].pk, c.pk]
    assert changed.json()["quote"]["discounted_total"] == "155.00"  # 100 + 40 + 20 - 5
    assert BundleItem.objects.filter(bundle_id=pk).count() == 3

    paused = api.patch(f"/api/v1/bundles/{pk}", {"status": "paused"}, content_type=JSON)
    assert paused.json()["status"] == "paused"
    assert Bundle.objects.get(pk=pk).paused_at is not None
    assert api.get("/api/v1/bundles?status=paused").json()["count"] == 1
    listed = api.get("/api/v1/bundles").json()
    assert listed["count"] == 1 and listed["results"][0]["quote"]["total"] == "160.00"

    assert api.delete(f"/api/v1/bundles/{pk}").status_code == 204
    assert api.get(f"/api/v1/bundles/{pk}").status_code == 404
    assert not BundleItem.objects.exists()


def test_bundles_the_store_could_not_honour_are_refused(api, store, camp):
    gone = priced(store, "gone", price="30.00", cost="10.00", quantity=0)
    out = api.post("/api/v1/bundles", bundle_body(camp, addon_product_ids=[camp["a"].pk, gone.pk]),
                   content_type=JSON)
    assert out.status_code == 400 and out.json()["code"] == "out_of_stock"
    assert "addon_product_ids" in fields(out) and out.json()["extra"]["products"] == [gone.pk]

    dear = priced(store, "dear", price="100.00", cost="70.00")
    dear_addon = priced(store, "dear-addon", price="50.00", cost="35.00")
    # 150 - 20 % = 120 for a cost of 105: margin 0.125, below the 0.200 floor
    thin = bundle_body(camp, core_product_id=dear.pk, addon_product_ids=[dear_addon.pk], percent_off="20")
    refused = api.post("/api/v1/bundles", thin, content_type=JSON)
    assert refused.status_code == 400 and refused.json()["code"] == "margin_floor_breached"
    assert "percent_off" in fields(refused) and refused.json()["extra"]["margin"] == "0.1250"
    quote = api.post("/api/v1/bundles/quote", thin, content_type=JSON).json()
    assert quote["margin_ok"] is False and quote["discounted_total"] == "120.00"  # a flag, not an error
    assert api.post("/api/v1/bundles", {**thin, "percent_off": "5"}, content_type=JSON).status_code == 201

    no_cost = priced(store, "no-cost", price="10.00", cost=None)
    unknown = api.post("/api/v1/bundles", bundle_body(camp, name="Unknown", addon_product_ids=[no_cost.pk]),
                       content_type=JSON)
    assert unknown.status_code == 400 and "cost" in unknown.json()["message"]
    no_discount = bundle_body(camp, name="Plain", percent_off=None, addon_product_ids=[no_cost.pk])
    assert api.post("/api/v1/bundles", no_discount, content_type=JSON).status_code == 201
    assert Bundle.objects.for_store(store).count() == 2


def test_an_item_going_out_of_stock_never_locks_the_merchant_out(api, store, camp):
    pk = api.post("/api/v1/bundles", bundle_body(camp), content_type=JSON).json()["id"]
    camp["a"].variants.update(inventory_quantity=0)
    shown = api.get(f"/api/v1/bundles/{pk}").json()
    assert shown["quote"]["in_stock"] is False
    assert shown["quote"]["out_of_stock_product_ids"] == [camp["a"].pk]
    assert api.patch(f"/api/v1/bundles/{pk}", {"status": "paused", "name": "Later"},
                     content_type=JSON).status_code == 200
    back = api.patch(f"/api/v1/bundles/{pk}", {"status": "active"}, content_type=JSON)
    assert back.status_code == 400 and back.json()["code"] == "out_of_stock"
    assert Bundle.objects.get(pk=pk).status == "paused"


def test_bundle_validation_errors_name_the_field(api, store, other_store, camp):
    theirs = priced(other_store, "theirs", price="10.00", cost="1.00")

    def post(**changes):
        return api.post("/api/v1/bundles", bundle_body(camp, **changes), content_type=JSON)

    assert "addon_product_ids" in fields(post(addon_product_ids=[theirs.pk]))
    assert "core_product_id" in fields(post(core_product_id=theirs.pk))
    assert "addon_product_ids" in fields(post(addon_product_ids=[]))
    assert "addon_product_ids" in fields(post(addon_product_ids=[camp["core"].pk]))
    assert "amount_off" in fields(post(amount_off="5.00"))  # and percent_off: both
    assert "percent_off" in fields(post(percent_off="120"))
    assert "min_addons" in fields(post(kind="adjustable", min_addons=3))
    assert "kind" in fields(post(kind="mystery"))
    assert "name" in fields(post(name=""))
    assert "colour" in fields(post(colour="red"))
    assert post().status_code == 201
    assert "name" in fields(post())  # taken
    assert "core_product_id" in fields(api.post("/api/v1/bundles/quote", bundle_body(
        camp, core_product_id=theirs.pk), content_type=JSON))


def test_incentive_round_trip(api, store, camp):
    created = api.post("/api/v1/incentives", {
        "name": "Fifteen off", "kind": "percent_off", "percent_off": "15", "level": 1,
        "segments": ["repeat", "vip"], "code_prefix": "CAMP", "code_valid_hours": 48,
        "per_customer_cap": 1, "per_store_daily_cap": 100}, content_type=JSON)
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["kind"], body["percent_off"], body["level"], body["segments"], body["status"]) == (
        "percent_off", "15.00", 1, ["repeat", "vip"], "active")
    assert body["issuable"] is True and body["codes_issued"] == 0
    pk = body["id"]

    changed = api.patch(f"/api/v1/incentives/{pk}", {"kind": "amount_off", "amount_off": "7.50"},
                        content_type=JSON)
    assert changed.status_code == 200, changed.json()
    assert changed.json()["percent_off"] is None and changed.json()["amount_off"] == "7.50"
    paused = api.patch(f"/api/v1/incentives/{pk}", {"status": "paused"}, content_type=JSON).json()
    assert paused["status"] == "paused" and paused["paused_at"] is not None
    addon = api.post("/api/v1/incentives", {"name": "Free mug", "kind": "free_addon",
                                            "addon_product_id": camp["b"].pk}, content_type=JSON)
    assert addon.status_code == 201 and addon.json()["addon_product_id"] == camp["b"].pk
    assert addon.json()["addon_product_title"] == camp["b"].title
    ship = api.post("/api/v1/incentives", {"name": "Ship", "kind": "free_shipping"}, content_type=JSON)
    assert ship.json()["issuable"] is True  # free-shipping codes are issued on both platforms
    assert api.get("/api/v1/incentives?kind=free_addon").json()["count"] == 1
    assert api.get("/api/v1/incentives").json()["count"] == 3

    assert api.delete(f"/api/v1/incentives/{pk}").status_code == 204
    assert not Incentive.objects.filter(pk=pk).exists()
    # one that issued a code stays (its codes point at it): 409, pause it instead
    used = Incentive.objects.get(name="Free mug")
    IssuedCode.objects.create(store=store, incentive=used, recipient="a@example.com", offer_key="k",
                              code="XS-1", ends_at=timezone.now())
    kept = api.delete(f"/api/v1/incentives/{used.pk}")
    assert kept.status_code == 409 and kept.json()["extra"]["codes"] == 1
    assert api.get(f"/api/v1/incentives/{used.pk}").json()["codes_issued"] == 1


def test_incentive_validation_errors_name_the_field(api, store, other_store, camp):
    theirs = priced(other_store, "theirs", price="10.00", cost="1.00")

    def post(**body):
        return api.post("/api/v1/incentives", {"name": "X", "kind": "percent_off", "percent_off": "10",
                                               **body}, content_type=JSON)

    assert "percent_off" in fields(post(percent_off=None))
    assert "amount_off" in fields(post(kind="amount_off"))
    assert "amount_off" in fields(post(kind="loyalty_credit", amount_off="0"))
    assert "addon_product_id" in fields(post(kind="free_addon", addon_product_id=theirs.pk))
    assert "addon_product_id" in fields(post(kind="free_addon"))
    assert "segments" in fields(post(segments=["frequent"]))
    assert "ends_at" in fields(post(starts_at="2026-05-02T00:00:00Z", ends_at="2026-05-01T00:00:00Z"))
    assert "code_prefix" in fields(post(code_prefix="NO-DASH"))
    assert "status" in fields(post(status="flagged"))
    assert "level" in fields(post(level=11))
    assert post().status_code == 201
    assert "name" in fields(post())


def test_incentive_margin_preview(api, store, camp):
    item = priced(store, "item", price="100.00", cost="60.00")
    bare = priced(store, "bare", price="50.00", cost=None)
    body = {"kind": "percent_off", "percent_off": "10", "product_ids": [item.pk, bare.pk]}
    ten = api.post("/api/v1/incentives/preview", body, content_type=JSON)
    assert ten.status_code == 200, ten.json()
    ten = ten.json()
    assert (ten["margin_floor"], ten["count"], ten["breaking"], ten["currency"]) == ("0.200", 2, 1, "USD")
    row = ten["products"][0]
    # 100 - 10 % = 90; margin 40 % before, (90 - 60) / 90 = 33.33 % after
    assert (row["price"], row["cost"], row["discounted_price"], row["margin_before"], row["margin_after"],
            row["breaks_floor"]) == ("100.00", "60.00", "90.00", "0.4000", "0.3333", False)
    # the most that keeps the 20 % floor: 1 - 60 / (100 x 0.8) = 25 %, or 100 - 60 / 0.8 = 25.00
    assert (row["max_percent_off"], row["max_amount_off"]) == ("25.00", "25.00")
    assert ten["products"][1]["breaks_floor"] is True and ten["products"][1]["reason"] == "no_cost"

    thirty = api.post("/api/v1/incentives/preview", {**body, "percent_off": "30"}, content_type=JSON).json()
    # 70 for a cost of 60: 14.29 %
    worse = thirty["products"][0]
    assert (worse["margin_after"], worse["reason"]) == ("0.1429", "below_floor")

    addon = api.post("/api/v1/incentives/preview", {"kind": "free_addon", "addon_product_id": camp["a"].pk,
                                                    "product_ids": [item.pk]}, content_type=JSON).json()
    # the item's 100 pays both costs (60 + 10): 30 %
    assert addon["products"][0]["margin_after"] == "0.3000" and addon["breaking"] == 0

    saved = Incentive.objects.create(store=store, name="Big", kind="amount_off", amount_off=Decimal("45"))
    by_id = api.post("/api/v1/incentives/preview", {"incentive_id": saved.pk, "product_ids": [item.pk]},
                     content_type=JSON).json()
    assert by_id["kind"] == "amount_off" and by_id["products"][0]["discounted_price"] == "55.00"
    assert by_id["breaking"] == 1

    # no product ids: a sample of what the store sells that can be bought, best sellers first
    priced(store, "empty", price="10.00", cost="1.00", quantity=0)
    buyer = customer(store, "buyer")
    order(store, buyer, "o1", [item])
    sample = api.post("/api/v1/incentives/preview", {"kind": "percent_off", "percent_off": "10", "limit": 3},
                      content_type=JSON).json()
    assert sample["count"] == 3 and sample["products"][0]["product_id"] == item.pk
    assert "empty" not in [p["external_id"] for p in sample["products"]]

    assert "percent_off" in fields(api.post("/api/v1/incentives/preview", {"kind": "percent_off"},
                                            content_type=JSON))
    assert "kind" in fields(api.post("/api/v1/incentives/preview", {}, content_type=JSON))


def test_another_stores_offers_are_404(api, other_api, store, camp):
    bundle = api.post("/api/v1/bundles", bundle_body(camp), content_type=JSON).json()["id"]
    incentive = api.post("/api/v1/incentives", {"name": "Ten", "kind": "percent_off", "percent_off": "10"},
                         content_type=JSON).json()["id"]
    for method, url in [("get", f"/api/v1/bundles/{bundle}"), ("patch", f"/api/v1/bundles/{bundle}"),
                        ("delete", f"/api/v1/bundles/{bundle}"), ("get", f"/api/v1/incentives/{incentive}"),
                        ("patch", f"/api/v1/incentives/{incentive}"),
                        ("delete", f"/api/v1/incentives/{incentive}")]:
        response = getattr(other_api, method)(url, {"name": "Mine"}, content_type=JSON)
        assert response.status_code == 404, (method, url)
        assert set(response.json()) == {"code", "message", "extra"}
    preview = other_api.post("/api/v1/incentives/preview", {"incentive_id": incentive}, content_type=JSON)
    assert preview.status_code == 404
    assert other_api.get("/api/v1/bundles").json()["count"] == 0
    assert other_api.get("/api/v1/incentives").json()["count"] == 0
    assert "core_product_id" in fields(other_api.post("/api/v1/bundles/quote", bundle_body(camp),
                                                      content_type=JSON))
    assert Bundle.objects.get(pk=bundle).name == "Camp set"
