"""Pure offer rules: money (margin floor, discounts, bundle prices), incentive choice,
caps, honest scarcity and expiry copy, pruning. No database, no clock: ``now`` is passed in.

Money is ``Decimal`` in the store's currency; percentages are ``Decimal`` percent (``10`` = 10 %);
margins are fractions (``0.25`` = 25 %), like ``Store.margin_floor``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

CENT = Decimal("0.01")
ZERO = Decimal("0")
HUNDRED = Decimal("100")


def money(value: Decimal | int | str) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


# --- discounts and the margin floor ------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Discount:
    """What a code takes off one item or an order: a percentage or a fixed amount."""

    percent_off: Decimal | None = None
    amount_off: Decimal | None = None

    def __post_init__(self) -> None:
        if (self.percent_off is None) == (self.amount_off is None):
            raise ValueError("a discount takes exactly one of percent_off and amount_off")
        if self.percent_off is not None and not ZERO < self.percent_off <= HUNDRED:
            raise ValueError("percent_off must be in (0, 100]")
        if self.amount_off is not None and self.amount_off <= ZERO:
            raise ValueError("amount_off must be positive")

    def off(self, price: Decimal) -> Decimal:
        """The money taken off ``price`` (never more than the price), to the cent."""
        if self.percent_off is not None:
            return min(money(price * self.percent_off / HUNDRED), price)
        return min(money(self.amount_off), price)


def discounted_price(price: Decimal, discount: Discount | None) -> Decimal:
    return price if discount is None else price - discount.off(price)


def margin(price: Decimal, cost: Decimal) -> Decimal | None:
    """Gross margin as a fraction of what the customer pays; None when nothing is paid."""
    if price <= ZERO:
        return None
    return (price - cost) / price


def margin_after(price: Decimal, cost: Decimal | None, discount: Discount | None) -> Decimal | None:
    if cost is None:
        return None
    return margin(discounted_price(price, discount), cost)


def margin_ok(price: Decimal, cost: Decimal | None, discount: Discount | None,
              floor: Decimal) -> bool:
    """Margin after the incentive >= the store's floor.

    Without a cost we cannot prove the margin: an item with no incentive passes (its price is
    the merchant's own decision), an item with an incentive does not. A free item (price 0
    after the discount) never passes.
    """
    if discount is None and cost is None:
        return True
    after = margin_after(price, cost, discount)
    return after is not None and after >= floor


def max_percent_off(price: Decimal, cost: Decimal | None, floor: Decimal) -> Decimal:
    """The largest whole percentage that keeps margin >= floor (0 when none does)."""
    if cost is None or price <= ZERO or floor >= 1:
        return ZERO
    # (p(1 - d) - c) / (p(1 - d)) >= f  <=>  d <= 1 - c / (p (1 - f))
    limit = (1 - cost / (price * (1 - floor))) * HUNDRED
    percent = max(limit.to_integral_value(rounding=ROUND_DOWN), ZERO)
    while percent > ZERO and not margin_ok(price, cost, Discount(percent_off=percent), floor):
        percent -= 1  # the cent rounding of the discount can cost one point
    return percent


def max_amount_off(price: Decimal, cost: Decimal | None, floor: Decimal) -> Decimal:
    """The largest amount (to the cent) that keeps margin >= floor (0 when none does)."""
    if cost is None or price <= ZERO or floor >= 1:
        return ZERO
    # p - a - c >= f (p - a)  <=>  a <= p - c / (1 - f)
    amount = (price - cost / (1 - floor)).quantize(CENT, rounding=ROUND_DOWN)
    return max(amount, ZERO)


# --- bundles -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BundleLine:
    key: int  # product (or variant) id
    unit_price: Decimal
    quantity: int = 1
    cost: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PricedLine:
    key: int
    quantity: int
    unit_price: Decimal  # regular
    line_regular: Decimal  # unit_price x quantity
    line_price: Decimal  # after its share of the bundle discount
    saving: Decimal


@dataclass(frozen=True, slots=True)
class BundleQuote:
    lines: tuple[PricedLine, ...]
    regular_total: Decimal
    total: Decimal
    saving: Decimal

    @property
    def saving_percent(self) -> Decimal:
        if self.regular_total <= ZERO:
            return ZERO
        return (self.saving / self.regular_total * HUNDRED).quantize(Decimal("0.1"), ROUND_HALF_UP)


def bundle_quote(lines: Sequence[BundleLine], discount: Discount | None) -> BundleQuote:
    """Each line's price, the total and the saving, in money.

    The discount applies to the bundle's regular total (to the cent) and is spread over the
    lines in proportion to their regular amounts, rounded down to the cent, with the remainder
    on the most expensive line, so the line prices add up to the total exactly.
    """
    if not lines:
        raise ValueError("a bundle has at least one line")
    regular = [money(line.unit_price) * line.quantity for line in lines]
    regular_total = sum(regular, ZERO)
    saving = discount.off(regular_total) if discount else ZERO
    shares = [
        (saving * amount / regular_total).quantize(CENT, rounding=ROUND_DOWN) if regular_total else ZERO
        for amount in regular
    ]
    biggest = max(range(len(lines)), key=lambda i: (regular[i], -i))
    shares[biggest] += saving - sum(shares, ZERO)
    priced = tuple(
        PricedLine(key=line.key, quantity=line.quantity, unit_price=money(line.unit_price),
                   line_regular=amount, line_price=amount - share, saving=share)
        for line, amount, share in zip(lines, regular, shares, strict=True)
    )
    return BundleQuote(lines=priced, regular_total=regular_total, total=regular_total - saving,
                       saving=saving)


def bundle_margin_ok(lines: Sequence[BundleLine], discount: Discount | None,
                     floor: Decimal) -> bool:
    """The whole bundle keeps margin >= floor after its discount (every line needs a cost)."""
    if any(line.cost is None for line in lines):
        return discount is None
    quote = bundle_quote(lines, discount)
    cost = sum((line.cost * line.quantity for line in lines), ZERO)
    after = margin(quote.total, cost)
    return after is not None and after >= floor


def free_addon_margin_ok(core: BundleLine, addon: BundleLine, floor: Decimal) -> bool:
    """A free add-on with the core item: what the customer pays (the core) must cover both
    costs with the floor's margin."""
    if core.cost is None or addon.cost is None:
        return False
    paid = money(core.unit_price) * core.quantity
    after = margin(paid, core.cost * core.quantity + addon.cost * addon.quantity)
    return after is not None and after >= floor


# --- incentives and the rules engine -----------------------------------------------------------

class IncentiveKind(enum.StrEnum):
    PERCENT_OFF = "percent_off"
    AMOUNT_OFF = "amount_off"
    FREE_ADDON = "free_addon"
    FREE_SHIPPING = "free_shipping"
    LOYALTY_CREDIT = "loyalty_credit"


class Segment(enum.StrEnum):
    NEW = "new"  # one order
    REPEAT = "repeat"
    VIP = "vip"  # spent at least the VIP threshold
    LAPSED = "lapsed"  # no order for LAPSED_DAYS
    FREQUENT = "frequent"  # buys often anyway: never gets an incentive


ANY_SEGMENT = "any"


@dataclass(frozen=True, slots=True)
class CustomerStats:
    orders: int
    orders_last_30_days: int
    spent: Decimal
    last_order_at: datetime | None
    bought_since_enrolment: bool = False


@dataclass(frozen=True, slots=True)
class SegmentPolicy:
    frequent_orders_30_days: int = 3  # the high-frequency guardrail
    lapsed_days: int = 90
    vip_spent: Decimal = Decimal("500.00")


DEFAULT_SEGMENT_POLICY = SegmentPolicy()


def segment_of(stats: CustomerStats, *, now: datetime,
               policy: SegmentPolicy = DEFAULT_SEGMENT_POLICY) -> Segment:
    if stats.orders_last_30_days >= policy.frequent_orders_30_days:
        return Segment.FREQUENT
    if stats.last_order_at is not None and now - stats.last_order_at >= timedelta(
            days=policy.lapsed_days):
        return Segment.LAPSED
    if stats.spent >= policy.vip_spent:
        return Segment.VIP
    return Segment.NEW if stats.orders <= 1 else Segment.REPEAT


@dataclass(frozen=True, slots=True)
class IncentiveOption:
    """An incentive the rules engine can pick (a row of ``offers.Incentive``, as data)."""

    id: int
    kind: IncentiveKind
    level: int  # 0 = the first email may carry it; higher = only after emails without a purchase
    segments: tuple[str, ...] = (ANY_SEGMENT,)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    active: bool = True
    percent_off: Decimal | None = None
    amount_off: Decimal | None = None

    def in_window(self, now: datetime) -> bool:
        return ((self.starts_at is None or self.starts_at <= now)
                and (self.ends_at is None or now < self.ends_at))

    def for_segment(self, segment: Segment) -> bool:
        return ANY_SEGMENT in self.segments or str(segment) in self.segments

    @property
    def discount(self) -> Discount | None:
        if self.kind in (IncentiveKind.PERCENT_OFF,) and self.percent_off:
            return Discount(percent_off=self.percent_off)
        if self.kind in (IncentiveKind.AMOUNT_OFF, IncentiveKind.LOYALTY_CREDIT) and self.amount_off:
            return Discount(amount_off=self.amount_off)
        return None


@dataclass(frozen=True, slots=True)
class IncentiveDecision:
    option: IncentiveOption | None
    reason: str  # a stable code: "frequent_buyer", "bought_since_enrolment", "chosen", ...


def choose_incentive(options: Iterable[IncentiveOption], *, stats: CustomerStats, step: int,
                     now: datetime, policy: SegmentPolicy = DEFAULT_SEGMENT_POLICY) -> IncentiveDecision:
    """Which incentive (if any) this customer's email at ``step`` (0 = first) carries.

    - Never to customers who buy often anyway (the high-frequency guardrail).
    - Escalation only while the customer has not bought: step n may carry an incentive of level
      <= n; once they bought since enrolment, nothing is escalated (level 0 only).
    - Among the active, in-window incentives for the customer's segment with an allowed level,
      the most generous level wins; ties go to the lower id (the older rule).
    """
    segment = segment_of(stats, now=now, policy=policy)
    if segment == Segment.FREQUENT:
        return IncentiveDecision(None, "frequent_buyer")
    max_level = 0 if stats.bought_since_enrolment else max(step, 0)
    allowed = [o for o in options
               if o.active and o.in_window(now) and o.for_segment(segment) and o.level <= max_level]
    if not allowed:
        reason = "bought_since_enrolment" if stats.bought_since_enrolment else "no_incentive_fits"
        return IncentiveDecision(None, reason)
    best = min(allowed, key=lambda o: (-o.level, o.id))
    return IncentiveDecision(best, "chosen")


def code_ends_at(*, now: datetime, valid_for: timedelta, window_ends_at: datetime | None) -> datetime:
    """A code's end: ``valid_for`` from now, never past the incentive's own window."""
    ends = now + valid_for
    return min(ends, window_ends_at) if window_ends_at is not None else ends


# --- honest copy -------------------------------------------------------------------------------

LOW_STOCK_THRESHOLD = 5


def scarcity_copy(inventory_quantity: int | None, *, tracked: bool = True,
                  threshold: int = LOW_STOCK_THRESHOLD) -> str | None:
    """"Only 3 left" from real low inventory; None when stock is untracked, plentiful or gone."""
    if not tracked or inventory_quantity is None:
        return None
    if 0 < inventory_quantity <= threshold:
        return f"Only {inventory_quantity} left"
    return None


def expiry_copy(ends_at: datetime | None, *, now: datetime, timezone_name: str) -> str | None:
    """"Code expires Friday 12 June at 23:59" from the issued code's real end; None without a
    code or once it has ended."""
    if ends_at is None or ends_at <= now:
        return None
    local = ends_at.astimezone(ZoneInfo(timezone_name))
    left = ends_at - now
    if left <= timedelta(hours=24):
        hours = max(1, int(left.total_seconds() // 3600))
        unit = "hour" if hours == 1 else "hours"
        return f"Code expires in {hours} {unit} ({local:%H:%M})"
    return f"Code expires {local:%A} {local.day} {local:%B} at {local:%H:%M}"


# --- caps --------------------------------------------------------------------------------------

def store_day(now: datetime, timezone_name: str) -> str:
    """The store-local date a per-day cap counts against (ISO)."""
    return now.astimezone(ZoneInfo(timezone_name)).date().isoformat()


def cap_allows(used: int, cap: int | None) -> bool:
    return cap is None or used < cap


# --- pruning -----------------------------------------------------------------------------------

class PruneAction(enum.StrEnum):
    KEEP = "keep"
    FLAG = "flag"
    PAUSE = "pause"
    CLEAR = "clear"  # a flagged offer recovered


@dataclass(frozen=True, slots=True)
class PrunePolicy:
    threshold: Decimal = Decimal("0.010")  # conversions / sends
    min_sample: int = 200  # sends before any judgement
    grace_sends: int = 100  # further sends a flagged offer gets before it is paused


DEFAULT_PRUNE_POLICY = PrunePolicy()


def conversion_rate(sends: int, conversions: int) -> Decimal | None:
    if sends <= 0:
        return None
    return Decimal(conversions) / Decimal(sends)


def prune_action(*, sends: int, conversions: int, flagged: bool, sends_at_flag: int | None,
                 policy: PrunePolicy = DEFAULT_PRUNE_POLICY) -> PruneAction:
    """Flag an offer whose conversion is below the threshold once it has ``min_sample`` sends;
    pause a flagged one still below after ``grace_sends`` more; clear a flag that recovered."""
    rate = conversion_rate(sends, conversions)
    if rate is None or sends < policy.min_sample:
        return PruneAction.KEEP
    below = rate < policy.threshold
    if not flagged:
        return PruneAction.FLAG if below else PruneAction.KEEP
    if not below:
        return PruneAction.CLEAR
    if sends - (sends_at_flag or 0) >= policy.grace_sends:
        return PruneAction.PAUSE
    return PruneAction.KEEP
