"""Reads for experiments: holdout shares, experiments, and an experiment's results."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from xsell_plugin.core.exceptions import NotFound
from xsell_plugin.experiments import statistics
from xsell_plugin.experiments.assignment import DEFAULT_HOLDOUT_SHARE
from xsell_plugin.experiments.models import Experiment, ExperimentAssignment, HoldoutPolicy, Variant
from xsell_plugin.experiments.outcomes import matured_before, units_by, with_outcomes
from xsell_plugin.stores.models import Store


def holdout_share_get(*, store_id: int, sequence_id: int | None) -> Decimal:
    """The sequence's share, else the store's default, else ``settings.XSELL_HOLDOUT_SHARE``
    (10 % unless configured)."""
    shares = dict(
        HoldoutPolicy.objects.filter(store_id=store_id)
        .filter(Q(sequence_id=sequence_id) | Q(sequence_id__isnull=True))
        .values_list("sequence_id", "share")
    )
    if sequence_id is not None and sequence_id in shares:
        return shares[sequence_id]
    return shares.get(None, Decimal(settings.XSELL_HOLDOUT_SHARE).quantize(DEFAULT_HOLDOUT_SHARE))


def holdout_policy_list(*, store: Store) -> QuerySet:
    return HoldoutPolicy.objects.for_store(store).order_by("sequence_id", "pk")


def holdout_policy_get(*, store: Store, policy_id: int) -> HoldoutPolicy:
    policy = HoldoutPolicy.objects.for_store(store).filter(pk=policy_id).first()
    if policy is None:
        raise NotFound("No such holdout policy.")
    return policy


def running_experiment(*, store_id: int, sequence_id: int) -> Experiment | None:
    return Experiment.objects.filter(
        store_id=store_id, sequence_id=sequence_id, status=Experiment.Status.RUNNING
    ).first()


def experiment_list(*, store: Store) -> QuerySet:
    return (
        Experiment.objects.for_store(store)
        .prefetch_related("variants")
        .annotate(assigned=Count("assignments", distinct=True))
        .order_by("-created_at", "-pk")
    )


def experiment_get(*, store: Store, experiment_id: int, for_update: bool = False) -> Experiment:
    qs = Experiment.objects.for_store(store)
    if for_update:
        qs = qs.select_for_update()
    experiment = qs.filter(pk=experiment_id).first()
    if experiment is None:
        raise NotFound("No such experiment.", extra={"experiment_id": experiment_id})
    return experiment


@dataclass(frozen=True, slots=True)
class ArmResult:
    key: str
    name: str
    is_control: bool
    assigned: int
    matured: int
    conversions: int
    conversion_rate: float | None
    revenue_per_recipient: float | None
    vs_control: dict | None = None  # Estimate.as_dict() + adjusted p-value


@dataclass(frozen=True, slots=True)
class ExperimentResults:
    experiment_id: int
    status: str
    metric: str
    decision: str  # collecting | significant | no_difference | not_started
    message: str
    planned_per_arm: int | None
    horizon_days: int
    alpha: float
    arms: list[ArmResult] = field(default_factory=list)


def experiment_results(
    *, store: Store, experiment_id: int, now: datetime | None = None
) -> ExperimentResults:
    """Each variant against the control on the experiment's metric, over matured units.

    Fixed-horizon plan: the verdict is given only once every arm has ``planned_per_arm`` matured
    units. Before that the intervals are shown as interim figures and the decision is
    ``collecting``: stopping on them would inflate the false-positive rate.
    """
    now = now or timezone.now()
    experiment = experiment_get(store=store, experiment_id=experiment_id)
    variants = list(Variant.objects.for_store(store).filter(experiment=experiment).order_by("pk"))
    alpha = float(experiment.alpha)
    base = ExperimentAssignment.objects.for_store(store).filter(experiment=experiment)
    assigned = dict(base.order_by().values("variant").annotate(n=Count("pk")).values_list("variant", "n"))
    matured = with_outcomes(
        base.filter(first_exposed_at__lte=matured_before(now, experiment.horizon_days)),
        start_field="first_exposed_at",
        horizon_days=experiment.horizon_days,
    )
    units = units_by(matured, "variant")
    control = next((v for v in variants if v.is_control), None)
    comparisons = max(1, len(variants) - 1)
    ci_alpha = alpha / comparisons  # Bonferroni-widened intervals for several variants

    estimates: dict[int, statistics.Estimate | None] = {}
    if control is not None:
        c = units.get(control.pk)
        for v in variants:
            if v.pk == control.pk:
                continue
            t = units.get(v.pk)
            if c is None or t is None:
                estimates[v.pk] = None
            elif experiment.metric == Experiment.Metric.CONVERSION:
                estimates[v.pk] = statistics.difference_in_proportions(
                    t.conversions, t.n, c.conversions, c.n, alpha=ci_alpha
                )
            else:
                estimates[v.pk] = statistics.difference_in_means_best(
                    t.revenue, t.pre_revenue, c.revenue, c.pre_revenue, alpha=ci_alpha
                )
    tested = [(pk, e) for pk, e in estimates.items() if e is not None]
    adjusted = dict(
        zip(
            [pk for pk, _ in tested],
            statistics.adjust_pvalues([e.p_value for _, e in tested], alpha=alpha),
            strict=True,
        )
    )

    arms = []
    for v in variants:
        u = units.get(v.pk)
        est = estimates.get(v.pk)
        vs = None
        if est is not None:
            vs = {
                **est.as_dict(),
                "p_value_adjusted": adjusted[v.pk],
                "significant": adjusted[v.pk] < alpha,
            }
        arms.append(
            ArmResult(
                key=v.key,
                name=v.name,
                is_control=v.is_control,
                assigned=assigned.get(v.pk, 0),
                matured=u.n if u else 0,
                conversions=u.conversions if u else 0,
                conversion_rate=(u.conversions / u.n) if u and u.n else None,
                revenue_per_recipient=float(u.revenue.mean()) if u and u.n else None,
                vs_control=vs,
            )
        )

    planned = experiment.planned_per_arm
    if experiment.status == Experiment.Status.DRAFT:
        decision, message = "not_started", "The experiment has not started."
    elif planned is None or any(a.matured < planned for a in arms):
        smallest = min((a.matured for a in arms), default=0)
        decision = "collecting"
        message = (
            f"Interim figures: {smallest} of {planned} matured recipients in the smallest arm. "
            "The plan is fixed-horizon: do not stop on these intervals."
        )
    elif any(a.vs_control and a.vs_control["significant"] for a in arms):
        decision, message = "significant", "At least one variant differs from the control."
    else:
        decision, message = "no_difference", "No variant differs detectably from the control."
    return ExperimentResults(
        experiment_id=experiment.pk,
        status=experiment.status,
        metric=experiment.metric,
        decision=decision,
        message=message,
        planned_per_arm=planned,
        horizon_days=experiment.horizon_days,
        alpha=alpha,
        arms=arms,
    )
