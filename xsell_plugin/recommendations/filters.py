"""The filters every recommendation passes, whatever strategy found it (pure).

In order: not excluded by the merchant for the items the email is about; not the item just
bought; never owned already (by product; by product type when the type is durable; owned
consumables only in replenishment); active and in stock; not emailed to this customer recently;
price within the customer's range; margin after the email's incentive >= the store's floor.
``rejection`` names the first rule an item breaks, or None.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from xsell_plugin.offers.rules import Discount, margin_ok, money
from xsell_plugin.recommendations.context import CatalogItem

# The customer's price range: from a quarter of the cheapest to 1.5x the dearest item bought.
PRICE_RANGE_LOW = Decimal("0.25")
PRICE_RANGE_HIGH = Decimal("1.50")
# Durable-goods heuristic, when the merchant has not flagged the type: a type bought again by
# fewer than 10 % of its buyers (with at least 20 buyers to judge) is durable; a type with too
# few buyers is durable when its typical price is at least 50.00.
DURABLE_REPEAT_RATE = 0.10
DURABLE_MIN_BUYERS = 20
DURABLE_PRICE = Decimal("50.00")


class Rejection(enum.StrEnum):
    EXCLUDED = "excluded_by_store"
    JUST_BOUGHT = "just_bought"
    OWNED = "owned"
    OWNED_TYPE = "owned_durable_type"
    INACTIVE = "inactive"
    OUT_OF_STOCK = "out_of_stock"
    RECENTLY_EMAILED = "recently_emailed"
    PRICE_RANGE = "price_range"
    MARGIN = "margin_floor"


def customer_price_range(prices: Iterable[Decimal | float]) -> tuple[Decimal, Decimal] | None:
    """(low, high) from what the customer paid per unit; None without a purchase."""
    paid = [p for p in prices if p and p > 0]
    if not paid:
        return None
    low, high = min(paid), max(paid)
    return (money(Decimal(str(low)) * PRICE_RANGE_LOW),
            money(Decimal(str(high)) * PRICE_RANGE_HIGH))


def is_durable(*, override: bool | None, repeat_rate: float | None, buyers: int,
               typical_price: Decimal | None) -> bool:
    """Durable goods are bought once (a laptop); consumables again (milk)."""
    if override is not None:
        return override
    if repeat_rate is not None and buyers >= DURABLE_MIN_BUYERS:
        return repeat_rate < DURABLE_REPEAT_RATE
    return typical_price is not None and typical_price >= DURABLE_PRICE


@dataclass(frozen=True, slots=True)
class FilterContext:
    owned_keys: frozenset[int]
    owned_durable_types: frozenset[str]
    durable_types: frozenset[str]  # every type judged durable (for candidates' own types)
    trigger_keys: frozenset[int]
    recently_emailed: frozenset[int]
    price_range: tuple[Decimal, Decimal] | None
    incentive: Discount | None
    margin_floor: Decimal
    allow_owned_consumables: bool = False  # replenishment
    excluded: frozenset[int] = frozenset()  # the merchant's exclusions (ProductOverride)


def rejection(item: CatalogItem, ctx: FilterContext) -> Rejection | None:
    if item.key in ctx.excluded:
        return Rejection.EXCLUDED
    if item.key in ctx.trigger_keys:
        return Rejection.JUST_BOUGHT
    durable = item.product_type in ctx.durable_types
    if item.key in ctx.owned_keys and (durable or not ctx.allow_owned_consumables):
        return Rejection.OWNED
    if durable and item.product_type in ctx.owned_durable_types:
        return Rejection.OWNED_TYPE
    if not item.active:
        return Rejection.INACTIVE
    if not item.available:
        return Rejection.OUT_OF_STOCK
    if item.key in ctx.recently_emailed:
        return Rejection.RECENTLY_EMAILED
    if ctx.price_range is not None and not ctx.price_range[0] <= item.price <= ctx.price_range[1]:
        return Rejection.PRICE_RANGE
    if not margin_ok(item.price, item.cost, ctx.incentive, ctx.margin_floor):
        return Rejection.MARGIN
    return None


def durable_types(types: Iterable[str], *, overrides: Mapping[str, bool],
                  repeat_rates: Mapping[str, tuple[float, int]],
                  typical_prices: Mapping[str, Decimal]) -> frozenset[str]:
    """The durable ones among ``types`` (empty type: never durable)."""
    out = set()
    for t in set(types):
        if not t:
            continue
        rate, buyers = repeat_rates.get(t, (None, 0))
        if is_durable(override=overrides.get(t), repeat_rate=rate, buyers=buyers,
                      typical_price=typical_prices.get(t)):
            out.add(t)
    return frozenset(out)
