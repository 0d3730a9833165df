"""An experiment's offer variants reach the email: the incentive it names, the size it sets, with
real codes on the platform and the margin guard still in force."""

from decimal import Decimal

import pytest

from emails.kinds import Kind
from tests.offers.conftest import NOW, priced
from tests.sequences.helpers import customer
from xsell_plugin.offers.models import Incentive, IssuedCode
from xsell_plugin.sequences.content import step_content
from xsell_plugin.sequences.models import Enrollment, Sequence
from xsell_plugin.sequences.services import sequence_create


def _setup(ps):
    store = ps.store
    product = priced(store, ps.product_ext(101), price="50.00", cost="20.00")
    sequence = sequence_create(store=store, key="win", name="Win", trigger=Sequence.Trigger.PRODUCT_PURCHASE,
                               steps=[{"kind": "incentive"}])
    who = customer(store, "ada", email="ada@example.com")
    enrollment = Enrollment.objects.create(
        store=store, sequence=sequence, customer=who, trigger_key="order:1", offer=True,
        triggered_at=NOW, enrolled_at=NOW, facts={"products": [product.external_id]},
        created_at=NOW, updated_at=NOW)
    return store, who, enrollment, sequence.steps.get()


def _content(store, who, enrollment, step, config):
    return step_content(store=store, customer=who, enrollment=enrollment, step=step,
                        kind=Kind.INCENTIVE, variant="v", now=NOW, config=config)


def test_the_variant_size_is_the_code_size(platform_store):
    store, who, enrollment, step = _setup(platform_store)
    Incentive.objects.create(store=store, name="Ten off", kind="percent_off",
                             percent_off=Decimal("10"), code_valid_hours=48)
    content = _content(store, who, enrollment, step, {"percent_off": "15"})
    assert content.kind == Kind.INCENTIVE
    code = IssuedCode.objects.for_store(store).get()
    assert code.percent_off == Decimal("15") and content.context["incentive"]["code"] == code.code
    assert platform_store.discounts()[0]["percent"] == Decimal("15")


def test_the_variant_offer_replaces_the_rules_choice(platform_store):
    store, who, enrollment, step = _setup(platform_store)
    Incentive.objects.create(store=store, name="Ten off", kind="percent_off",
                             percent_off=Decimal("10"), code_valid_hours=48)
    shipping = Incentive.objects.create(store=store, name="Free shipping", kind="free_shipping",
                                        code_valid_hours=48)
    content = _content(store, who, enrollment, step, {"offer_id": shipping.pk})
    assert content.kind == Kind.INCENTIVE
    assert IssuedCode.objects.for_store(store).get().incentive_id == shipping.pk
    assert platform_store.discounts()[0]["free_shipping"] is True


@pytest.mark.parametrize("config", [{"percent_off": "70"}, {"offer_id": 999999}])
def test_a_variant_the_guards_refuse_falls_back_to_recommendations(platform_store, config):
    """70 % off breaks the margin floor; an unknown offer is no offer: no code, plainer email."""
    store, who, enrollment, step = _setup(platform_store)
    Incentive.objects.create(store=store, name="Ten off", kind="percent_off",
                             percent_off=Decimal("10"), code_valid_hours=48)
    content = _content(store, who, enrollment, step, config)
    assert content is None or content.kind != Kind.INCENTIVE
    assert not IssuedCode.objects.for_store(store).exists()
    assert platform_store.discounts() == []
