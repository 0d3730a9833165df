"""Every filter and margin rule, with exact values."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from xsell_plugin.offers.rules import Discount
from xsell_plugin.recommendations.context import CatalogItem
from xsell_plugin.recommendations.filters import (
    FilterContext,
    Rejection,
    customer_price_range,
    durable_types,
    is_durable,
    rejection,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def item(**kw) -> CatalogItem:
    base = {"key": 10, "external_id": "10", "title": "Tent", "price": Decimal("10.00"),
            "cost": Decimal("7.00"), "product_type": "Tent"}
    return CatalogItem(**(base | kw))


def ctx(**kw) -> FilterContext:
    base = {"owned_keys": frozenset(), "owned_durable_types": frozenset(),
            "durable_types": frozenset(), "trigger_keys": frozenset(),
            "recently_emailed": frozenset(), "price_range": None, "incentive": None,
            "margin_floor": Decimal("0.200")}
    return FilterContext(**(base | kw))


def test_a_clean_item_passes():
    assert rejection(item(), ctx()) is None


def test_not_the_item_just_bought():
    assert rejection(item(), ctx(trigger_keys=frozenset({10}))) == Rejection.JUST_BOUGHT


def test_never_owned_by_product():
    assert rejection(item(), ctx(owned_keys=frozenset({10}))) == Rejection.OWNED


def test_owned_consumables_only_in_replenishment():
    assert rejection(item(), ctx(owned_keys=frozenset({10}), allow_owned_consumables=True)) is None


def test_owned_durable_never_comes_back_even_in_replenishment():
    c = ctx(owned_keys=frozenset({10}), durable_types=frozenset({"Tent"}),
            allow_owned_consumables=True)
    assert rejection(item(), c) == Rejection.OWNED


def test_never_owned_by_type_for_durable_goods():
    c = ctx(owned_durable_types=frozenset({"Tent"}), durable_types=frozenset({"Tent"}))
    assert rejection(item(key=11), c) == Rejection.OWNED_TYPE
    # a consumable type the customer owns is fine (groceries)
    assert rejection(item(key=11, product_type="Milk"), c) is None


def test_in_stock_and_active():
    assert rejection(item(available=False), ctx()) == Rejection.OUT_OF_STOCK
    assert rejection(item(active=False), ctx()) == Rejection.INACTIVE


def test_not_emailed_recently():
    assert rejection(item(), ctx(recently_emailed=frozenset({10}))) == Rejection.RECENTLY_EMAILED


def test_price_range_bounds_are_inclusive():
    c = ctx(price_range=(Decimal("2.50"), Decimal("10.00")))
    assert rejection(item(price=Decimal("10.00")), c) is None
    assert rejection(item(price=Decimal("2.50"), cost=Decimal("1.00")), c) is None
    assert rejection(item(price=Decimal("10.01")), c) == Rejection.PRICE_RANGE
    assert rejection(item(price=Decimal("2.49"), cost=Decimal("1.00")), c) == Rejection.PRICE_RANGE


def test_customer_price_range_exact():
    assert customer_price_range([Decimal("2.00"), Decimal("8.00"), 0]) == (Decimal("0.50"),
                                                                          Decimal("12.00"))
    assert customer_price_range([1.99]) == (Decimal("0.50"), Decimal("2.99"))
    assert customer_price_range([]) is None


@pytest.mark.parametrize(("discount", "expected"), [
    (None, None),  # margin 0.30
    (Discount(percent_off=Decimal("10")), None),  # 9.00: (9-7)/9 = 0.2222
    (Discount(percent_off=Decimal("12")), None),  # 8.80: (8.8-7)/8.8 = 0.2045
    (Discount(percent_off=Decimal("13")), Rejection.MARGIN),  # 8.70: 0.1954
    (Discount(amount_off=Decimal("1.25")), None),  # 8.75: exactly 0.2000
    (Discount(amount_off=Decimal("1.26")), Rejection.MARGIN),  # 8.74: 0.1990
])
def test_margin_after_incentive_against_floor(discount, expected):
    assert rejection(item(), ctx(incentive=discount)) == expected


def test_unknown_cost_passes_only_without_incentive():
    assert rejection(item(cost=None), ctx()) is None
    assert rejection(item(cost=None), ctx(incentive=Discount(percent_off=Decimal("5")))) == (
        Rejection.MARGIN)


def test_durable_heuristic():
    assert is_durable(override=True, repeat_rate=0.9, buyers=100, typical_price=None)
    assert not is_durable(override=False, repeat_rate=0.0, buyers=100, typical_price=None)
    assert is_durable(override=None, repeat_rate=0.09, buyers=20, typical_price=None)
    assert not is_durable(override=None, repeat_rate=0.10, buyers=20, typical_price=None)
    # too few buyers: the price decides
    assert is_durable(override=None, repeat_rate=0.0, buyers=19, typical_price=Decimal("50.00"))
    assert not is_durable(override=None, repeat_rate=0.0, buyers=19, typical_price=Decimal("49.99"))
    assert durable_types(["Laptop", "Milk", ""], overrides={"Milk": False},
                         repeat_rates={"Laptop": (0.02, 40), "Milk": (0.01, 40)},
                         typical_prices={}) == frozenset({"Laptop"})
