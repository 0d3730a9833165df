"""Guardrails and send-time maths are pure: exact decisions for exact histories and clocks; and a
property test that no event stream ever gets a customer past the caps."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emails.kinds import Kind
from tests.factories import StoreFactory
from tests.sequences import helpers
from xsell_plugin.sequences import timing
from xsell_plugin.sequences.guardrails import OFFER_KINDS, Policy, Reason, SentEmail, evaluate
from xsell_plugin.sequences.services import default_sequences_install

NOW = datetime(2026, 3, 10, 15, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
POLICY = Policy()


def sent(*ago, kind=Kind.VALUE):
    return [SentEmail(NOW - a, kind) for a in ago]


class TestEvaluate:
    def test_allowed_with_no_history(self):
        assert evaluate(now=NOW, kind=Kind.INCENTIVE, history=[], policy=POLICY).allowed

    def test_window_cap_and_when_it_frees_up(self):
        decision = evaluate(now=NOW, kind=Kind.VALUE, history=sent(1 * D, 3 * D, 6 * D), policy=POLICY)
        assert (decision.allowed, decision.reason) == (False, Reason.WINDOW_CAP)
        assert decision.retry_at == NOW - 6 * D + 7 * D  # the oldest of the three leaves the window
        assert evaluate(now=NOW, kind=Kind.VALUE, history=sent(1 * D, 3 * D, 8 * D), policy=POLICY).allowed

    def test_minimum_spacing(self):
        decision = evaluate(now=NOW, kind=Kind.VALUE, history=sent(5 * H), policy=POLICY)
        assert (decision.reason, decision.retry_at) == (Reason.MIN_SPACING, NOW + 15 * H)

    def test_no_two_offers_in_48_hours(self):
        history = sent(30 * H, kind=Kind.COMPLEMENTS)
        decision = evaluate(now=NOW, kind=Kind.BUNDLE, history=history, policy=POLICY)
        assert (decision.reason, decision.retry_at) == (Reason.OFFER_GAP, NOW + 18 * H)
        assert evaluate(now=NOW, kind=Kind.FEEDBACK, history=history, policy=POLICY).allowed

    def test_frequent_buyers_and_fewer_emails_are_capped_harder(self):
        history = sent(2 * D)
        assert evaluate(now=NOW, kind=Kind.VALUE, history=history, policy=POLICY, recent_orders=3).allowed
        decision = evaluate(now=NOW, kind=Kind.VALUE, history=history, policy=POLICY, recent_orders=4)
        assert (decision.reason, decision.retry_at) == (Reason.FREQUENT_BUYER_CAP, NOW + 5 * D)
        decision = evaluate(now=NOW, kind=Kind.VALUE, history=history, policy=POLICY, fewer=True)
        assert decision.reason == Reason.FEWER_EMAILS_CAP


class TestTiming:
    def test_quiet_hours_move_a_send_to_the_morning_in_the_customers_zone(self):
        late = datetime(2026, 3, 10, 3, 30, tzinfo=UTC)  # 22:30 in New York, 04:30 in Paris
        assert timing.next_allowed(late, "America/New_York", quiet_start=21, quiet_end=8) == datetime(
            2026, 3, 10, 12, tzinfo=UTC)  # 08:00 EDT
        assert timing.next_allowed(late, "Europe/Paris", quiet_start=21, quiet_end=8) == datetime(
            2026, 3, 10, 7, tzinfo=UTC)  # 08:00 CET
        midday = datetime(2026, 3, 10, 16, 5, tzinfo=UTC)
        assert timing.next_allowed(midday, "America/New_York", quiet_start=21, quiet_end=8) == midday

    def test_a_step_window_narrows_the_day(self):
        afternoon = datetime(2026, 3, 10, 19, tzinfo=UTC)  # 15:00 EDT
        assert timing.next_allowed(afternoon, "America/New_York", quiet_start=21, quiet_end=8,
                                   window_start=10, window_end=12) == datetime(2026, 3, 11, 14, tzinfo=UTC)

    def test_across_the_dst_change(self):
        # 2026-03-08: New York springs forward at 02:00; 08:00 local that day is 12:00 UTC.
        night = datetime(2026, 3, 8, 5, tzinfo=UTC)
        assert timing.next_allowed(night, "America/New_York", quiet_start=21, quiet_end=8) == datetime(
            2026, 3, 8, 12, tzinfo=UTC)

    def test_delay_then_window(self):
        base = datetime(2026, 3, 10, 23, tzinfo=UTC)  # 19:00 EDT
        due = timing.step_due_at(base, 2 * H, "America/New_York", quiet_start=21, quiet_end=8)
        assert due == datetime(2026, 3, 11, 12, tzinfo=UTC)

    def test_zone_falls_back_to_the_store(self):
        assert timing.local_zone_name("", "America/New_York") == "America/New_York"
        assert timing.local_zone_name("Not/AZone", "Europe/Paris") == "Europe/Paris"
        assert timing.local_zone_name("Asia/Tokyo", "Europe/Paris") == "Asia/Tokyo"


# The property: whatever happens, no customer exceeds the caps. -------------------------------------

T0 = datetime(2026, 4, 6, 14, tzinfo=UTC)
EVENTS = st.lists(
    st.tuples(st.sampled_from(["order", "checkout", "cart", "wishlist", "browse"]),
              st.integers(0, 2),  # which customer
              st.integers(0, 14 * 24)),  # hour of the fortnight
    min_size=1, max_size=14)


@pytest.mark.django_db
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(events=EVENTS)
def test_no_customer_ever_exceeds_the_caps(events, settings_override):
    store = StoreFactory(timezone="America/New_York")
    for ext in ("p1", "p2", "p3"):
        helpers.product(store, ext)
    default_sequences_install(store=store)
    engine = helpers.Engine(store)
    engine.scan(T0 - H)
    people = [helpers.customer(store) for _ in range(3)]
    for kind, who, hour in sorted(events, key=lambda e: e[2]):
        at = T0 + hour * H
        engine.run_until(at)
        with engine.at(at):
            if kind == "order":
                helpers.order(store, people[who], at, products=("p1", "p2"))
            elif kind in ("checkout", "cart"):
                helpers.checkout(store, people[who], at, kind=kind)
            else:
                for n in range(3 if kind == "browse" else 1):
                    helpers.activity(store, people[who], at + n * timedelta(minutes=1),
                                     "browse" if kind == "browse" else "wishlist_add", "p3")
        for minutes in (5, 65, 125):
            engine.scan(at + timedelta(minutes=minutes))
    engine.run_until(T0 + 30 * D)
    for person in people:
        times = sorted(at for _, at in helpers.sent(store, person))
        kinds = dict((at, kind) for kind, at in helpers.sent(store, person))
        for i, t in enumerate(times):
            assert sum(1 for u in times[i:] if u < t + POLICY.window) <= POLICY.max_per_window
            if i:
                assert t - times[i - 1] >= POLICY.min_spacing
        offers = [t for t in times if kinds[t] in OFFER_KINDS]
        assert all(b - a >= POLICY.offer_gap for a, b in itertools.pairwise(offers))


@pytest.fixture
def settings_override(settings):
    settings.XSELL_SEQUENCE_CONTENT = helpers.CONTENT
