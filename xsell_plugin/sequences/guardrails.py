"""Guardrails across all sequences: pure functions of ``now``, the policy and prefetched history.

A send goes out only if, for this customer:

- fewer than ``max_per_window`` marketing emails went out in the rolling ``window`` (tighter for
  frequent buyers and for customers who asked for fewer emails);
- the last one is at least ``min_spacing`` old;
- an offer is at least ``offer_gap`` after the previous offer;

and the store's sequences have not reached ``daily_cap`` today (counted by
``DailySendCount``; see ``services``). A decision that fails names a reason code and, when
waiting would help, the earliest time it could pass (``retry_at``): the caller defers the send
to then when that is soon enough, and skips it otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from emails.kinds import Kind

# Emails that carry an offer (products to buy, a bundle, a code); "no two offers in 48 h".
OFFER_KINDS = frozenset({Kind.COMPLEMENTS, Kind.UPGRADE, Kind.BUNDLE, Kind.INCENTIVE, Kind.FOLLOWUP})


class Reason:
    """Reason codes recorded on a skipped (or deferred) ScheduledSend."""

    WINDOW_CAP = "window_cap"
    FREQUENT_BUYER_CAP = "frequent_buyer_cap"
    FEWER_EMAILS_CAP = "fewer_emails_cap"
    MIN_SPACING = "min_spacing"
    OFFER_GAP = "offer_gap"
    STORE_DAILY_CAP = "store_daily_cap"
    # not guardrails, but recorded the same way
    STORE_INACTIVE = "store_inactive"
    SEQUENCE_INACTIVE = "sequence_inactive"
    ENROLLMENT_ENDED = "enrollment_ended"
    CUSTOMER_GONE = "customer_gone"
    NO_EMAIL = "no_email"
    SUPPRESSED = "suppressed"
    LEFT_SEQUENCE = "left_sequence"
    PURCHASED = "purchased"
    CHECKOUT_COMPLETED = "checkout_completed"
    PAUSED_TOO_LONG = "paused_too_long"
    HELD_TOO_LONG = "held_too_long"
    CONDITION_SEGMENT = "condition_segment"
    CONDITION_CLICKED = "condition_clicked"
    CONDITION_NOT_CLICKED = "condition_not_clicked"
    CONDITION_BOUGHT = "condition_bought"
    CONDITION_NOT_BOUGHT = "condition_not_bought"
    NO_CONTENT = "no_content"
    FAILED = "failed"  # the step raised MAX_FAILURES times
    # deferrals (the send stays scheduled)
    DEFERRED_WINDOW = "deferred_window"
    DEFERRED_PAUSE = "deferred_pause"


@dataclass(frozen=True, slots=True)
class Policy:
    """A store's caps (defaults documented in docs/sequences.md)."""

    max_per_window: int = 3
    window: timedelta = timedelta(days=7)
    min_spacing: timedelta = timedelta(hours=20)
    offer_gap: timedelta = timedelta(hours=48)
    frequent_buyer_orders: int = 4  # orders within frequent_buyer_period make a frequent buyer
    frequent_buyer_period: timedelta = timedelta(days=30)
    frequent_buyer_max_per_window: int = 1
    fewer_max_per_window: int = 1  # the customer chose "fewer emails"
    daily_cap: int = 5000  # store-wide per local day; 0: no cap
    quiet_start_hour: int = 21
    quiet_end_hour: int = 8
    freshness: timedelta = timedelta(hours=48)
    soft_opt_in: bool = False

    @property
    def lookback(self) -> timedelta:
        """How much send history the checks need."""
        return max(self.window, self.offer_gap, self.min_spacing)


@dataclass(frozen=True, slots=True)
class SentEmail:
    """One marketing email the customer got (or is about to get: sending, unknown)."""

    at: datetime
    kind: str


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str = ""
    retry_at: datetime | None = None


ALLOW = Decision(True)


def window_limit(policy: Policy, *, recent_orders: int, fewer: bool) -> tuple[int, str]:
    """The per-window cap for this customer and the reason code if it is hit."""
    limit, reason = policy.max_per_window, Reason.WINDOW_CAP
    if recent_orders >= policy.frequent_buyer_orders and policy.frequent_buyer_max_per_window < limit:
        limit, reason = policy.frequent_buyer_max_per_window, Reason.FREQUENT_BUYER_CAP
    if fewer and policy.fewer_max_per_window < limit:
        limit, reason = policy.fewer_max_per_window, Reason.FEWER_EMAILS_CAP
    return limit, reason


def evaluate(*, now: datetime, kind: str, history: Sequence[SentEmail], policy: Policy,
             recent_orders: int = 0, fewer: bool = False) -> Decision:
    """May an email of ``kind`` go to this customer at ``now``? ``history``: their marketing
    emails of at least the last ``policy.lookback`` (older ones are ignored; future-dated ones
    count as if sent)."""
    in_window = sorted(e.at for e in history if e.at > now - policy.window)
    limit, reason = window_limit(policy, recent_orders=recent_orders, fewer=fewer)
    if len(in_window) >= limit:
        # The window frees up when the oldest email that keeps it full leaves it.
        oldest_blocking = in_window[len(in_window) - limit] if limit > 0 else None
        retry = oldest_blocking + policy.window if oldest_blocking is not None else None
        return Decision(False, reason, retry)
    last = max((e.at for e in history), default=None)
    if last is not None and now - last < policy.min_spacing:
        return Decision(False, Reason.MIN_SPACING, last + policy.min_spacing)
    if kind in OFFER_KINDS:
        last_offer = max((e.at for e in history if e.kind in OFFER_KINDS), default=None)
        if last_offer is not None and now - last_offer < policy.offer_gap:
            return Decision(False, Reason.OFFER_GAP, last_offer + policy.offer_gap)
    return ALLOW
