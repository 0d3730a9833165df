"""What the engine works on: frozen data prefetched by ``selectors`` (or built by the
evaluation), so the engine itself never touches the database or the clock."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from xsell_plugin.offers.rules import Discount
from xsell_plugin.recommendations.strategies import History


class Mode(enum.StrEnum):
    CROSS_SELL = "cross_sell"  # things the customer does not have (the default)
    UPSELL = "upsell"  # a higher tier of what they look at or just bought, first
    REPLENISH = "replenish"  # consumables they buy again, when they are due


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """A product as it is now: fresh stock and prices."""

    key: int  # Product pk
    external_id: str
    title: str
    price: Decimal  # the lowest available variant's price
    cost: Decimal | None = None  # that variant's cost
    available: bool = True  # some variant can be bought
    inventory_quantity: int | None = None  # of the cheapest available variant; None: untracked
    product_type: str = ""
    tags: tuple[str, ...] = ()
    collection_ids: tuple[int, ...] = ()
    active: bool = True  # status ACTIVE (not draft, archived or deleted)
    upsell_keys: tuple[int, ...] = ()  # the merchant's curation, resolved to product pks
    cross_sell_keys: tuple[int, ...] = ()
    variant_external_id: str = ""


@dataclass(frozen=True, slots=True)
class Request:
    history: History  # every order line of the customer up to now (the trigger order too)
    now: datetime
    trigger_keys: tuple[int, ...] = ()  # just bought / in the abandoned cart / browsed
    mode: Mode = Mode.CROSS_SELL
    limit: int = 3
    recently_emailed: frozenset[int] = frozenset()
    incentive: Discount | None = None  # what the email's code takes off an item
    margin_floor: Decimal = Decimal("0.200")
    history_types: tuple[str, ...] = ()  # product type per history line (durable check)
    durable_overrides: Mapping[str, bool] = field(default_factory=dict)  # merchant's flags
    bundle_addons: Mapping[int, tuple[int, ...]] = field(default_factory=dict)  # core -> add-ons
    price_range: tuple[Decimal, Decimal] | None = None  # None: from the history
    # The merchant's per-product overrides for the trigger items: pinned products come first
    # (trigger -> keys, in the merchant's order); excluded ones are never shown.
    pinned: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    excluded: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Reason:
    code: str  # pinned | curated | bundle | bought_together | upgrade | similar | for_you | popular |
    #            product_type | new_in_type | replenish
    text: str
    count: int | None = None
    source_key: int | None = None  # the product it comes from


@dataclass(frozen=True, slots=True)
class Recommendation:
    key: int
    external_id: str
    title: str
    price: Decimal
    strategy: str
    reason: Reason
    score: float
    variant_external_id: str = ""
