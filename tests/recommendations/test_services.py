"""Model refresh (versions, idempotent, scheduled), recommendations from the database,
tenant isolation."""

from datetime import timedelta

import pytest
from django_q.models import Schedule

from tests.recommendations.conftest import NOW, customer, order, product, shop_with_orders
from xsell_plugin.recommendations import selectors, services, tasks
from xsell_plugin.recommendations.context import Mode
from xsell_plugin.recommendations.models import FittedModel, ProductTypeRule

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    selectors.model_cache_clear()
    yield
    selectors.model_cache_clear()


def test_the_daily_refresh_schedule_exists():
    schedule = Schedule.objects.get(name="xsell: refresh recommendation models")
    assert schedule.func == "xsell_plugin.recommendations.tasks.refresh_models"
    assert schedule.schedule_type == Schedule.DAILY


def test_refresh_is_idempotent_and_versions_on_new_data(store):
    shop = shop_with_orders(store)
    first = services.recs_model_refresh(store=store, now=NOW)
    again = services.recs_model_refresh(store=store, now=NOW + timedelta(hours=1))
    assert again.pk == first.pk and first.version == 1
    assert FittedModel.objects.for_store(store).count() == 1
    order(store, shop["customers"][0], "late", [shop["stove"]], days_ago=0)
    second = services.recs_model_refresh(store=store, now=NOW + timedelta(hours=2))
    assert second.version == 2
    assert second.stats["orders"] == 9
    # a new store-local day refits even without new data (popularity windows move)
    third = services.recs_model_refresh(store=store, now=NOW + timedelta(days=1))
    assert third.version == 3


def test_refresh_task_refits_every_store_and_keeps_going(store, other_store, monkeypatch):
    shop_with_orders(store)
    shop_with_orders(other_store, prefix="b")
    real = services.recs_model_refresh

    def flaky(*, store, now=None, **kw):
        if store.pk == other_store.pk:
            raise RuntimeError("boom")
        return real(store=store, now=now, **kw)

    monkeypatch.setattr(services, "recs_model_refresh", flaky)
    assert tasks.refresh_models() == {store.pk: 1, other_store.pk: None}
    monkeypatch.setattr(services, "recs_model_refresh", real)
    assert tasks.refresh_model(other_store.pk) == 1


def test_recommendations_with_reasons_from_the_database(store):
    shop = shop_with_orders(store)
    services.recs_model_refresh(store=store, now=NOW)
    buyer = customer(store, "new-buyer")
    order(store, buyer, "just-now", [shop["tent"]], days_ago=0)
    recs = selectors.customer_recommendations(
        store=store, customer_id=buyer.pk, now=NOW + timedelta(hours=1),
        trigger_product_ids=[shop["tent"].pk], limit=2)
    assert recs[0].key == shop["bag"].pk
    assert recs[0].reason.text == "Bought together with Trail Tent 6 times"
    assert shop["tent"].pk not in [r.key for r in recs]


def test_store_curation_comes_first_and_filters_apply(store):
    shop = shop_with_orders(store)
    services.recs_model_refresh(store=store, now=NOW)
    # created after the fit, of another type: only the curation can bring them
    lamp = product(store, "a-lamp", title="Lamp", product_type="Lamp", price="30.00")
    gone = product(store, "a-gone", title="Gone", product_type="Lamp", price="30.00", quantity=0)
    shop["tent"].cross_sell_ids = ["a-gone", "a-lamp"]
    shop["tent"].save()
    recs = selectors.customer_recommendations(
        store=store, customer_id=None, now=NOW, trigger_product_ids=[shop["tent"].pk], limit=2)
    assert recs[0].key == lamp.pk and recs[0].reason.text == "Picked by the store"
    assert gone.pk not in [r.key for r in recs]


def test_durable_flag_from_the_merchant(store):
    shop = shop_with_orders(store)
    other_tent = product(store, "a-tent2", title="Big Tent", product_type="Tent", price="150.00",
                         cost="50.00")
    ProductTypeRule.objects.create(store=store, product_type="Tent", durable=True)
    services.recs_model_refresh(store=store, now=NOW)
    owner = shop["customers"][0]
    recs = selectors.customer_recommendations(
        store=store, customer_id=owner.pk, now=NOW, trigger_product_ids=[shop["tent"].pk],
        mode=Mode.UPSELL, limit=5)
    assert other_tent.pk not in [r.key for r in recs]


def test_upsell_from_the_database(store):
    shop = shop_with_orders(store)
    big = product(store, "a-tent2", title="Big Tent", product_type="Tent", price="150.00",
                  cost="50.00")
    services.recs_model_refresh(store=store, now=NOW)
    recs = selectors.customer_recommendations(
        store=store, customer_id=None, now=NOW, trigger_product_ids=[shop["tent"].pk],
        mode=Mode.UPSELL, limit=1)
    assert recs[0].key == big.pk and recs[0].reason.text == "Upgrade from Trail Tent"


def test_two_stores_models_never_mix(store, other_store):
    mine = shop_with_orders(store)
    theirs = shop_with_orders(other_store, prefix="b")
    services.recs_model_refresh(store=store, now=NOW)
    services.recs_model_refresh(store=other_store, now=NOW)
    _, model_a = selectors.fitted_model_latest(store=store)
    _, model_b = selectors.fitted_model_latest(store=other_store)
    a_keys, b_keys = set(model_a.item_keys.tolist()), set(model_b.item_keys.tolist())
    assert not a_keys & b_keys
    assert {mine["tent"].pk, mine["bag"].pk} <= a_keys
    recs = selectors.customer_recommendations(
        store=store, customer_id=mine["customers"][7].pk, now=NOW,
        trigger_product_ids=[mine["tent"].pk, theirs["tent"].pk], limit=5)
    assert recs and {r.key for r in recs} <= a_keys


def test_no_model_yet_falls_back_to_the_catalogue(store):
    tent = product(store, "t1", title="Tent", product_type="Tent", price="100.00")
    other = product(store, "t2", title="Tent XL", product_type="Tent", price="120.00")
    recs = selectors.customer_recommendations(store=store, customer_id=None, now=NOW,
                                              trigger_product_ids=[tent.pk])
    assert [r.key for r in recs] == [other.pk]
    assert recs[0].reason.text == "New in Tent"
