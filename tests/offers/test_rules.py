"""Pure offer rules with exact Decimal values and ``now`` passed in."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from xsell_plugin.offers import rules
from xsell_plugin.offers.rules import (
    BundleLine,
    CustomerStats,
    Discount,
    IncentiveKind,
    IncentiveOption,
    PruneAction,
    PrunePolicy,
    Segment,
)

NOW = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)
D = Decimal


# --- money and margins -------------------------------------------------------------------------

def test_discount_takes_exact_cents():
    assert Discount(percent_off=D("15")).off(D("19.99")) == D("3.00")  # 2.9985 half up
    assert Discount(percent_off=D("10")).off(D("0.05")) == D("0.01")  # 0.005 half up
    assert Discount(amount_off=D("5")).off(D("3.50")) == D("3.50")  # never below zero
    assert rules.discounted_price(D("19.99"), Discount(percent_off=D("15"))) == D("16.99")
    assert rules.discounted_price(D("19.99"), None) == D("19.99")


@pytest.mark.parametrize("kwargs", [{}, {"percent_off": D("0")}, {"percent_off": D("101")},
                                    {"amount_off": D("-1")},
                                    {"percent_off": D("5"), "amount_off": D("1")}])
def test_discount_validation(kwargs):
    with pytest.raises(ValueError):
        Discount(**kwargs)


def test_margin_values():
    assert rules.margin(D("10.00"), D("7.00")) == D("0.3")
    assert rules.margin(D("0"), D("1")) is None
    assert rules.margin_after(D("10.00"), D("7.00"), Discount(amount_off=D("1.25"))) == D("0.2")
    assert rules.margin_after(D("10.00"), None, None) is None


def test_margin_floor_boundaries():
    floor = D("0.200")
    assert rules.margin_ok(D("10.00"), D("7.00"), Discount(amount_off=D("1.25")), floor)  # = 0.2
    assert not rules.margin_ok(D("10.00"), D("7.00"), Discount(amount_off=D("1.26")), floor)
    assert not rules.margin_ok(D("10.00"), D("9.00"), None, floor)  # 0.1 without incentive
    assert rules.margin_ok(D("10.00"), None, None, floor)
    assert not rules.margin_ok(D("10.00"), None, Discount(percent_off=D("1")), floor)
    assert not rules.margin_ok(D("10.00"), D("0"), Discount(percent_off=D("100")), floor)


def test_max_discount_keeping_the_floor():
    # 1 - 7 / (10 x 0.8) = 12.5 % -> 12 whole percent; amount: 10 - 7/0.8 = 1.25
    assert rules.max_percent_off(D("10.00"), D("7.00"), D("0.2")) == D("12")
    assert rules.max_amount_off(D("10.00"), D("7.00"), D("0.2")) == D("1.25")
    assert rules.max_percent_off(D("10.00"), D("9.00"), D("0.2")) == D("0")
    assert rules.max_percent_off(D("10.00"), None, D("0.2")) == D("0")
    assert rules.max_amount_off(D("10.00"), D("9.00"), D("0.2")) == D("0")


# --- bundles -----------------------------------------------------------------------------------

def test_fixed_bundle_prices_total_and_saving():
    quote = rules.bundle_quote([BundleLine(1, D("100.00")), BundleLine(2, D("40.00")),
                                BundleLine(3, D("9.99"), quantity=2)], Discount(percent_off=D("10")))
    assert quote.regular_total == D("159.98")
    assert quote.saving == D("16.00")
    assert quote.total == D("143.98")
    assert [line.line_price for line in quote.lines] == [D("89.99"), D("36.00"), D("17.99")]
    assert [line.saving for line in quote.lines] == [D("10.01"), D("4.00"), D("1.99")]
    assert sum(line.line_price for line in quote.lines) == quote.total
    assert quote.saving_percent == D("10.0")


def test_bundle_with_an_amount_off_and_without_discount():
    quote = rules.bundle_quote([BundleLine(1, D("30.00")), BundleLine(2, D("10.00"))],
                               Discount(amount_off=D("5.00")))
    assert (quote.total, quote.saving) == (D("35.00"), D("5.00"))
    assert [line.line_price for line in quote.lines] == [D("26.25"), D("8.75")]
    plain = rules.bundle_quote([BundleLine(1, D("30.00"))], None)
    assert (plain.total, plain.saving, plain.saving_percent) == (D("30.00"), D("0"), D("0.0"))
    with pytest.raises(ValueError):
        rules.bundle_quote([], None)


def test_bundle_and_free_addon_margins():
    lines = [BundleLine(1, D("100.00"), cost=D("60.00")), BundleLine(2, D("20.00"), cost=D("10.00"))]
    # 10 % off 120 = 108; cost 70 -> (108 - 70) / 108 = 0.3518
    assert rules.bundle_margin_ok(lines, Discount(percent_off=D("10")), D("0.35"))
    assert not rules.bundle_margin_ok(lines, Discount(percent_off=D("10")), D("0.36"))
    assert not rules.bundle_margin_ok([BundleLine(1, D("5"))], Discount(percent_off=D("5")), D("0"))
    core, addon = BundleLine(1, D("50.00"), cost=D("30.00")), BundleLine(2, D("8.00"), cost=D("5.00"))
    # (50 - 35) / 50 = 0.30
    assert rules.free_addon_margin_ok(core, addon, D("0.30"))
    assert not rules.free_addon_margin_ok(core, addon, D("0.301"))
    assert not rules.free_addon_margin_ok(BundleLine(1, D("50")), addon, D("0"))


# --- rules engine ------------------------------------------------------------------------------

def stats(**kw) -> CustomerStats:
    base = {"orders": 2, "orders_last_30_days": 1, "spent": D("120.00"),
            "last_order_at": NOW - timedelta(days=10)}
    return CustomerStats(**(base | kw))


OPTIONS = [
    IncentiveOption(1, IncentiveKind.FREE_SHIPPING, level=0),
    IncentiveOption(2, IncentiveKind.PERCENT_OFF, level=1, percent_off=D("10")),
    IncentiveOption(3, IncentiveKind.PERCENT_OFF, level=2, percent_off=D("15")),
    IncentiveOption(4, IncentiveKind.AMOUNT_OFF, level=1, amount_off=D("5"), segments=("vip",)),
]


def test_segments():
    assert rules.segment_of(stats(orders_last_30_days=3), now=NOW) == Segment.FREQUENT
    assert rules.segment_of(stats(last_order_at=NOW - timedelta(days=90)), now=NOW) == Segment.LAPSED
    assert rules.segment_of(stats(spent=D("500.00")), now=NOW) == Segment.VIP
    assert rules.segment_of(stats(orders=1), now=NOW) == Segment.NEW
    assert rules.segment_of(stats(), now=NOW) == Segment.REPEAT


def test_escalation_only_while_the_customer_has_not_bought():
    assert rules.choose_incentive(OPTIONS, stats=stats(), step=0, now=NOW).option.id == 1
    assert rules.choose_incentive(OPTIONS, stats=stats(), step=1, now=NOW).option.id == 2
    assert rules.choose_incentive(OPTIONS, stats=stats(), step=5, now=NOW).option.id == 3
    bought = rules.choose_incentive(OPTIONS, stats=stats(bought_since_enrolment=True), step=2,
                                    now=NOW)
    assert bought.option.id == 1  # back to level 0: no escalation after a purchase


def test_never_to_customers_who_buy_often_anyway():
    decision = rules.choose_incentive(OPTIONS, stats=stats(orders_last_30_days=4), step=3, now=NOW)
    assert decision.option is None and decision.reason == "frequent_buyer"


def test_segment_and_window_and_tie_break():
    vip = rules.choose_incentive(OPTIONS, stats=stats(spent=D("900")), step=1, now=NOW)
    assert vip.option.id == 2  # two level-1 options for a VIP: the older rule wins
    windowed = [IncentiveOption(7, IncentiveKind.PERCENT_OFF, level=0, percent_off=D("5"),
                                starts_at=NOW + timedelta(hours=1))]
    assert rules.choose_incentive(windowed, stats=stats(), step=0, now=NOW).reason == "no_incentive_fits"
    ended = [IncentiveOption(8, IncentiveKind.PERCENT_OFF, level=0, percent_off=D("5"), ends_at=NOW)]
    assert rules.choose_incentive(ended, stats=stats(), step=0, now=NOW).option is None
    paused = [IncentiveOption(9, IncentiveKind.PERCENT_OFF, level=0, percent_off=D("5"), active=False)]
    assert rules.choose_incentive(paused, stats=stats(), step=0, now=NOW).option is None


def test_code_end_never_past_the_window():
    assert rules.code_ends_at(now=NOW, valid_for=timedelta(hours=72), window_ends_at=None) == (
        NOW + timedelta(hours=72))
    assert rules.code_ends_at(now=NOW, valid_for=timedelta(hours=72),
                              window_ends_at=NOW + timedelta(hours=5)) == NOW + timedelta(hours=5)


# --- honest copy and caps ----------------------------------------------------------------------

def test_scarcity_only_from_real_low_stock():
    assert rules.scarcity_copy(3) == "Only 3 left"
    assert rules.scarcity_copy(5) == "Only 5 left"
    assert rules.scarcity_copy(6) is None
    assert rules.scarcity_copy(0) is None
    assert rules.scarcity_copy(None) is None
    assert rules.scarcity_copy(2, tracked=False) is None


def test_expiry_only_from_the_codes_real_end():
    ends = datetime(2026, 6, 12, 21, 59, tzinfo=UTC)  # 23:59 in Paris
    assert rules.expiry_copy(ends, now=NOW, timezone_name="Europe/Paris") == (
        "Code expires Friday 12 June at 23:59")
    soon = NOW + timedelta(hours=5, minutes=30)
    assert rules.expiry_copy(soon, now=NOW, timezone_name="UTC") == "Code expires in 5 hours (20:30)"
    assert rules.expiry_copy(NOW + timedelta(minutes=20), now=NOW, timezone_name="UTC") == (
        "Code expires in 1 hour (15:20)")
    assert rules.expiry_copy(None, now=NOW, timezone_name="UTC") is None
    assert rules.expiry_copy(NOW, now=NOW, timezone_name="UTC") is None


def test_caps_and_store_day():
    assert rules.cap_allows(0, 1) and not rules.cap_allows(1, 1) and rules.cap_allows(99, None)
    late = datetime(2026, 6, 11, 2, 0, tzinfo=UTC)  # still the 10th in New York
    assert rules.store_day(late, "America/New_York") == "2026-06-10"


# --- pruning -----------------------------------------------------------------------------------

POLICY = PrunePolicy(threshold=D("0.010"), min_sample=200, grace_sends=100)


@pytest.mark.parametrize(("sends", "conversions", "flagged", "at_flag", "action"), [
    (199, 0, False, None, PruneAction.KEEP),  # below the minimum sample
    (200, 1, False, None, PruneAction.FLAG),  # 0.005 < 0.010
    (200, 2, False, None, PruneAction.KEEP),  # exactly 0.010 is not below
    (250, 1, True, 200, PruneAction.KEEP),  # flagged, grace not over
    (300, 2, True, 200, PruneAction.PAUSE),  # 0.0067 after 100 more sends
    (300, 3, True, 200, PruneAction.CLEAR),  # recovered to 0.010
])
def test_pruning_thresholds(sends, conversions, flagged, at_flag, action):
    assert rules.prune_action(sends=sends, conversions=conversions, flagged=flagged,
                              sends_at_flag=at_flag, policy=POLICY) == action
    assert rules.conversion_rate(0, 0) is None
