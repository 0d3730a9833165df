"""Delays, exits, pauses, guardrails, consent and caps, run through the real scan, dispatcher and
send path (outbox) at exact travelled times."""

from datetime import UTC, datetime, timedelta

import pytest

from emails.models import OutboundEmail
from integrations.base import ConsentState
from tests.factories import StoreFactory
from tests.sequences.helpers import Engine, checkout, customer, order, product, sends, sent
from xsell_plugin.customers.models import Preference, Suppression
from xsell_plugin.customers.services import suppression_add
from xsell_plugin.sequences.models import DailySendCount, Enrollment, ScheduledSend, Sequence
from xsell_plugin.sequences.services import (
    default_sequences_install,
    sequence_create,
    sequence_settings_set,
)
from xsell_plugin.stores.models import Store

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)
T = Sequence.Trigger


def flow(store, trigger=T.FIRST_PURCHASE, *, key="flow", steps=None, **extra):
    steps = steps or [{"kind": "value", "delay_minutes": 60 * 24},
                      {"kind": "complements", "delay_minutes": 60 * 24 * 3},
                      {"kind": "feedback", "delay_minutes": 60 * 24 * 7}]
    return sequence_create(store=store, key=key, name=key, trigger=trigger, steps=steps, **extra)


def buy(engine, who, at, **kwargs):
    with engine.at(at):
        return order(engine.store, who, at, **kwargs)


def test_delays_are_local_time_with_quiet_hours_and_windows(shop, engine):
    flow(shop, steps=[{"kind": "value", "delay_minutes": 60 * 12},
                      {"kind": "complements", "delay_minutes": 60 * 24, "window_start_hour": 10,
                       "window_end_hour": 12}])
    engine.scan(T0 - H)
    paris = customer(shop, "paris", timezone="Europe/Paris")
    store_zone = customer(shop, "ny")  # no zone of its own: the store's (New York)
    buy(engine, paris, T0, ext="o1")
    buy(engine, store_zone, T0, ext="o2")
    engine.scan(T0 + 5 * M)
    first = {s.enrollment.customer.external_id: s.due_at
             for s in ScheduledSend.objects.for_store(shop).select_related("enrollment__customer")}
    # +12 h = 03:05 UTC: 04:05 in Paris and 22:05 in New York are quiet -> 08:00 local
    assert first == {"paris": datetime(2026, 3, 3, 7, tzinfo=UTC), "ny": datetime(2026, 3, 3, 13, tzinfo=UTC)}
    engine.run_until(datetime(2026, 3, 3, 23, tzinfo=UTC))
    second = {s.enrollment.customer.external_id: s.due_at for s in ScheduledSend.objects.for_store(shop)
              .filter(step__position=2).select_related("enrollment__customer")}
    # +24 h then the 10:00-12:00 window, local
    assert second == {"paris": datetime(2026, 3, 4, 9, tzinfo=UTC),
                      "ny": datetime(2026, 3, 4, 15, tzinfo=UTC)}


def test_any_order_exits_an_abandoned_checkout_flow(shop, engine):
    sequence_create(store=shop, key="abandoned", name="a", trigger=T.ABANDONED_CHECKOUT,
                    trigger_config={"quiet_minutes": 60},
                    steps=[{"kind": "followup", "delay_minutes": 0},
                           {"kind": "incentive", "delay_minutes": 60 * 24}])
    engine.scan(T0 - H)
    ada = customer(shop, "ada")
    with engine.at(T0):
        checkout(shop, ada, T0, ext="k1")
    engine.scan(T0 + 61 * M)
    engine.run_until(T0 + 2 * H)
    buy(engine, ada, T0 + 5 * H, ext="o1")
    result = engine.scan(T0 + 5 * H + 5 * M)
    assert result.exited == 1
    engine.run_until(T0 + 5 * D)
    assert [k for k, _ in sent(shop)] == ["followup"]
    assert sends(shop)[-1][2:4] == ("cancelled", "purchased")
    assert Enrollment.objects.for_store(shop).get().exit_reason == "purchased"


def test_completed_checkout_exits_even_without_an_order_row(shop, engine):
    sequence_create(store=shop, key="abandoned", name="a", trigger=T.ABANDONED_CHECKOUT,
                    steps=[{"kind": "followup", "delay_minutes": 0},
                           {"kind": "followup", "delay_minutes": 60 * 24}], exit_on="never")
    engine.scan(T0 - H)
    ada = customer(shop, "ada")
    with engine.at(T0):
        checkout(shop, ada, T0, ext="k1")
    engine.scan(T0 + 61 * M)
    engine.run_until(T0 + 2 * H)
    with engine.at(T0 + 3 * H):
        checkout(shop, ada, T0 + 3 * H, ext="k1", completed=True)
    engine.run_until(T0 + 3 * D)
    assert sends(shop)[-1][2:4] == ("cancelled", "checkout_completed")


def test_recommended_item_exit_ignores_other_purchases(shop, engine):
    flow(shop, exit_on="recommended_item", steps=[
        {"kind": "complements", "delay_minutes": 60}, {"kind": "followup", "delay_minutes": 60 * 24 * 3},
        {"kind": "feedback", "delay_minutes": 60 * 24 * 3}])
    engine.scan(T0 - H)
    ada = customer(shop, "ada")
    buy(engine, ada, T0, ext="o1", products=("p1", "p2"))  # recommended: p1, p2 (test content)
    engine.scan(T0 + 5 * M)
    engine.run_until(T0 + D)
    buy(engine, ada, T0 + 2 * D, ext="o2", products=("p3",))  # not recommended: carries on
    engine.scan(T0 + 2 * D + 5 * M)
    engine.run_until(T0 + 4 * D)
    assert [k for k, _ in sent(shop)] == ["complements", "followup"]
    buy(engine, ada, T0 + 5 * D, ext="o3", products=("p2",))  # a recommended item: stop
    assert engine.scan(T0 + 5 * D + 5 * M).exited == 1
    engine.run_until(T0 + 20 * D)
    assert [k for k, _ in sent(shop)] == ["complements", "followup"]


@pytest.mark.parametrize("reason", [Suppression.Reason.UNSUBSCRIBED, Suppression.Reason.COMPLAINED,
                                    Suppression.Reason.BOUNCED])
def test_suppression_stops_everything(shop, engine, reason):
    flow(shop)
    engine.scan(T0 - H)
    ada = customer(shop, "ada")
    buy(engine, ada, T0, ext="o1")
    engine.scan(T0 + 5 * M)
    engine.run_until(T0 + 2 * D)
    with engine.at(T0 + 2 * D):
        suppression_add(store=shop, email=ada.email, reason=reason)
    engine.scan(T0 + 2 * D + 5 * M)
    engine.run_until(T0 + 30 * D)
    assert [k for k, _ in sent(shop)] == ["value"]
    assert Enrollment.objects.for_store(shop).get().exit_reason == "suppressed"


def test_suppression_is_checked_again_at_send_time(shop, engine):
    flow(shop)
    engine.scan(T0 - H)
    ada = customer(shop, "ada")
    buy(engine, ada, T0, ext="o1")
    engine.scan(T0 + 5 * M)
    suppression_add(store=shop, email=ada.email, reason="manual")  # no scan in between
    engine.run_until(T0 + 30 * D)
    assert sent(shop) == []
    assert sends(shop)[0][2:4] == ("skipped", "suppressed")


def test_uninstall_cancels_everything(shop, engine, other_store):
    flow(shop)
    flow(other_store)
    other = Engine(other_store)
    engine.scan(T0 - H)
    other.scan(T0 - H)
    for store, eng in ((shop, engine), (other_store, other)):
        with eng.at(T0):
            order(store, customer(store, "ada"), T0, ext="o1")
        eng.scan(T0 + 5 * M)
    Store.objects.filter(pk=shop.pk).update(status=Store.Status.UNINSTALLED)
    engine.run_until(T0 + 30 * D)
    other.run_until(T0 + 30 * D)
    assert sent(shop) == []
    assert [k for k, _ in sent(other_store)] == ["value", "complements", "feedback"]
    assert {s[2:4] for s in sends(shop)} == {("cancelled", "store_inactive")}
    assert Enrollment.objects.for_store(shop).get().status == "exited"


def test_a_click_pauses_the_sequence_then_it_resumes(shop, engine):
    from xsell_plugin.tracking.models import Click, TrackedLink

    flow(shop, pause_after_click_hours=72)
    engine.scan(T0 - H)
    ada = customer(shop, "ada")
    buy(engine, ada, T0, ext="o1")
    engine.scan(T0 + 5 * M)
    engine.run_until(T0 + 2 * D)  # value went at T0 + 1 d + 5 min
    link = TrackedLink.objects.for_store(shop).first()
    clicked = T0 + 2 * D
    with engine.at(clicked):
        Click.objects.create(store=shop, link=link, outbound=link.outbound, customer=ada, clicked_at=clicked)
    assert engine.scan(clicked + 5 * M).paused == 1
    step2 = ScheduledSend.objects.for_store(shop).get(step__position=2)
    assert step2.due_at == clicked + 72 * H  # was T0 + 4 d 5 min
    engine.run_until(T0 + 30 * D)
    assert [k for k, at in sent(shop)] == ["value", "complements", "feedback"]
    assert sent(shop)[1][1] == clicked + 72 * H


def test_the_customers_own_pause_and_leaving_a_sequence(shop, engine):
    sequence = flow(shop)
    engine.scan(T0 - H)
    ada, bob = customer(shop, "ada"), customer(shop, "bob")
    buy(engine, ada, T0, ext="o1")
    buy(engine, bob, T0, ext="o2")
    engine.scan(T0 + 5 * M)
    Preference.objects.create(store=shop, customer=ada, paused_until=T0 + 3 * D)
    Preference.objects.create(store=shop, customer=bob, left_sequences=[sequence.pk])
    engine.run_until(T0 + 30 * D)
    assert sent(shop, bob) == []
    assert sends(shop, bob)[0][2:4] == ("skipped", "left_sequence")
    assert next((k, at) for k, at in sent(shop, ada)) == ("value", T0 + 3 * D)


def test_min_spacing_defers_a_second_sequence(shop, engine):
    flow(shop, steps=[{"kind": "value", "delay_minutes": 60}])
    sequence_create(store=shop, key="abandoned", name="a", trigger=T.ABANDONED_CHECKOUT,
                    trigger_config={"quiet_minutes": 60}, steps=[{"kind": "checkin", "delay_minutes": 0}],
                    exit_on="never")
    engine.scan(T0 - H)
    ada = customer(shop, "ada")
    buy(engine, ada, T0, ext="o1")
    engine.scan(T0 + 5 * M)
    with engine.at(T0 + H):
        checkout(shop, ada, T0 + H, ext="k1")
    engine.run_until(T0 + 2 * H)
    engine.scan(T0 + 2 * H + 5 * M)
    engine.run_until(T0 + 5 * D)
    # the value email went at 16:05; the check-in waits the 20 h minimum spacing (12:05 UTC), which
    # falls in New York's quiet hours (07:05): 08:00 local
    assert sent(shop) == [("value", T0 + H + 5 * M), ("checkin", datetime(2026, 3, 3, 13, tzinfo=UTC))]
    assert ScheduledSend.objects.for_store(shop).get(step__sequence__key="abandoned").deferrals == 1


def test_window_cap_skips_with_a_reason(shop, engine):
    sequence_settings_set(store=shop, max_per_window=2, min_spacing_hours=1)
    flow(shop, steps=[{"kind": "value", "delay_minutes": 60 * n} for n in (1, 2, 3)] +
         [{"kind": "feedback", "delay_minutes": 60 * 24 * 5}])
    engine.scan(T0 - H)
    ada = customer(shop, "ada")
    buy(engine, ada, T0, ext="o1")
    engine.scan(T0 + 5 * M)
    engine.run_until(T0 + 30 * D)
    assert [s[2:4] for s in sends(shop)] == [("dispatched", ""), ("dispatched", ""),
                                             ("skipped", "window_cap"), ("dispatched", "")]


def test_frequent_buyers_are_capped_harder(shop, engine):
    flow(shop, T.REPEAT_PURCHASE, steps=[{"kind": "value", "delay_minutes": 60},
                                        {"kind": "checkin", "delay_minutes": 60 * 24 * 4}],
         exit_on="never")
    engine.scan(T0 - H)
    ada = customer(shop, "ada")
    with engine.at(T0):
        for n in range(1, 4):
            order(shop, ada, T0 - n * 5 * D, ext=f"h{n}")
    buy(engine, ada, T0, ext="o1")  # 4 orders in 30 days: a frequent buyer (1 email a week)
    engine.scan(T0 + 5 * M)
    engine.run_until(T0 + 30 * D)
    assert [s[2:4] for s in sends(shop)] == [("dispatched", ""), ("skipped", "frequent_buyer_cap")]


def test_one_active_offer_sequence_per_customer(shop, engine):
    flow(shop, T.FIRST_PURCHASE, key="welcome", steps=[{"kind": "complements", "delay_minutes": 60 * 24}])
    flow(shop, T.PRODUCT_PURCHASE, key="laptops", steps=[{"kind": "bundle", "delay_minutes": 60 * 24}])
    flow(shop, T.PRODUCT_PURCHASE, key="content", steps=[{"kind": "value", "delay_minutes": 60 * 24}])
    engine.scan(T0 - H)
    ada = customer(shop, "ada")
    buy(engine, ada, T0, ext="o1")
    result = engine.scan(T0 + 5 * M)
    assert sorted(result.enrolled) == ["content", "welcome"]
    assert result.not_enrolled == {"offer_active": 1}


def test_store_daily_cap_defers_to_the_next_day(shop, engine):
    sequence_settings_set(store=shop, daily_cap=1)
    flow(shop, steps=[{"kind": "value", "delay_minutes": 60}])
    engine.scan(T0 - H)
    ada, bob = customer(shop, "ada"), customer(shop, "bob")
    buy(engine, ada, T0, ext="o1")
    buy(engine, bob, T0, ext="o2")
    engine.scan(T0 + 5 * M)
    engine.run_until(T0 + 3 * D)
    times = [at for _, at in sent(shop)]
    assert times == [T0 + H + 5 * M, datetime(2026, 3, 3, 13, tzinfo=UTC)]  # next day, 08:00 EST
    assert DailySendCount.objects.for_store(shop).count() == 2


@pytest.mark.parametrize("consent", [ConsentState.NOT_SUBSCRIBED, ConsentState.UNSUBSCRIBED,
                                     ConsentState.PENDING, ConsentState.UNKNOWN])
def test_only_contactable_customers_are_enrolled(shop, engine, consent):
    flow(shop)
    engine.scan(T0 - H)
    ada = customer(shop, "ada", consent=consent)
    buy(engine, ada, T0, ext="o1")
    result = engine.scan(T0 + 5 * M)
    assert result.not_enrolled == {f"consent_{consent}": 1}


def test_consent_withdrawn_after_enrolment_skips_and_exits(shop, engine):
    from xsell_plugin.customers.models import Customer

    flow(shop)
    engine.scan(T0 - H)
    ada = customer(shop, "ada")
    buy(engine, ada, T0, ext="o1")
    engine.scan(T0 + 5 * M)
    Customer.objects.filter(pk=ada.pk).update(consent_state=ConsentState.UNSUBSCRIBED)
    engine.run_until(T0 + 30 * D)
    assert sent(shop) == []
    assert sends(shop) == [("flow", 1, "skipped", "consent_unsubscribed", T0 + D + 5 * M)]


def test_soft_opt_in_is_an_explicit_store_setting(db, settings):
    from xsell_plugin.core.exceptions import ValidationFailed

    woo = StoreFactory(platform=Store.Platform.WOOCOMMERCE, domain="shop.example",
                       timezone="America/New_York")
    product(woo, "p1")
    flow(woo)
    engine = Engine(woo)
    engine.scan(T0 - H)
    ada = customer(woo, "ada", consent=ConsentState.UNKNOWN)
    buy(engine, ada, T0, ext="o1")
    assert engine.scan(T0 + 5 * M).not_enrolled == {"consent_unknown": 1}
    engine.scan(T0 + H)
    with pytest.raises(ValidationFailed):
        sequence_settings_set(store=woo, soft_opt_in=True)  # needs the documented policy
    sequence_settings_set(store=woo, soft_opt_in=True, soft_opt_in_policy="https://shop.example/privacy")
    bob = customer(woo, "bob", consent=ConsentState.UNKNOWN)
    buy(engine, bob, T0 + D, ext="o2")
    assert engine.scan(T0 + D + 5 * M).enrolled == {"flow": 1}
    engine.run_until(T0 + 30 * D)
    assert [k for k, _ in sent(woo)] == ["value", "complements", "feedback"]  # emails re-check agrees


def test_soft_opt_in_covers_existing_customers_only():
    from xsell_plugin.sequences.consent import contact_block_reason

    base = {"has_email": True, "suppressed": False, "soft_opt_in": True}
    assert contact_block_reason(consent_state="unknown", has_ordered=True, **base) == ""
    assert contact_block_reason(consent_state="unknown", has_ordered=False, **base) == "consent_unknown"
    assert contact_block_reason(consent_state="not_subscribed", has_ordered=True, **base) == (
        "consent_not_subscribed")
    assert contact_block_reason(consent_state="subscribed", has_ordered=False,
                                **{**base, "suppressed": True}) == "suppressed"


def test_default_templates_are_installed_once_per_store(shop, other_store):
    made = default_sequences_install(store=shop)
    assert len(made) == 10 and default_sequences_install(store=shop) == []
    keys = set(Sequence.objects.for_store(shop).values_list("key", flat=True))
    assert {"post-purchase", "upgrade-path", "abandoned-checkout", "browse", "win-back"} <= keys
    assert not Sequence.objects.for_store(other_store).exists()
    for sequence in Sequence.objects.for_store(shop).prefetch_related("steps"):
        kinds = [s.kind for s in sequence.steps.all()]
        assert kinds, sequence.key
        if "feedback" in kinds:
            assert kinds[-1] == "feedback"


def test_variants_are_stable_and_recorded(shop, engine):
    flow(shop, steps=[{"kind": "value", "delay_minutes": 60,
                       "variants": [{"key": "a", "weight": 1},
                                    {"key": "b", "weight": 1, "kind": "checkin"}]}])
    engine.scan(T0 - H)
    people = [customer(shop) for _ in range(12)]
    for n, who in enumerate(people):
        buy(engine, who, T0, ext=f"o{n}")
    engine.scan(T0 + 5 * M)
    engine.run_until(T0 + D)
    rows = list(ScheduledSend.objects.for_store(shop).select_related("outbound"))
    assert {r.variant for r in rows} == {"a", "b"}
    for r in rows:
        assert r.outbound.kind == ("value" if r.variant == "a" else "checkin")
        assert r.outbound.context["variant"] == r.variant


def test_no_email_is_created_twice_for_one_scheduled_send(shop, engine):
    from xsell_plugin.sequences.services import send_step

    flow(shop, steps=[{"kind": "value", "delay_minutes": 60}])
    engine.scan(T0 - H)
    ada = customer(shop, "ada")
    buy(engine, ada, T0, ext="o1")
    engine.scan(T0 + 5 * M)
    outcomes = engine.dispatch(T0 + 2 * H)
    assert [o.status for o in outcomes] == ["dispatched"]
    pk = outcomes[0].scheduled_id
    again = send_step(pk, now=T0 + 2 * H)  # the task delivered twice
    assert (again.status, again.reason) == ("not_claimed", "dispatched")
    assert OutboundEmail.objects.for_store(shop).count() == 1
    assert OutboundEmail.objects.for_store(shop).get().idempotency_key == f"sequence-send:{pk}"


def test_a_step_that_keeps_failing_is_given_up(shop, engine, settings):
    from xsell_plugin.sequences.services import MAX_FAILURES, send_step

    settings.XSELL_SEQUENCE_CONTENT = "tests.sequences.test_flows.broken_content"
    flow(shop, steps=[{"kind": "value", "delay_minutes": 60}, {"kind": "feedback", "delay_minutes": 60}])
    engine.scan(T0 - H)
    ada = customer(shop, "ada")
    buy(engine, ada, T0, ext="o1")
    engine.scan(T0 + 5 * M)
    (pk,) = ScheduledSend.objects.for_store(shop).values_list("pk", flat=True)
    ScheduledSend.objects.filter(pk=pk).update(status="queued")
    for n in range(MAX_FAILURES):
        with pytest.raises(RuntimeError), engine.at(T0 + 2 * H):
            send_step(pk, now=T0 + 2 * H)
        expected = "queued" if n < MAX_FAILURES - 1 else "skipped"
        assert ScheduledSend.objects.get(pk=pk).status == expected  # rolled back, retried later
    assert OutboundEmail.objects.count() == 0
    assert Enrollment.objects.for_store(shop).get().exit_reason == "failed"


def broken_content(**kwargs):
    raise RuntimeError("the recommender is down")
