"""Writes for experiments: holdout policies, the enrolment hook, experiments and their variants.

The sequences engine calls exactly one function, at every enrolment::

    from xsell_plugin.experiments.services import assignment_for_enrolment

    a = assignment_for_enrolment(store_id, sequence_id, customer_id,   # inside its transaction
                                 sequence_key=sequence.key)
    if a.is_holdout:      # a control: keep the enrolment (logged), schedule no email
        ...
    else:                 # treated; a.variant / a.variant_config when an experiment is running
        ...

It is idempotent: the first call records the customer's arm (and variant) and every later call
for the same store, sequence and customer (and experiment) returns what was recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from xsell_plugin.core.exceptions import Conflict, NotFound, ValidationFailed
from xsell_plugin.customers.models import Customer
from xsell_plugin.experiments import statistics
from xsell_plugin.experiments.assignment import (
    MAX_HOLDOUT_SHARE,
    TREATMENT,
    Assignment,
    VariantWeight,
    arm_for,
    variant_for,
)
from xsell_plugin.experiments.models import (
    Experiment,
    ExperimentAssignment,
    HoldoutPolicy,
    SequenceAssignment,
    Variant,
)
from xsell_plugin.experiments.selectors import experiment_get, holdout_share_get, running_experiment
from xsell_plugin.stores.models import Store

# Holdout policies --------------------------------------------------------------------------------


def _share(value: Any) -> Decimal:
    try:
        share = Decimal(str(value)).quantize(Decimal("0.001"))
    except (InvalidOperation, ValueError):
        raise ValidationFailed("The holdout share must be a number.", extra={"share": value}) from None
    if not Decimal("0") <= share <= MAX_HOLDOUT_SHARE:
        raise ValidationFailed(
            f"The holdout share must be between 0 and {MAX_HOLDOUT_SHARE}.", extra={"share": str(share)}
        )
    return share


def holdout_policy_set(*, store: Store, share: Any, sequence_id: int | None = None) -> HoldoutPolicy:
    """Set the store's default holdout share (``sequence_id`` None) or one sequence's."""
    share = _share(share)
    now = timezone.now()
    with transaction.atomic():
        policy = (
            HoldoutPolicy.objects.for_store(store)
            .select_for_update()
            .filter(sequence_id=sequence_id)
            .first()
        )
        if policy is None:
            try:
                with transaction.atomic():
                    return HoldoutPolicy.objects.create(store=store, sequence_id=sequence_id, share=share)
            except IntegrityError:  # created concurrently: fall through to the update
                policy = HoldoutPolicy.objects.for_store(store).get(sequence_id=sequence_id)
        policy.share = share
        policy.updated_at = now
        policy.save(update_fields=["share", "updated_at"])
    return policy


def holdout_policy_delete(*, store: Store, policy_id: int) -> None:
    policy = HoldoutPolicy.objects.for_store(store).filter(pk=policy_id).first()
    if policy is None:
        raise NotFound("No such holdout policy.")
    if policy.sequence_id is None:
        raise ValidationFailed("The store's default holdout cannot be removed; set its share instead.")
    policy.delete()


# The enrolment hook ------------------------------------------------------------------------------


def unit_keys(store_id: int, customer_id: int) -> tuple[str, str]:
    """The stable hash keys of a store and a customer: the store's platform and domain, and the
    customer's id on the platform (its email, then our id, when it has none)."""
    store = Store.objects.filter(pk=store_id).values_list("platform", "domain").first()
    customer = (
        Customer.objects.filter(store_id=store_id, pk=customer_id)
        .values_list("external_id", "email")
        .first()
    )
    if store is None or customer is None:
        raise NotFound("No such customer.", extra={"customer_id": customer_id})
    external_id, email = customer
    return f"{store[0]}:{store[1]}", str(external_id or (email or "").lower() or f"id:{customer_id}")


def assignment_for_enrolment(
    store_id: int,
    sequence_id: int,
    customer_id: int,
    experiment: Experiment | int | None = None,
    *,
    sequence_key: str | None = None,
    now: datetime | None = None,
) -> Assignment:
    """Arm (and variant) of one enrolment; records the first one and returns it ever after.

    ``experiment``: an ``Experiment`` (or id) to assign in; default the sequence's running one.
    ``sequence_key``: the sequence's stable key (its id when not given) for the holdout draw.
    Holdout customers are never put in an experiment.
    """
    now = now or timezone.now()
    share = holdout_share_get(store_id=store_id, sequence_id=sequence_id)
    store_key, customer_key = unit_keys(store_id, customer_id)
    arm = arm_for(store_key, sequence_key or sequence_id, customer_key, share)
    SequenceAssignment.objects.bulk_create(
        [
            SequenceAssignment(
                store_id=store_id,
                sequence_id=sequence_id,
                customer_id=customer_id,
                arm=arm,
                holdout_share=share,
                first_enrolled_at=now,
                created_at=now,
                updated_at=now,
            )
        ],
        ignore_conflicts=True,
    )
    stored = (
        SequenceAssignment.objects.filter(
            store_id=store_id, sequence_id=sequence_id, customer_id=customer_id
        )
        .values_list("arm", "holdout_share")
        .first()
    )
    if stored is None:  # the customer row is gone (deleted concurrently)
        raise NotFound("No such customer.", extra={"customer_id": customer_id})
    arm, share = stored
    if arm != TREATMENT:
        return Assignment(arm=arm, holdout_share=share)

    if experiment is None:
        experiment = running_experiment(store_id=store_id, sequence_id=sequence_id)
    elif not isinstance(experiment, Experiment):
        experiment = Experiment.objects.filter(store_id=store_id, pk=experiment).first()
    if (
        experiment is None
        or experiment.store_id != store_id
        or experiment.status != Experiment.Status.RUNNING
    ):
        return Assignment(arm=arm, holdout_share=share)
    variants = list(Variant.objects.filter(store_id=store_id, experiment=experiment).order_by("pk"))
    if not variants:
        return Assignment(arm=arm, holdout_share=share)
    key = variant_for(
        store_key, experiment.pk, customer_key, [VariantWeight(v.key, v.weight) for v in variants]
    )
    by_key = {v.key: v for v in variants}
    ExperimentAssignment.objects.bulk_create(
        [
            ExperimentAssignment(
                store_id=store_id,
                experiment=experiment,
                variant=by_key[key],
                customer_id=customer_id,
                first_exposed_at=now,
                created_at=now,
                updated_at=now,
            )
        ],
        ignore_conflicts=True,
    )
    variant_id = (
        ExperimentAssignment.objects.filter(
            store_id=store_id, experiment=experiment, customer_id=customer_id
        )
        .values_list("variant_id", flat=True)
        .first()
    )
    variant = next((v for v in variants if v.pk == variant_id), by_key[key])
    return Assignment(
        arm=arm,
        variant=variant.key,
        experiment_id=experiment.pk,
        variant_id=variant.pk,
        variant_config=dict(variant.config),
        holdout_share=share,
        step_id=experiment.step_id,
    )


# Experiments ------------------------------------------------------------------------------------

EXPERIMENT_FIELDS = (
    "name",
    "sequence_id",
    "step_id",
    "factor",
    "hypothesis",
    "metric",
    "alpha",
    "power",
    "minimum_detectable_effect",
    "baseline_rate",
    "baseline_mean",
    "baseline_sd",
    "horizon_days",
)


def _variants_check(variants: Sequence[dict[str, Any]]) -> None:
    if len(variants) < 2:
        raise ValidationFailed("An experiment needs at least two variants.")
    keys = [v["key"] for v in variants]
    if len(set(keys)) != len(keys):
        raise ValidationFailed("Variant keys must be unique.", extra={"keys": keys})
    if sum(1 for v in variants if v.get("is_control")) != 1:
        raise ValidationFailed("Exactly one variant is the control.")
    if any(int(v.get("weight", 1)) < 1 for v in variants):
        raise ValidationFailed("Variant weights must be at least 1.")


def _variants_write(store: Store, experiment: Experiment, variants: Sequence[dict[str, Any]]) -> None:
    Variant.objects.filter(store=store, experiment=experiment).delete()
    Variant.objects.bulk_create(
        [
            Variant(
                store=store,
                experiment=experiment,
                key=v["key"],
                name=v.get("name", ""),
                weight=int(v.get("weight", 1)),
                is_control=bool(v.get("is_control", False)),
                config=v.get("config") or {},
            )
            for v in variants
        ]
    )


def experiment_create(*, store: Store, variants: Sequence[dict[str, Any]], **fields: Any) -> Experiment:
    unknown = set(fields) - set(EXPERIMENT_FIELDS)
    if unknown:
        raise ValidationFailed("Unknown experiment fields.", extra={"fields": sorted(unknown)})
    _variants_check(variants)
    with transaction.atomic():
        experiment = Experiment.objects.create(store=store, **fields)
        _variants_write(store, experiment, variants)
    return experiment


def experiment_update(
    *, store: Store, experiment_id: int, variants: Sequence[dict[str, Any]] | None = None, **fields: Any
) -> Experiment:
    """Change a draft. A running or stopped experiment keeps its plan (only name and hypothesis
    may change), so its figures stay honest."""
    unknown = set(fields) - set(EXPERIMENT_FIELDS)
    if unknown:
        raise ValidationFailed("Unknown experiment fields.", extra={"fields": sorted(unknown)})
    with transaction.atomic():
        experiment = experiment_get(store=store, experiment_id=experiment_id, for_update=True)
        if experiment.status != Experiment.Status.DRAFT and (
            variants is not None or set(fields) - {"name", "hypothesis"}
        ):
            raise Conflict(
                "Only a draft experiment's plan and variants can change.",
                extra={"status": experiment.status},
            )
        for name, value in fields.items():
            setattr(experiment, name, value)
        experiment.updated_at = timezone.now()
        experiment.save()
        if variants is not None:
            _variants_check(variants)
            _variants_write(store, experiment, variants)
    return experiment


def experiment_delete(*, store: Store, experiment_id: int) -> None:
    experiment = experiment_get(store=store, experiment_id=experiment_id)
    if experiment.status == Experiment.Status.RUNNING:
        raise Conflict("Stop the experiment before deleting it.")
    experiment.delete()


def experiment_plan(experiment: Experiment) -> int | None:
    """Units per arm of the fixed-horizon plan, from the baseline, the MDE, alpha and power
    (``None`` when the baseline is not given)."""
    comparisons = max(1, Variant.objects.filter(experiment=experiment).count() - 1)
    mde, alpha, power = (
        float(experiment.minimum_detectable_effect),
        float(experiment.alpha),
        float(experiment.power),
    )
    try:
        if experiment.metric == Experiment.Metric.CONVERSION and experiment.baseline_rate is not None:
            return statistics.sample_size_conversion(
                float(experiment.baseline_rate), mde, alpha=alpha, power=power, comparisons=comparisons
            )
        if (
            experiment.metric == Experiment.Metric.REVENUE
            and experiment.baseline_mean is not None
            and experiment.baseline_sd is not None
        ):
            return statistics.sample_size_revenue(
                float(experiment.baseline_mean),
                float(experiment.baseline_sd),
                mde,
                alpha=alpha,
                power=power,
                comparisons=comparisons,
            )
    except ValueError as exc:
        raise ValidationFailed(f"The plan cannot be computed: {exc}") from None
    return None


def experiment_start(*, store: Store, experiment_id: int, now: datetime | None = None) -> Experiment:
    """Freeze the plan (sample size per arm) and start assigning. One running per sequence."""
    now = now or timezone.now()
    with transaction.atomic():
        experiment = experiment_get(store=store, experiment_id=experiment_id, for_update=True)
        if experiment.status != Experiment.Status.DRAFT:
            raise Conflict("Only a draft experiment can start.", extra={"status": experiment.status})
        planned = experiment_plan(experiment)
        if planned is None:
            raise ValidationFailed(
                "State the plan first: a baseline conversion rate (conversion) or baseline mean "
                "and standard deviation (revenue), so the sample size is fixed up front."
            )
        experiment.planned_per_arm = planned
        experiment.status = Experiment.Status.RUNNING
        experiment.started_at = now
        experiment.updated_at = now
        try:
            with transaction.atomic():
                experiment.save()
        except IntegrityError:
            raise Conflict(
                "Another experiment is already running in this sequence.",
                extra={"sequence_id": experiment.sequence_id},
            ) from None
    return experiment


def experiment_stop(
    *, store: Store, experiment_id: int, winner: str | None = None, now: datetime | None = None
) -> Experiment:
    now = now or timezone.now()
    with transaction.atomic():
        experiment = experiment_get(store=store, experiment_id=experiment_id, for_update=True)
        if experiment.status != Experiment.Status.RUNNING:
            raise Conflict("Only a running experiment can stop.", extra={"status": experiment.status})
        if winner is not None:
            chosen = Variant.objects.filter(store=store, experiment=experiment, key=winner).first()
            if chosen is None:
                raise ValidationFailed("No such variant.", extra={"winner": winner})
            experiment.winner = chosen
        experiment.status = Experiment.Status.STOPPED
        experiment.stopped_at = now
        experiment.updated_at = now
        experiment.save()
    return experiment
