"""Holdout and variant assignment: deterministic, stable, ~10 %, recorded once per customer."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.factories import CustomerDataFactory, StoreFactory
from xsell_plugin.customers.models import Customer
from xsell_plugin.customers.services import customers_upsert
from xsell_plugin.experiments import assignment
from xsell_plugin.experiments.assignment import HOLDOUT, TREATMENT, VariantWeight, assign
from xsell_plugin.experiments.models import Experiment, ExperimentAssignment, SequenceAssignment
from xsell_plugin.experiments.services import (
    assignment_for_enrolment,
    experiment_create,
    experiment_start,
    holdout_policy_set,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_assignment_is_a_pure_deterministic_function():
    first = [assign(store_id=1, sequence_id=7, customer_id=c).arm for c in range(2000)]
    again = [assign(store_id=1, sequence_id=7, customer_id=c).arm for c in range(2000)]
    assert first == again
    other_sequence = [assign(store_id=1, sequence_id=8, customer_id=c).arm for c in range(2000)]
    assert first != other_sequence  # independent per sequence


def test_default_holdout_is_about_ten_percent():
    n = 20000
    share = sum(assign(store_id=3, sequence_id=11, customer_id=c).arm == HOLDOUT for c in range(n)) / n
    assert abs(share - 0.10) < 0.01  # binomial sd is 0.002


def test_changing_the_share_only_moves_customers_one_way():
    at10 = {c for c in range(5000) if assignment.arm_for(1, 2, c, Decimal("0.10")) == HOLDOUT}
    at5 = {c for c in range(5000) if assignment.arm_for(1, 2, c, Decimal("0.05")) == HOLDOUT}
    assert at5 <= at10 and len(at5) < len(at10)


def test_variants_follow_their_weights_and_holdouts_get_none():
    variants = [VariantWeight("a", 1), VariantWeight("b", 3)]
    got = [
        assign(store_id=1, sequence_id=5, customer_id=c, experiment_id=9, variants=variants)
        for c in range(8000)
    ]
    treated = [a for a in got if a.arm == TREATMENT]
    assert all(a.variant is None for a in got if a.arm == HOLDOUT)
    share_b = sum(a.variant == "b" for a in treated) / len(treated)
    assert abs(share_b - 0.75) < 0.02


def test_bad_share_is_refused():
    with pytest.raises(ValueError):
        assignment.arm_for(1, 1, 1, Decimal("0.9"))


def _customers(store, n):
    customers_upsert(store=store, customers=[CustomerDataFactory() for _ in range(n)])
    return list(Customer.objects.for_store(store).order_by("pk").values_list("pk", flat=True))


@pytest.mark.django_db
def test_enrolment_hook_records_once_and_keeps_the_arm(store, product_holdout):
    ids = _customers(store, 200)
    arms = {c: assignment_for_enrolment(store.pk, 42, c, now=NOW).arm for c in ids}
    assert SequenceAssignment.objects.for_store(store).count() == 200
    holdout_policy_set(store=store, share="0.5", sequence_id=42)  # later change of share
    again = {c: assignment_for_enrolment(store.pk, 42, c, now=NOW).arm for c in ids}
    assert again == arms  # the stored first assignment wins
    assert SequenceAssignment.objects.for_store(store).count() == 200
    holdout = [c for c, a in arms.items() if a == HOLDOUT]
    assert holdout and all(not assignment_for_enrolment(store.pk, 42, c).should_email for c in holdout)


@pytest.mark.django_db
def test_per_sequence_share_and_store_default(store):
    ids = _customers(store, 300)
    holdout_policy_set(store=store, share="0")
    holdout_policy_set(store=store, share="0.5", sequence_id=9)
    assert all(assignment_for_enrolment(store.pk, 1, c, now=NOW).arm == TREATMENT for c in ids)
    in_9 = sum(assignment_for_enrolment(store.pk, 9, c, now=NOW).arm == HOLDOUT for c in ids)
    assert 100 < in_9 < 200


@pytest.mark.django_db
def test_running_experiment_assigns_treated_customers_a_variant(store):
    ids = _customers(store, 200)
    experiment = experiment_create(
        store=store,
        name="Subject test",
        sequence_id=5,
        factor=Experiment.Factor.SUBJECT,
        baseline_rate=Decimal("0.05"),
        variants=[
            {"key": "control", "is_control": True, "config": {"subject": "A"}},
            {"key": "short", "config": {"subject": "B"}},
        ],
    )
    before = assignment_for_enrolment(store.pk, 5, ids[0], now=NOW)
    assert before.variant is None  # a draft assigns nobody
    experiment_start(store=store, experiment_id=experiment.pk, now=NOW)
    results = [assignment_for_enrolment(store.pk, 5, c, now=NOW) for c in ids]
    treated = [a for a in results if a.arm == TREATMENT]
    assert {a.variant for a in treated} == {"control", "short"}
    assert all(a.variant_config == {"subject": "A" if a.variant == "control" else "B"} for a in treated)
    assert all(a.variant is None for a in results if a.arm == HOLDOUT)
    assert ExperimentAssignment.objects.for_store(store).count() == len(treated)
    repeat = [assignment_for_enrolment(store.pk, 5, c, now=NOW).variant for c in ids]
    assert repeat == [a.variant for a in results]


@pytest.mark.django_db
def test_arms_hash_stable_keys_not_database_ids(store, product_holdout):
    """The same store (platform + domain), sequence key and customer ids draw the same arms after
    the store is rebuilt with new primary keys; another store draws its own."""
    data = [CustomerDataFactory() for _ in range(300)]
    customers_upsert(store=store, customers=data)

    def arms(s, sequence_id):
        rows = Customer.objects.for_store(s).values_list("pk", "external_id")
        return {ext: assignment_for_enrolment(s.pk, sequence_id, pk, sequence_key="post-purchase",
                                              now=NOW).arm for pk, ext in rows}

    first = arms(store, 7)
    assert 10 < sum(a == HOLDOUT for a in first.values()) < 60
    domain, platform = store.domain, store.platform
    store.delete()
    rebuilt = StoreFactory(domain=domain, platform=platform)
    customers_upsert(store=rebuilt, customers=data)
    assert arms(rebuilt, 1234) == first  # new store id, new sequence id, new customer ids
    other = StoreFactory(platform=platform)
    customers_upsert(store=other, customers=data)
    assert arms(other, 7) != first
