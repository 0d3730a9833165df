"""Bundles from the database, the rules engine over real orders, counters and pruning."""

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.offers.conftest import NOW, priced
from tests.recommendations.conftest import NOW as ORDERS_NOW
from tests.recommendations.conftest import customer, order
from xsell_plugin.core.exceptions import NotFound, ValidationFailed
from xsell_plugin.offers import rules, selectors, services
from xsell_plugin.offers.models import Bundle, Incentive, OfferStatus

pytestmark = pytest.mark.django_db
D = Decimal


def test_fixed_bundle_quote_from_fresh_prices(store):
    core = priced(store, "c", price="100.00", cost="40.00")
    a = priced(store, "a", price="40.00", cost="10.00")
    b = priced(store, "b", price="9.99", cost="3.00")
    bundle = services.bundle_create(store=store, name="Camp set", kind="fixed",
                                    core_product_id=core.pk, addon_product_ids=[a.pk, b.pk],
                                    percent_off=D("10"))
    quote = selectors.bundle_quote_for(store=store, bundle=bundle)
    assert (quote.regular_total, quote.total, quote.saving) == (D("149.99"), D("134.99"), D("15.00"))
    assert [line.key for line in quote.lines] == [core.pk, a.pk, b.pk]
    assert sum(line.line_price for line in quote.lines) == quote.total


def test_adjustable_bundle_discount_needs_the_minimum_add_ons(store):
    core = priced(store, "c", price="100.00", cost="40.00")
    a = priced(store, "a", price="40.00", cost="10.00")
    b = priced(store, "b", price="20.00", cost="5.00")
    bundle = services.bundle_create(store=store, name="Build your own", kind="adjustable",
                                    core_product_id=core.pk, addon_product_ids=[a.pk, b.pk],
                                    amount_off=D("12.00"), min_addons=2)
    both = selectors.bundle_quote_for(store=store, bundle=bundle, addon_product_ids=[a.pk, b.pk])
    assert (both.total, both.saving) == (D("148.00"), D("12.00"))
    one = selectors.bundle_quote_for(store=store, bundle=bundle, addon_product_ids=[b.pk])
    assert (one.total, one.saving) == (D("120.00"), D("0"))
    with pytest.raises(ValidationFailed):
        selectors.bundle_quote_for(store=store, bundle=bundle, addon_product_ids=[core.pk])


def test_bundle_products_must_be_the_stores(store, other_store):
    mine = priced(store, "c", price="10.00", cost="1.00")
    theirs = priced(other_store, "x", price="10.00", cost="1.00")
    with pytest.raises(NotFound):
        services.bundle_create(store=store, name="Mixed", kind="fixed", core_product_id=mine.pk,
                               addon_product_ids=[theirs.pk])
    with pytest.raises(ValidationFailed):
        services.bundle_create(store=store, name="Alone", kind="fixed", core_product_id=mine.pk,
                               addon_product_ids=[])


def test_incentive_for_a_customer_from_their_orders(store, other_store):
    item = priced(store, "i", price="30.00", cost="10.00")
    Incentive.objects.create(store=store, name="Ship", kind="free_shipping", level=0)
    Incentive.objects.create(store=store, name="Ten", kind="percent_off", level=1,
                             percent_off=D("10"))
    Incentive.objects.create(store=other_store, name="Theirs", kind="percent_off", level=1,
                             percent_off=D("50"))
    buyer = customer(store, "buyer")
    order(store, buyer, "o1", [item], days_ago=40)
    now = ORDERS_NOW  # the order helper's clock
    decision = selectors.incentive_for_customer(store=store, customer_id=buyer.pk, step=1,
                                                now=now)
    assert decision.option.percent_off == D("10")
    enrolled = now - timedelta(days=2)
    order(store, buyer, "o2", [item], days_ago=1)
    after = selectors.incentive_for_customer(store=store, customer_id=buyer.pk, step=1,
                                             now=now, enrolled_at=enrolled)
    assert after.option.kind == rules.IncentiveKind.FREE_SHIPPING  # bought: no escalation
    order(store, buyer, "o3", [item], days_ago=3)
    order(store, buyer, "o4", [item], days_ago=5)  # 3 orders in 30 days
    frequent = selectors.incentive_for_customer(store=store, customer_id=buyer.pk, step=3, now=now)
    assert frequent.option is None and frequent.reason == "frequent_buyer"


def test_counters_and_pruning_flag_then_pause(store):
    inc = Incentive.objects.create(store=store, name="Weak", kind="percent_off",
                                   percent_off=D("5"))
    bundle = Bundle.objects.create(store=store, name="Fine", percent_off=D("5"))
    policy = rules.PrunePolicy(threshold=D("0.06"), min_sample=20, grace_sends=10)
    for _ in range(20):
        services.offer_send_record(store=store, incentive_id=inc.pk, bundle_id=bundle.pk)
    services.offer_conversion_record(store=store, incentive_id=inc.pk)
    for _ in range(2):
        services.offer_conversion_record(store=store, bundle_id=bundle.pk)
    assert services.offers_prune(store=store, now=NOW, policy=policy) == {
        "flagged": [f"incentive:{inc.pk}"], "paused": [], "cleared": []}
    inc.refresh_from_db()
    assert (inc.status, inc.sends_at_flag, inc.flagged_at) == (OfferStatus.FLAGGED, 20, NOW)
    # still below after the grace sends: paused
    for _ in range(10):
        services.offer_send_record(store=store, incentive_id=inc.pk)
    later = NOW + timedelta(days=3)
    assert services.offers_prune(store=store, now=later, policy=policy)["paused"] == [
        f"incentive:{inc.pk}"]
    inc.refresh_from_db()
    assert inc.status == OfferStatus.PAUSED and inc.paused_at == later
    assert services.offers_prune(store=store, now=later, policy=policy) == {
        "flagged": [], "paused": [], "cleared": []}
