"""The sequences every store starts with (``services.default_sequences_install``).

Each is (key, settings, steps); a step is (kind, delay after the previous step, options).
Value comes first, offers after, then a follow-up for those who clicked and a feedback check.
Delays are in minutes; send windows are local hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emails.kinds import Kind
from xsell_plugin.sequences.models import Sequence

HOUR = 60
DAY = 24 * HOUR
T = Sequence.Trigger
E = Sequence.ExitOn


@dataclass(frozen=True)
class StepTemplate:
    kind: str
    delay_minutes: int
    window: tuple[int, int] | None = None
    conditions: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SequenceTemplate:
    key: str
    name: str
    trigger: str
    steps: tuple[StepTemplate, ...]
    trigger_config: dict[str, Any] = field(default_factory=dict)
    exit_on: str = E.ANY_ORDER
    priority: int = 0
    reenroll_days: int = 30
    audience: dict[str, Any] = field(default_factory=dict)


DEFAULTS: tuple[SequenceTemplate, ...] = (
    SequenceTemplate(
        key="abandoned-checkout", name="Abandoned checkout", trigger=T.ABANDONED_CHECKOUT,
        trigger_config={"quiet_minutes": 60}, priority=50, reenroll_days=7,
        steps=(StepTemplate(Kind.FOLLOWUP, 0),
               StepTemplate(Kind.INCENTIVE, 1 * DAY, window=(9, 20))),
    ),
    SequenceTemplate(
        key="abandoned-cart", name="Abandoned cart", trigger=T.ABANDONED_CART,
        trigger_config={"quiet_minutes": 120}, priority=40, reenroll_days=7,
        steps=(StepTemplate(Kind.FOLLOWUP, 0),),
    ),
    SequenceTemplate(
        key="first-purchase", name="Welcome after a first purchase", trigger=T.FIRST_PURCHASE,
        exit_on=E.RECOMMENDED_ITEM, priority=30,
        steps=(StepTemplate(Kind.VALUE, 1 * DAY, window=(9, 19)),
               StepTemplate(Kind.COMPLEMENTS, 3 * DAY, window=(9, 19)),
               StepTemplate(Kind.FOLLOWUP, 2 * DAY, conditions={"clicked": True, "bought_since": False}),
               StepTemplate(Kind.FEEDBACK, 7 * DAY, window=(10, 18))),
    ),
    SequenceTemplate(
        key="post-purchase", name="Post-purchase cross-sell", trigger=T.REPEAT_PURCHASE,
        exit_on=E.RECOMMENDED_ITEM, priority=20, reenroll_days=21,
        steps=(StepTemplate(Kind.VALUE, 1 * DAY, window=(9, 19)),
               StepTemplate(Kind.COMPLEMENTS, 2 * DAY, window=(9, 19)),
               StepTemplate(Kind.BUNDLE, 3 * DAY, window=(9, 19), conditions={"bought_since": False}),
               StepTemplate(Kind.FEEDBACK, 5 * DAY, window=(10, 18))),
    ),
    SequenceTemplate(
        key="upgrade-path", name="Upgrade path", trigger=T.UPGRADE_ANNIVERSARY,
        trigger_config={"days": 180}, exit_on=E.RECOMMENDED_ITEM, priority=15, reenroll_days=90,
        steps=(StepTemplate(Kind.UPGRADE, 0, window=(9, 19)),
               StepTemplate(Kind.INCENTIVE, 4 * DAY, window=(9, 19), conditions={"bought_since": False})),
    ),
    SequenceTemplate(
        key="replenishment", name="Replenishment due", trigger=T.REPLENISHMENT_DUE,
        trigger_config={"min_orders": 3, "factor": 1.0}, priority=12, reenroll_days=14,
        steps=(StepTemplate(Kind.COMPLEMENTS, 0, window=(9, 19)),),
    ),
    SequenceTemplate(
        key="browse", name="Browsed but did not buy", trigger=T.REPEATED_BROWSE,
        trigger_config={"min_views": 3, "days": 7}, priority=10, reenroll_days=14,
        steps=(StepTemplate(Kind.FOLLOWUP, 2 * HOUR),),
    ),
    SequenceTemplate(
        key="wishlist", name="Wishlist reminder", trigger=T.WISHLIST_ADD, priority=10,
        reenroll_days=14, steps=(StepTemplate(Kind.FOLLOWUP, 1 * DAY, window=(9, 20)),),
    ),
    SequenceTemplate(
        key="clicked-no-order", name="Clicked but did not buy", trigger=T.CLICKED_NO_ORDER,
        trigger_config={"wait_hours": 24}, priority=25, reenroll_days=14,
        steps=(StepTemplate(Kind.FOLLOWUP, 0, window=(9, 20)),),
    ),
    SequenceTemplate(
        key="win-back", name="Win-back", trigger=T.WIN_BACK, trigger_config={"days": 60},
        priority=5, reenroll_days=90,
        steps=(StepTemplate(Kind.VALUE, 0, window=(9, 19)),
               StepTemplate(Kind.INCENTIVE, 5 * DAY, window=(9, 19)),
               StepTemplate(Kind.FEEDBACK, 10 * DAY, window=(10, 18))),
    ),
)
