"""Holdouts and experiments in the running engine: controls are enrolled and logged but never
emailed; a running experiment's variant decides the subject, the kind and the timing."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from emails.models import OutboundEmail, OutboxMessage
from tests.sequences.helpers import customer, order
from xsell_plugin.experiments.assignment import HOLDOUT, TREATMENT
from xsell_plugin.experiments.models import Experiment, ExperimentAssignment, SequenceAssignment
from xsell_plugin.experiments.services import experiment_create, experiment_start, holdout_policy_set
from xsell_plugin.sequences.models import Enrollment, ScheduledSend, Sequence
from xsell_plugin.sequences.services import sequence_create

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)


def _sequence(store, steps=None):
    return sequence_create(store=store, key="after-purchase", name="After purchase",
                           trigger=Sequence.Trigger.PRODUCT_PURCHASE,
                           steps=steps or [{"kind": "value", "delay_minutes": 60}])


def _buyers(store, engine, n, at=T0):
    people = [customer(store, f"buyer-{i}") for i in range(n)]
    with engine.at(at):
        for i, who in enumerate(people):
            order(store, who, at, ext=f"order-{i}")
    return people


def test_holdout_customers_are_enrolled_and_logged_but_never_emailed(shop, engine):
    sequence = _sequence(shop)
    holdout_policy_set(store=shop, share="0.3", sequence_id=sequence.pk)
    engine.scan(T0 - H)
    people = _buyers(shop, engine, 60)
    result = engine.scan(T0 + 5 * M)
    engine.run_until(T0 + 3 * D)

    arms = dict(SequenceAssignment.objects.for_store(shop).values_list("customer__external_id", "arm"))
    assert len(arms) == 60
    held = {ext for ext, arm in arms.items() if arm == HOLDOUT}
    assert 5 < len(held) < 35  # ~30 %
    assert result.enrolled["after-purchase"] == 60
    assert result.held_out["after-purchase"] == len(held)

    enrollments = {e.customer.external_id: e for e in
                   Enrollment.objects.for_store(shop).select_related("customer")}
    assert set(enrollments) == {p.external_id for p in people}  # everyone is logged
    for ext, enrollment in enrollments.items():
        if ext in held:
            assert (enrollment.status, enrollment.exit_reason) == ("exited", "holdout")
        else:
            assert enrollment.status == "completed"
    emailed = set(OutboundEmail.objects.for_store(shop).values_list("customer__external_id", flat=True))
    assert emailed == set(arms) - held  # every treated customer, and no control
    assert not ScheduledSend.objects.for_store(shop).filter(
        enrollment__customer__external_id__in=held).exists()


def test_a_customer_keeps_their_arm_on_the_next_enrolment(shop, engine):
    sequence = _sequence(shop)
    sequence.reenroll_days = 0
    sequence.save(update_fields=["reenroll_days"])
    holdout_policy_set(store=shop, share="0.5", sequence_id=sequence.pk)
    engine.scan(T0 - H)
    people = _buyers(shop, engine, 20)
    engine.scan(T0 + 5 * M)
    first = dict(SequenceAssignment.objects.for_store(shop).values_list("customer_id", "arm"))
    assert set(first.values()) == {HOLDOUT, TREATMENT}
    holdout_policy_set(store=shop, share="0", sequence_id=sequence.pk)  # the share changes later
    with engine.at(T0 + 2 * D):
        for i, who in enumerate(people):
            order(shop, who, T0 + 2 * D, ext=f"again-{i}")
    engine.scan(T0 + 2 * D + 5 * M)
    second = Enrollment.objects.for_store(shop).filter(trigger_key__startswith="order:again-")
    assert second.count() == 20
    for enrollment in second:
        expected = "holdout" if first[enrollment.customer_id] == HOLDOUT else ""
        assert enrollment.exit_reason == expected


def _experiment(store, sequence, factor, variants, step_id=None):
    experiment = experiment_create(store=store, name=f"{factor} test", sequence_id=sequence.pk,
                                   step_id=step_id, factor=factor, baseline_rate=Decimal("0.05"),
                                   variants=variants)
    return experiment_start(store=store, experiment_id=experiment.pk, now=T0 - D)


def test_a_subject_line_experiment_sends_each_variant_its_subject(shop, engine):
    sequence = _sequence(shop)
    holdout_policy_set(store=shop, share="0.1", sequence_id=sequence.pk)
    experiment = _experiment(shop, sequence, Experiment.Factor.SUBJECT, [
        {"key": "control", "is_control": True, "config": {}},
        {"key": "named", "config": {"subject": "{first_name}, one idea for your new things"}},
    ])
    engine.scan(T0 - H)
    _buyers(shop, engine, 40)
    engine.scan(T0 + 5 * M)
    engine.run_until(T0 + 3 * D)

    variants = dict(ExperimentAssignment.objects.for_store(shop).filter(experiment=experiment)
                    .values_list("customer_id", "variant__key"))
    treated = set(SequenceAssignment.objects.for_store(shop).filter(arm=TREATMENT)
                  .values_list("customer_id", flat=True))
    assert set(variants) == treated  # holdouts are never in the experiment
    assert set(variants.values()) == {"control", "named"}
    emails = OutboundEmail.objects.for_store(shop).select_related("customer")
    assert {e.customer_id for e in emails} == treated
    for email in emails:
        send = ScheduledSend.objects.get(outbound=email)
        assert send.variant == variants[email.customer_id]
        subject = OutboxMessage.objects.get(outbound=email).subject  # what went out
        if send.variant == "named":
            assert subject == f"{email.customer.first_name}, one idea for your new things"
        else:
            assert "one idea for your new things" not in subject


def test_a_timing_experiment_moves_only_its_step(shop, engine):
    sequence = _sequence(shop, steps=[{"kind": "value", "delay_minutes": 60},
                                      {"kind": "feedback", "delay_minutes": 3 * 24 * 60}])
    holdout_policy_set(store=shop, share="0", sequence_id=sequence.pk)
    second = sequence.steps.get(position=2)
    _experiment(shop, sequence, Experiment.Factor.TIMING, [
        {"key": "three-days", "is_control": True, "config": {}},
        {"key": "five-days", "config": {"delay_hours": 120}},
    ], step_id=second.pk)
    engine.scan(T0 - H)
    _buyers(shop, engine, 30)
    engine.scan(T0 + 5 * M)
    firsts = ScheduledSend.objects.for_store(shop).filter(step__position=1)
    assert {s.variant for s in firsts} == {"a"}  # the experiment is not about step 1
    assert {s.due_at for s in firsts} == {T0 + 5 * M + H}
    engine.run_until(T0 + 10 * D)
    gaps = {}
    for send in ScheduledSend.objects.for_store(shop).filter(step=second).select_related("enrollment"):
        first = ScheduledSend.objects.get(enrollment=send.enrollment, step__position=1)
        gaps.setdefault(send.variant, set()).add(send.first_due_at - first.finished_at)
    assert gaps == {"three-days": {3 * D}, "five-days": {5 * D}}
