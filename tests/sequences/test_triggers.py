"""Every trigger, with the clock travelled: who is enrolled, when, and what goes out."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.sequences.helpers import activity, checkout, customer, order, product, sends, sent
from xsell_plugin.sequences.models import Enrollment, Sequence
from xsell_plugin.sequences.services import default_sequences_install, sequence_create

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)


def enrolled(store) -> list[tuple[str, str, str]]:
    return sorted(Enrollment.objects.for_store(store).values_list("sequence__key", "customer__external_id",
                                                                 "trigger_key"))


def one_step(store, trigger, *, key="s", kind="value", delay=0, config=None, **extra):
    return sequence_create(store=store, key=key, name=key, trigger=trigger, trigger_config=config or {},
                           steps=[{"kind": kind, "delay_minutes": delay}], **extra)


def test_first_purchase_runs_the_welcome_flow(shop, engine):
    default_sequences_install(store=shop)
    engine.scan(T0 - H)
    ada = customer(shop, "ada")
    with engine.at(T0):
        order(shop, ada, T0, ext="o1")
    result = engine.scan(T0 + 5 * M)
    assert dict(result.enrolled) == {"first-purchase": 1}
    engine.run_until(T0 + 30 * D)
    # value a day later, complements 3 days after, the follow-up is for clickers only, feedback 7 days on
    assert sends(shop) == [
        ("first-purchase", 1, "dispatched", "", datetime(2026, 3, 3, 15, 5, tzinfo=UTC)),
        ("first-purchase", 2, "dispatched", "", datetime(2026, 3, 6, 15, 5, tzinfo=UTC)),
        ("first-purchase", 3, "skipped", "condition_clicked", datetime(2026, 3, 8, 15, 5, tzinfo=UTC)),
        ("first-purchase", 4, "dispatched", "", datetime(2026, 3, 15, 15, 5, tzinfo=UTC)),
    ]
    assert [k for k, _ in sent(shop)] == ["value", "complements", "feedback"]
    assert Enrollment.objects.for_store(shop).get().status == "completed"


def test_repeat_and_product_type_purchases(shop, engine):
    product(shop, "cam", product_type="Camera")
    one_step(shop, Sequence.Trigger.REPEAT_PURCHASE, key="repeat")
    one_step(shop, Sequence.Trigger.PRODUCT_PURCHASE, key="cameras", config={"product_types": ["camera"]})
    engine.scan(T0 - H)
    ada, bob = customer(shop, "ada"), customer(shop, "bob")
    with engine.at(T0):
        order(shop, ada, T0 - 40 * D, ext="old")  # history
        order(shop, ada, T0, ext="a2", products=("p1",))
        order(shop, bob, T0, ext="b1", products=("cam",))
    engine.scan(T0 + 5 * M)
    assert enrolled(shop) == [("cameras", "bob", "order:b1"), ("repeat", "ada", "order:a2")]


def test_a_backfill_of_old_orders_enrols_nobody(shop, engine):
    default_sequences_install(store=shop)
    engine.scan(T0 - H)
    ada = customer(shop, "ada")
    with engine.at(T0):  # last year's orders arrive now (a backfill or a reconciliation)
        for n in range(5):
            order(shop, ada, T0 - (300 + n) * D, ext=f"old-{n}")
        order(shop, ada, T0 - 3 * D, ext="three-days-old")  # outside the 48 h freshness window
    assert engine.scan(T0 + 5 * M).candidates == 0
    assert enrolled(shop) == []


def test_the_first_scan_of_a_store_replays_nothing(shop, engine):
    default_sequences_install(store=shop)
    ada = customer(shop, "ada")
    with engine.at(T0):
        order(shop, ada, T0, ext="o1")
    assert not engine.scan(T0 + M).scanned  # sets the checkpoint only
    assert enrolled(shop) == []


@pytest.mark.parametrize("kind, trigger", [("checkout", Sequence.Trigger.ABANDONED_CHECKOUT),
                                           ("cart", Sequence.Trigger.ABANDONED_CART)])
def test_abandoned_checkout_after_the_quiet_period(shop, engine, kind, trigger):
    one_step(shop, trigger, key="abandoned", kind="followup", config={"quiet_minutes": 60})
    engine.scan(T0 - H)
    ada = customer(shop, "ada")
    with engine.at(T0):
        checkout(shop, ada, T0, kind=kind, ext="k1")
    assert engine.scan(T0 + 30 * M).candidates == 0  # still shopping
    engine.scan(T0 + 61 * M)
    assert enrolled(shop) == [("abandoned", "ada", f"{kind}:k1")]
    engine.run_until(T0 + D)
    assert [k for k, _ in sent(shop)] == ["followup"]


def test_a_completed_checkout_is_not_abandoned(shop, engine):
    one_step(shop, Sequence.Trigger.ABANDONED_CHECKOUT, key="abandoned", kind="followup")
    engine.scan(T0 - H)
    ada = customer(shop, "ada")
    with engine.at(T0):
        checkout(shop, ada, T0, ext="k1", completed=True)
    engine.scan(T0 + 2 * H)
    assert enrolled(shop) == []


def test_wishlist_add(shop, engine):
    one_step(shop, Sequence.Trigger.WISHLIST_ADD, key="wish", kind="followup")
    engine.scan(T0 - H)
    ada = customer(shop, "ada")
    with engine.at(T0):
        activity(shop, ada, T0, "wishlist_add", "p2")
    engine.scan(T0 + 5 * M)
    assert enrolled(shop) == [("wish", "ada", "wishlist:p2")]
    assert Enrollment.objects.for_store(shop).get().facts["products"] == ["p2"]


def test_repeated_browse_needs_three_views_and_no_purchase(shop, engine):
    one_step(shop, Sequence.Trigger.REPEATED_BROWSE, key="browse", kind="followup",
             config={"min_views": 3, "days": 7})
    engine.scan(T0 - H)
    ada, bob = customer(shop, "ada"), customer(shop, "bob")
    with engine.at(T0):
        for n in range(2):
            activity(shop, ada, T0 - n * H, "browse", "p3")
        for n in range(3):
            activity(shop, bob, T0 - n * H, "browse", "p3")
    engine.scan(T0 + 5 * M)
    assert enrolled(shop) == [("browse", "bob", "browse:p3:2026-10")]
    with engine.at(T0 + D):
        activity(shop, ada, T0 + D, "browse", "p3")  # her third view...
        order(shop, ada, T0 + D - H, products=("p3",))  # ...but she bought it
    engine.scan(T0 + D + 5 * M)
    assert [e[1] for e in enrolled(shop)] == ["bob"]


def test_clicked_but_did_not_buy(shop, engine):
    from xsell_plugin.tracking.models import Click, TrackedLink

    one_step(shop, Sequence.Trigger.FIRST_PURCHASE, key="welcome", kind="complements")
    one_step(shop, Sequence.Trigger.CLICKED_NO_ORDER, key="clicked", kind="followup",
             config={"wait_hours": 24})
    engine.scan(T0 - H)
    ada, bob = customer(shop, "ada"), customer(shop, "bob")
    with engine.at(T0):
        order(shop, ada, T0, ext="a1")
        order(shop, bob, T0, ext="b1")
    engine.scan(T0 + 5 * M)
    engine.run_until(T0 + H)
    for who in (ada, bob):
        link = TrackedLink.objects.for_store(shop).filter(outbound__customer=who,
                                                          label__startswith="product:").first()
        Click.objects.create(store=shop, link=link, outbound=link.outbound, customer=who,
                             clicked_at=T0 + 2 * H, created_at=T0 + 2 * H)
    with engine.at(T0 + 5 * H):
        order(shop, bob, T0 + 5 * H, ext="b2")  # bob bought after clicking
    assert engine.scan(T0 + 20 * H).enrolled == {}  # not 24 h yet
    engine.scan(T0 + 26 * H)
    assert [e[:2] for e in enrolled(shop) if e[0] == "clicked"] == [("clicked", "ada")]


def test_replenishment_due_from_the_customers_own_rhythm(shop, engine):
    one_step(shop, Sequence.Trigger.REPLENISHMENT_DUE, key="replenish", kind="complements",
             config={"min_orders": 3, "factor": 1.0})
    ada = customer(shop, "ada")
    with engine.at(T0 - 15 * D):
        for n, days in enumerate((28, 21, 14)):  # every 7 days; the last 14 days ago -> due 7 days ago
            order(shop, ada, T0 - days * D, ext=f"r{n}")
    with engine.at(T0 - 8 * D):
        order(shop, ada, T0 - 7 * D - 2 * H, ext="r3")  # last order: due at T0 - 2 h
    engine.scan(T0 - 5 * H)
    assert engine.scan(T0 - 3 * H).enrolled == {}
    engine.scan(T0 - H)
    assert enrolled(shop) == [("replenish", "ada", "replenish:r3")]


def test_upgrade_anniversary(shop, engine):
    product(shop, "laptop", product_type="Laptop", upsell_ids=("laptop-pro",))
    one_step(shop, Sequence.Trigger.UPGRADE_ANNIVERSARY, key="upgrade", kind="value", config={"days": 180})
    ada = customer(shop, "ada")
    with engine.at(T0 - 180 * D):
        order(shop, ada, T0 - 180 * D, ext="l1", products=("laptop",))
        order(shop, ada, T0 - 180 * D, ext="n1", products=("p1",))  # nothing to upgrade
    engine.scan(T0 - 2 * H)
    engine.scan(T0 - H)
    assert enrolled(shop) == []
    engine.scan(T0 + H)
    assert enrolled(shop) == [("upgrade", "ada", "anniversary:l1")]


def test_win_back_after_a_quiet_spell(shop, engine):
    one_step(shop, Sequence.Trigger.WIN_BACK, key="winback", kind="value", config={"days": 60})
    ada, bob = customer(shop, "ada"), customer(shop, "bob")
    with engine.at(T0 - 60 * D):
        order(shop, ada, T0 - 60 * D, ext="a1")
        order(shop, bob, T0 - 60 * D, ext="b1")
    with engine.at(T0 - 10 * D):
        order(shop, bob, T0 - 10 * D, ext="b2")  # bob came back
    engine.scan(T0 - H)
    engine.scan(T0 + H)
    assert enrolled(shop) == [("winback", "ada", "winback:a1")]
    engine.scan(T0 + 2 * H)  # rescanning never enrols twice
    assert len(enrolled(shop)) == 1


def test_enrolment_is_idempotent_and_respects_the_cooldown(shop, engine):
    one_step(shop, Sequence.Trigger.REPEAT_PURCHASE, key="repeat", reenroll_days=30)
    engine.scan(T0 - H)
    ada = customer(shop, "ada")
    with engine.at(T0):
        order(shop, ada, T0 - 50 * D, ext="h")
        order(shop, ada, T0, ext="o1")
    engine.scan(T0 + 5 * M)
    engine.scan(T0 + 6 * M)  # the overlap sees o1 again
    with engine.at(T0 + 2 * D):
        order(shop, ada, T0 + 2 * D, ext="o2")
    result = engine.scan(T0 + 2 * D + 5 * M)
    assert result.not_enrolled == {"cooldown": 1}
    assert enrolled(shop) == [("repeat", "ada", "order:o1")]
