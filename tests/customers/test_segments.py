"""Segments are pure: facts and ``now`` in, labels out."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from xsell_plugin.customers import segments as s

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def orders(*days_ago, total="40.00", types=("Coffee",)):
    return [s.OrderFact(NOW - d * DAY, Decimal(total), tuple(types)) for d in days_ago]


def test_prospect_has_no_orders():
    empty = s.facts()
    assert s.rfm(empty, NOW).label == "prospect"
    assert s.lifecycle_stage(empty, NOW) == "prospect"
    assert s.engagement(empty, NOW) == "unmailed"
    assert s.affinity(empty, NOW) == ()


def test_rfm_scores_and_labels():
    champion = s.facts(orders=orders(3, 10, 20, 40, 60, 90, 120, 150, 200, total="150.00"))
    scored = s.rfm(champion, NOW)
    assert (scored.recency_days, scored.frequency, scored.monetary) == (3, 9, Decimal("1350.00"))
    assert (scored.r, scored.f, scored.m, scored.label, scored.score) == (5, 5, 5, "champion", "555")
    assert s.rfm(s.facts(orders=orders(5)), NOW).label == "new"
    assert s.rfm(s.facts(orders=orders(200, 220, 240, 260, 280)), NOW).label == "at_risk"
    assert s.rfm(s.facts(orders=orders(300)), NOW).label == "hibernating"
    # orders after now are not known yet
    assert s.rfm(s.facts(orders=orders(-5)), NOW).label == "prospect"


def test_rfm_quintiles_score_relative_to_the_population():
    population = {n: s.facts(orders=orders(*range(1 + n, 1 + n + 2 * n + 1, 1), total=str(10 * (n + 1))))
                  for n in range(5)}
    population["none"] = s.facts()
    scored = s.rfm_quintiles(population, NOW)
    assert scored["none"].label == "prospect"
    assert [scored[n].f for n in range(5)] == [1, 2, 3, 4, 5]
    assert [scored[n].r for n in range(5)] == [5, 4, 3, 2, 1]


def test_engagement_levels():
    clicked = s.facts(sends=[NOW - 3 * DAY], clicks=[NOW - 2 * DAY])
    assert s.engagement(clicked, NOW) == "engaged"
    assert s.engagement(s.facts(sends=[NOW - DAY], opens=[NOW - DAY]), NOW) == "opener"
    ignored = s.facts(sends=[NOW - 10 * DAY, NOW - 20 * DAY, NOW - 40 * DAY], clicks=[NOW - 100 * DAY])
    assert s.engagement(ignored, NOW) == "unengaged"
    assert s.engagement(s.facts(sends=[NOW - 10 * DAY]), NOW) == "quiet"


def test_affinity_weighs_recent_purchases_more():
    customer = s.facts(orders=[
        *orders(300, 310, 320, types=("Tea",)),
        *orders(5, types=("Coffee", "Coffee")),
        *orders(8, types=("Milk",)),
    ])
    assert s.affinity(customer, NOW, top=2) == ("Coffee", "Milk")
    assert s.affinity_weights(customer, NOW)["Coffee"] == pytest.approx(2 * 0.5 ** (5 / 90))


def test_lifecycle_uses_the_customers_own_rhythm():
    weekly = s.facts(orders=orders(3, 10, 17, 24, 31))
    assert s.lifecycle_stage(weekly, NOW) == "loyal"
    assert s.lifecycle_stage(s.facts(orders=orders(10)), NOW) == "new"
    assert s.lifecycle_stage(s.facts(orders=orders(20, 50)), NOW) == "active"
    assert s.lifecycle_stage(s.facts(orders=orders(70, 100)), NOW) == "at_risk"
    assert s.lifecycle_stage(s.facts(orders=orders(200, 230)), NOW) == "lapsed"
    assert s.inter_purchase_gap([NOW, NOW - 7 * DAY, NOW - 21 * DAY]) == 10.5 * DAY
    assert s.inter_purchase_gap([NOW]) is None


def test_segment_filters():
    weekly = s.facts(orders=orders(3, 10, 17, 24, 31, total="60.00"), clicks=[NOW - DAY])
    assert s.segment_matches({}, weekly, NOW)
    assert s.segment_matches({"lifecycle": ["loyal"], "engagement": ["engaged"], "affinity": ["Coffee"],
                              "min_orders": 5, "min_spent": 300}, weekly, NOW)
    assert not s.segment_matches({"lifecycle": ["new"]}, weekly, NOW)
    assert not s.segment_matches({"max_orders": 1}, weekly, NOW)
    assert not s.segment_matches({"affinity": ["Tea"]}, weekly, NOW)
    assert not s.segment_matches({"rfm": ["hibernating"]}, weekly, NOW)
    dims = s.segment_dimensions(weekly, NOW)
    assert (dims.lifecycle, dims.engagement, dims.affinity) == ("loyal", "engaged", ("Coffee",))


def test_segment_filter_validation():
    s.segment_filter_validate({"lifecycle": ["new"], "rfm": ["champion"]})
    with pytest.raises(ValueError, match="unknown segment filter keys"):
        s.segment_filter_validate({"colour": ["red"]})
    with pytest.raises(ValueError, match="unknown lifecycle values"):
        s.segment_filter_validate({"lifecycle": ["teenager"]})
