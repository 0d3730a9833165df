"""The pure engine over a model fitted on small hand-made orders: reasons, curation first,
upgrades, replenishment, cold start, filters. ``now`` is always passed in."""

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from xsell_plugin.recommendations import engine, training
from xsell_plugin.recommendations.context import CatalogItem, Mode, Request
from xsell_plugin.recommendations.strategies import History

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
DAY = 86_400.0
TYPES = {1: "Tent", 2: "Sleeping bag", 3: "Coffee", 4: "Stove", 5: "Lantern", 6: "Mat",
         7: "Tent", 8: "Tent"}


def orders():
    """30 customers. Tent (1) and sleeping bag (2) together in 12 orders; coffee (3) in every
    order of customers 20-29; the stove (4) with coffee sometimes."""
    rows, order = [], 0
    t0 = NOW.timestamp() - 40 * DAY
    for c in range(30):
        order += 1
        at = t0 + (10 + c) * DAY  # inside the 28-day popularity window
        if c < 12:
            rows += [(c, order, 1, at), (c, order, 2, at)]
        elif c < 20:
            rows += [(c, order, 1, at), (c, order, 5, at)]
        else:
            rows += [(c, order, 3, t0 + c * DAY), (c, order, 4, t0 + c * DAY)]
            order += 1
            rows += [(c, order, 3, t0 + (c + 5) * DAY)]
    customers, order_ids, items, at = (np.asarray(x) for x in zip(*rows, strict=True))
    return training.Interactions(customers=customers.astype(np.int64),
                                 orders=order_ids.astype(np.int64),
                                 items=items.astype(np.int64), at=at.astype(np.float64))


@pytest.fixture(scope="module")
def model():
    return training.fit(orders(), item_types=TYPES, now=NOW.timestamp(),
                        params=training.FitParams(factors=4, iterations=5))


PRICES = {1: "100.00", 2: "40.00", 3: "8.00", 4: "60.00", 5: "20.00", 6: "15.00", 7: "150.00",
          8: "250.00", 9: "35.00"}


def catalog(changes=None) -> dict[int, CatalogItem]:
    changes = changes or {}
    out = {}
    for key, price in PRICES.items():
        kw = {"key": key, "external_id": f"p{key}", "title": f"Item {key}",
              "price": Decimal(price), "cost": Decimal(price) / 2,
              "product_type": TYPES.get(key, "Sleeping bag"), "tags": ("camping",)}
        kw |= changes.get(key, {})
        out[key] = CatalogItem(**kw)
    return out


def request(history=(), **kw) -> Request:
    return Request(history=History.from_lines(history), now=NOW, **({"limit": 3} | kw))


def run(model, req, cat=None):
    ranking = engine.rank(model, req)
    return engine.recommend(ranking, req, cat if cat is not None else catalog())


def test_bought_together_reason_with_the_real_count(model):
    recs = run(model, request([(1, NOW.timestamp() - DAY, 900, "100.00")], trigger_keys=(1,),
                              limit=1, price_range=(Decimal("1"), Decimal("1000"))))
    assert [r.key for r in recs] == [2]
    assert recs[0].reason.code == "bought_together"
    assert recs[0].reason.count == 12
    assert recs[0].reason.text == "Bought together with Item 1 12 times"
    assert recs[0].reason.source_key == 1


def test_curation_first_bundle_then_store_picks(model):
    cat = catalog({1: {"cross_sell_keys": (5,), "upsell_keys": (7,)}})
    req = request(trigger_keys=(1,), bundle_addons={1: (6,)}, limit=4,
                  price_range=(Decimal("1"), Decimal("1000")))
    recs = run(model, req, cat)
    assert [r.key for r in recs[:3]] == [6, 5, 7]
    assert [r.reason.code for r in recs[:3]] == ["bundle", "curated", "curated"]
    assert recs[0].reason.text == "Goes with Item 1 in the store's bundle"
    assert recs[1].reason.text == "Picked by the store"
    assert recs[3].strategy not in ("curated", "bundle")


def test_curated_items_still_pass_the_filters(model):
    cat = catalog({1: {"cross_sell_keys": (5, 6)}, 5: {"available": False}})
    recs = run(model, request(trigger_keys=(1,), limit=1), cat)
    assert [r.key for r in recs] == [6]


def test_upsell_mode_offers_a_higher_tier_in_the_price_band(model):
    recs = run(model, request(trigger_keys=(1,), mode=Mode.UPSELL, limit=1,
                              price_range=(Decimal("1"), Decimal("1000"))))
    assert recs[0].key == 7  # Tent at 150 (1.5x); the 250 tent is beyond 2x
    assert recs[0].reason.text == "Upgrade from Item 1"
    assert 8 not in [c.key for c in engine.upgrades([catalog()[1]], catalog(), model)]


def test_replenishment_only_in_its_mode(model):
    history = [(3, NOW.timestamp() - 20 * DAY, 1, "8.00"), (3, NOW.timestamp() - 10 * DAY, 2, "8.00")]
    recs = run(model, request(history, mode=Mode.REPLENISH, limit=1))
    assert recs[0].key == 3
    assert recs[0].reason.code == "replenish"
    assert recs[0].reason.text == "You last bought it 10 days ago"
    # cross-sell never brings back what the customer owns
    assert 3 not in [r.key for r in run(model, request(history, limit=5))]


def test_never_owned_in_stock_not_just_bought_in_price_range(model):
    history = [(2, NOW.timestamp() - 30 * DAY, 1, "40.00")]
    cat = catalog({5: {"available": False}})
    recs = run(model, request(history, trigger_keys=(1,), limit=10), cat)
    keys = [r.key for r in recs]
    assert 1 not in keys  # just bought
    assert 2 not in keys  # owned
    assert 5 not in keys  # out of stock
    # range from the history: 10.00 .. 60.00
    assert all(Decimal("10.00") <= r.price <= Decimal("60.00") for r in recs)
    assert keys


def test_recently_emailed_products_are_skipped(model):
    recs = run(model, request(trigger_keys=(1,), limit=1, recently_emailed=frozenset({2}),
                              price_range=(Decimal("1"), Decimal("1000"))))
    assert recs[0].key != 2


def test_durable_type_owned_blocks_the_whole_type(model):
    cat = catalog()
    req = request([(1, NOW.timestamp() - DAY, 1, "100.00")], trigger_keys=(), limit=10,
                  durable_overrides={"Tent": True}, history_types=("Tent",),
                  price_range=(Decimal("1"), Decimal("1000")))
    assert not {7, 8} & {r.key for r in run(model, req, cat)}


def test_cold_start_without_a_model_from_type_and_tags():
    cat = catalog()
    req = request(trigger_keys=(1,), limit=3, price_range=(Decimal("1"), Decimal("1000")))
    recs = engine.recommend(engine.rank(None, req), req, cat)
    assert recs[0].key in (7, 8)  # same type and tags first
    assert recs[0].reason.code == "new_in_type"
    assert recs[0].reason.text == "New in Tent"


def test_new_product_not_in_the_model_is_merged_in(model):
    recs = run(model, request(trigger_keys=(1,), limit=10,
                              price_range=(Decimal("1"), Decimal("1000"))))
    assert 9 in [r.key for r in recs]  # never sold: only the cold start can find it
    assert next(r for r in recs if r.key == 9).reason.code == "new_in_type"


def test_every_recommendation_has_a_reason(model):
    recs = run(model, request([(3, NOW.timestamp() - DAY, 1, "8.00")], trigger_keys=(3,), limit=5,
                              price_range=(Decimal("1"), Decimal("1000"))))
    assert recs
    assert all(r.reason.text for r in recs)


def test_margin_floor_with_the_incentive(model):
    from xsell_plugin.offers.rules import Discount
    cat = catalog({2: {"cost": Decimal("33.00")}})  # 40.00 at 10 % off: (36-33)/36 < 0.2
    req = request(trigger_keys=(1,), limit=1, incentive=Discount(percent_off=Decimal("10")),
                  price_range=(Decimal("1"), Decimal("1000")))
    assert run(model, req, cat)[0].key != 2
