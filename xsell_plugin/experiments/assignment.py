"""Pure, deterministic assignment of a customer to a sequence's holdout and an experiment's variant.

No database, no clock, no randomness: the same inputs give the same answer in every process,
forever.

* **Holdout**: ``draw = H("holdout", store, sequence, customer)`` is a number in [0, 1) taken from
  SHA-256 of *stable keys*, not database ids: the store's platform and domain, the sequence's key
  and the customer's id on the platform (``services.unit_keys``). A store that is reinstalled or
  rebuilt, or the same data loaded into another database, draws the same arms. The customer is
  in the holdout (a control: enrolled and logged, never emailed) when ``draw < share``. Lowering
  the share only moves customers from the holdout to treatment, and raising it only the other
  way, so a change never reshuffles everyone. (The stored first assignment still wins: see
  ``services.assignment_for_enrolment``.)
* **Variant**: among treated customers, ``H("variant", store, experiment, customer)`` picks a
  variant by weight. Independent of the holdout draw (different salt), and keyed on the customer,
  not the enrolment, so a customer enrolled twice sees the same variant.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

HOLDOUT = "holdout"
TREATMENT = "treatment"
ARMS = (TREATMENT, HOLDOUT)
DEFAULT_HOLDOUT_SHARE = Decimal("0.100")
MAX_HOLDOUT_SHARE = Decimal("0.500")

_SCALE = float(2**64)


@dataclass(frozen=True, slots=True)
class VariantWeight:
    key: str
    weight: int = 1


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where one enrolment goes: ``arm`` is ``"treatment"`` or ``"holdout"``; ``variant`` is the
    experiment variant's key for treated customers of a sequence with a running experiment,
    else ``None``. ``variant_config`` is what the sequences engine applies (subject, offer,
    incentive size, delay, template...), ``experiment_id`` / ``variant_id`` identify the rows."""

    arm: str
    variant: str | None = None
    experiment_id: int | None = None
    variant_id: int | None = None
    variant_config: dict | None = None
    holdout_share: Decimal = DEFAULT_HOLDOUT_SHARE
    step_id: int | None = None  # the experiment's step (None: every step of the sequence)

    @property
    def is_holdout(self) -> bool:
        return self.arm == HOLDOUT

    @property
    def should_email(self) -> bool:
        return self.arm == TREATMENT


def unit_draw(*parts: object) -> float:
    """A uniform number in [0, 1) from SHA-256 of the parts (64 bits of it)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def holdout_draw(store_id: object, sequence_id: object, customer_id: object) -> float:
    return unit_draw("holdout", store_id, sequence_id, customer_id)


def arm_for(
    store_id: object,
    sequence_id: object,
    customer_id: object,
    holdout_share: Decimal | float = DEFAULT_HOLDOUT_SHARE,
) -> str:
    share = float(holdout_share)
    if not 0.0 <= share <= float(MAX_HOLDOUT_SHARE):
        raise ValueError(f"holdout share must be in [0, {MAX_HOLDOUT_SHARE}], got {holdout_share}")
    return HOLDOUT if holdout_draw(store_id, sequence_id, customer_id) < share else TREATMENT


def variant_for(
    store_id: object, experiment_id: object, customer_id: object, variants: Sequence[VariantWeight]
) -> str:
    """The variant key for one customer, proportional to the weights (ties broken by order)."""
    total = sum(v.weight for v in variants)
    if not variants or total <= 0 or any(v.weight < 0 for v in variants):
        raise ValueError("an experiment needs variants with positive total weight")
    point = unit_draw("variant", store_id, experiment_id, customer_id) * total
    upper = 0
    for variant in variants:
        upper += variant.weight
        if point < upper:
            return variant.key
    return variants[-1].key  # pragma: no cover - float edge


def assign(
    *,
    store_id: object,
    sequence_id: object,
    customer_id: object,
    holdout_share: Decimal | float = DEFAULT_HOLDOUT_SHARE,
    experiment_id: int | None = None,
    variants: Sequence[VariantWeight] = (),
) -> Assignment:
    """Holdout first, then (treated customers only) the experiment's variant."""
    arm = arm_for(store_id, sequence_id, customer_id, holdout_share)
    variant = None
    if arm == TREATMENT and experiment_id is not None and variants:
        variant = variant_for(store_id, experiment_id, customer_id, variants)
    return Assignment(
        arm=arm,
        variant=variant,
        experiment_id=experiment_id if variant else None,
        holdout_share=Decimal(str(holdout_share)),
    )
