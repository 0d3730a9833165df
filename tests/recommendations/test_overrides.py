"""The merchant's per-product overrides: pinned products first (when they pass the filters),
excluded ones never, in the pure engine and through ``customer_recommendations``; the service
keeps one override per pair."""

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.recommendations.conftest import NOW, customer, order, product, shop_with_orders
from tests.recommendations.test_engine import catalog, model, request, run  # noqa: F401 - fixture
from xsell_plugin.core.exceptions import NotFound, ValidationFailed
from xsell_plugin.recommendations import engine, filters, selectors, services
from xsell_plugin.recommendations.models import ProductOverride

WIDE = (Decimal("1"), Decimal("1000"))


def test_pins_come_before_every_other_candidate(model):  # noqa: F811
    cat = catalog({1: {"cross_sell_keys": (5,)}})
    req = request(trigger_keys=(1,), bundle_addons={1: (6,)}, pinned={1: (9, 4)}, limit=4,
                  price_range=WIDE)
    recs = run(model, req, cat)
    assert [r.key for r in recs] == [9, 4, 6, 5]
    assert [r.reason.code for r in recs[:2]] == ["pinned", "pinned"]
    assert recs[0].reason.source_key == 1 and recs[0].strategy == "pinned"
    assert {9, 4} <= engine.needed_keys(engine.rank(model, req), req)


def test_pins_still_pass_the_filters(model):  # noqa: F811
    cat = catalog({9: {"available": False}})
    recs = run(model, request(trigger_keys=(1,), pinned={1: (9, 6)}, limit=1, price_range=WIDE), cat)
    assert [r.key for r in recs] == [6]


def test_excluded_never_even_when_curated_or_pinned(model):  # noqa: F811
    cat = catalog({1: {"cross_sell_keys": (5,)}})
    baseline = run(model, request(trigger_keys=(1,), limit=1, price_range=WIDE), cat)
    assert [r.key for r in baseline] == [5]
    req = request(trigger_keys=(1,), bundle_addons={1: (6,)}, pinned={1: (6,)}, excluded=frozenset({5, 6, 2}),
                  limit=8, price_range=WIDE)
    keys = [r.key for r in run(model, req, cat)]
    assert keys and not {2, 5, 6} & set(keys)
    ctx = engine.filter_context(model, req, cat)
    assert filters.rejection(cat[5], ctx) == filters.Rejection.EXCLUDED


@pytest.mark.django_db
def test_overrides_through_customer_recommendations(store, other_store):
    shop = shop_with_orders(store)
    services.recs_model_refresh(store=store, now=NOW)
    tent, bag, stove = shop["tent"], shop["bag"], shop["stove"]
    lamp = product(store, "a-lamp", title="Lamp", product_type="Lamp", price="30.00")
    buyer = customer(store, "buyer")
    order(store, buyer, "now", [tent], days_ago=0)

    def recs(**kw):
        return [r.key for r in selectors.customer_recommendations(
            store=store, customer_id=buyer.pk, now=NOW + timedelta(hours=1),
            trigger_product_ids=[tent.pk], limit=3, **kw)]

    assert recs()[0] == bag.pk
    services.product_override_set(store=store, product_id=tent.pk, recommended_product_id=lamp.pk,
                                  action="pin")
    services.product_override_set(store=store, product_id=tent.pk, recommended_product_id=bag.pk,
                                  action="exclude")
    assert recs()[0] == lamp.pk and bag.pk not in recs()
    assert selectors.product_overrides(store=store, product_keys=[tent.pk]) == (
        {tent.pk: (lamp.pk,)}, frozenset({bag.pk}))
    # the other store's overrides, and overrides of products the email is not about, do nothing
    assert selectors.product_overrides(store=other_store, product_keys=[tent.pk]) == ({}, frozenset())
    assert selectors.product_overrides(store=store, product_keys=[stove.pk]) == ({}, frozenset())


@pytest.mark.django_db
def test_one_override_per_pair(store, other_store):
    tent, lamp = product(store, "tent"), product(store, "lamp")
    first, created = services.product_override_set(store=store, product_id=tent.pk,
                                                   recommended_product_id=lamp.pk, action="pin")
    again, created_again = services.product_override_set(store=store, product_id=tent.pk,
                                                         recommended_product_id=lamp.pk, action="exclude")
    assert created and not created_again and again.pk == first.pk and again.action == "exclude"
    assert ProductOverride.objects.count() == 1
    with pytest.raises(ValidationFailed) as self_pair:
        services.product_override_set(store=store, product_id=tent.pk, recommended_product_id=tent.pk,
                                      action="pin")
    assert "recommended_product_id" in self_pair.value.extra["fields"]
    with pytest.raises(ValidationFailed):
        services.product_override_set(store=other_store, product_id=tent.pk, recommended_product_id=lamp.pk,
                                      action="pin")
    with pytest.raises(NotFound):
        services.product_override_delete(store=other_store, override_id=first.pk)
    services.product_override_delete(store=store, override_id=first.pk)
    assert not ProductOverride.objects.exists()
