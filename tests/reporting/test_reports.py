"""Attribution, deliverability (complaint alarm), NPS, cohorts, time series, upgrade retention,
the quarterly review: small hand-built worlds, and a second store whose rows must not leak."""

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from emails import models as email_models
from emails.models import OutboundEmail
from tests.factories import CustomerDataFactory
from xsell_plugin.customers.models import Customer, Suppression
from xsell_plugin.customers.services import customers_upsert
from xsell_plugin.offers.models import Incentive, OfferStatus
from xsell_plugin.orders.models import Order
from xsell_plugin.reporting import selectors
from xsell_plugin.reporting.services import report_settings_set
from xsell_plugin.tracking import links
from xsell_plugin.tracking.models import Click, MailerEvent, TrackedLink, Unsubscribe
from xsell_plugin.tracking.services import unsubscribe_by_token

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 2, 1, 15, tzinfo=UTC)
_SEQ = itertools.count(1)


def _customer(store):
    customers_upsert(store=store, customers=[CustomerDataFactory()])
    return Customer.objects.for_store(store).order_by("-pk").first()


def _sent(store, customer, *, sequence_id=1, kind="complements", at=T0):
    n = [next(_SEQ)]
    return OutboundEmail.objects.create(
        store=store,
        customer=customer,
        email=customer.email,
        kind=kind,
        sequence_id=sequence_id,
        idempotency_key=f"k{n[0]}",
        scheduled_for=at,
        status=OutboundEmail.Status.SENT,
        sent_at=at,
        message_id=f"<m{n[0]}@x>",
        esp_message_id=f"esp-{n[0]}",
    )


def _click(store, outbound, at, label="cta"):
    link, _ = TrackedLink.objects.get_or_create(
        store=store,
        outbound=outbound,
        position=0,
        defaults={"url": "https://shop.example/", "label": label},
    )
    return Click.objects.create(
        store=store, link=link, outbound=outbound, customer=outbound.customer, clicked_at=at
    )


def _order(store, customer, at, total):
    ext = [next(_SEQ)]
    return Order.objects.create(
        store=store,
        customer=customer,
        external_id=f"o{ext[0]}",
        currency="USD",
        placed_at=at,
        total=Decimal(total),
    )


def test_last_click_within_the_window_gets_the_order(store, other_store):
    c = _customer(store)
    first, second = _sent(store, c, sequence_id=1), _sent(store, c, sequence_id=2, kind="upgrade")
    _click(store, first, T0)
    _click(store, second, T0 + timedelta(days=1))
    _order(store, c, T0 + timedelta(days=3), "80.00")  # last click: sequence 2
    _order(store, c, T0 + timedelta(days=7), "50.00")  # 6 days after the last click: not attributed
    report = selectors.attribution(store=store)
    assert report["orders"] == 1 and report["revenue"] == 80.0
    assert report["by_sequence"][0]["sequence_id"] == 2 and report["by_kind"] == {
        "upgrade": {"orders": 1, "revenue": 80.0}
    }
    assert selectors.attribution(store=store, window_days=7)["revenue"] == 130.0
    report_settings_set(store=store, attribution_window_days=10)
    assert selectors.attribution(store=store)["orders"] == 2
    assert selectors.attribution(store=other_store)["orders"] == 0


def test_complaint_rate_above_the_threshold_raises_the_alarm(store):
    customers = [_customer(store) for _ in range(3)]
    emails = [_sent(store, customers[i % 3], sequence_id=5) for i in range(300)]
    _sent(store, customers[0], sequence_id=6)
    MailerEvent.objects.create(
        store=store,
        esp="postmark",
        event_id="e1",
        event_type="complained",
        email=customers[0].email,
        message_id=emails[0].esp_message_id,
        occurred_at=T0 + timedelta(hours=1),
    )
    MailerEvent.objects.create(
        store=store,
        esp="postmark",
        event_id="e2",
        event_type="complained",
        email=customers[1].email,
        message_id="unknown",
        occurred_at=T0 + timedelta(hours=1),
    )
    # customers[2] uses the unsubscribe link of a sequence-5 email (counted once, however often
    # the mail client retries the one-click POST); a suppression added another way is not ours.
    token = links.unsubscribe_token(store_id=store.pk, customer_id=customers[2].pk,
                                    outbound_id=emails[2].pk)
    for _ in range(2):
        unsubscribe_by_token(token=token, now=T0 + timedelta(hours=2))
    Suppression.objects.create(store=store, email="someone@else.test",
                               reason=Suppression.Reason.UNSUBSCRIBED)
    report = selectors.deliverability(store=store)
    row = next(r for r in report["sequences"] if r["sequence_id"] == 5)
    assert (row["sent"], row["complaints"], row["unsubscribes"]) == (300, 2, 1)
    assert row["complaint_rate"] == pytest.approx(2 / 300) and row["alarm"] is True
    assert next(r for r in report["sequences"] if r["sequence_id"] == 6)["alarm"] is False
    report_settings_set(store=store, complaint_alarm_rate=Decimal("0.01"))
    assert selectors.deliverability(store=store)["alarm"] is False


def test_nps_counts_each_respondents_latest_score(store):
    scores = [10, 9, 9, 8, 7, 3, 0]
    for s in scores:
        c = _customer(store)
        e = _sent(store, c, kind="feedback")
        _click(store, e, T0, label=f"nps:{s}")
    c = _customer(store)  # changed their mind: 2 then 10 -> counted once, as 10
    e = _sent(store, c, kind="feedback")
    link2 = TrackedLink.objects.create(
        store=store, outbound=e, position=1, url="https://x.example/", label="nps:2"
    )
    Click.objects.create(store=store, link=link2, outbound=e, customer=c, clicked_at=T0)
    _click(store, e, T0 + timedelta(minutes=5), label="nps:10")
    report = selectors.nps(store=store)
    assert report["responses"] == 8
    assert report["promoters"]["count"] == 4 and report["detractors"]["count"] == 2
    assert report["nps"] == pytest.approx(100 * (4 - 2) / 8)


def test_cohorts_and_timeseries(store, other_store):
    a, b = _customer(store), _customer(store)
    _order(store, a, datetime(2025, 11, 5, 15, tzinfo=UTC), "10.00")
    _order(store, a, datetime(2025, 12, 5, 15, tzinfo=UTC), "20.00")
    _order(store, b, datetime(2025, 12, 6, 15, tzinfo=UTC), "30.00")
    _order(other_store, _customer(other_store), datetime(2025, 12, 6, 15, tzinfo=UTC), "999.00")
    rows = selectors.cohorts_by_month(store=store, months=3)["rows"]
    assert [(r["cohort"], r["customers"], r["active"]) for r in rows] == [
        ("2025-11", 1, [1, 1, 0]),
        ("2025-12", 1, [1, 0, 0]),
    ]
    series = selectors.timeseries(store=store, metric="revenue", interval="month")
    assert series == [{"period": "2025-11-01", "value": 10.0}, {"period": "2025-12-01", "value": 50.0}]
    seg = selectors.cohorts_by_segment(store=store, months=2, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert sum(r["customers"] for r in seg["rows"]) == 2


def test_upgrade_retention_compares_upgrade_orders_with_the_rest(store):
    now = T0 + timedelta(days=200)
    for i in range(4):
        c = _customer(store)
        e = _sent(store, c, kind="upgrade", at=T0)
        _click(store, e, T0)
        _order(store, c, T0 + timedelta(days=1), "100.00")
        if i < 3:
            _order(store, c, T0 + timedelta(days=30), "20.00")
    report = selectors.upgrade_retention(store=store, now=now)
    assert report["upgrade"]["orders"] == 4 and report["upgrade"]["repeated"] == 3
    assert report["other"]["orders"] == 3 and report["other"]["repeated"] == 0


def test_quarterly_review_flags_stale_testimonials(store, other_store):
    old = timezone.now() - timedelta(days=120)
    email_models.Testimonial.objects.create(store=store, author="Old", body="x", updated_at=old)
    email_models.Testimonial.objects.create(store=store, author="New", body="y")
    email_models.Testimonial.objects.create(store=other_store, author="Theirs", body="z", updated_at=old)
    items = selectors.quarterly_review(store=store)["items"]
    assert [i["title"] for i in items] == ["Old"]


def test_quarterly_review_flags_running_offers_not_refreshed(store, other_store):
    old = timezone.now() - timedelta(days=120)
    Incentive.objects.create(store=store, name="Old ten off", kind="percent_off",
                             percent_off=Decimal("10"), updated_at=old)
    Incentive.objects.create(store=store, name="Paused", kind="percent_off", percent_off=Decimal("5"),
                             status=OfferStatus.PAUSED, updated_at=old)
    Incentive.objects.create(store=store, name="Fresh", kind="percent_off", percent_off=Decimal("5"))
    Incentive.objects.create(store=other_store, name="Theirs", kind="percent_off",
                             percent_off=Decimal("5"), updated_at=old)
    items = selectors.quarterly_review(store=store)["items"]
    assert [(i["type"], i["title"]) for i in items] == [("incentive", "Old ten off")]


def test_an_unsubscribe_is_credited_to_the_email_it_came_from(store):
    """Not to the address's latest email: the link names the message, the preference page its
    sequence."""
    ada, bob = _customer(store), _customer(store)
    older = _sent(store, ada, sequence_id=5, at=T0)
    _sent(store, ada, sequence_id=6, at=T0 + timedelta(hours=1))  # the latest one
    _sent(store, bob, sequence_id=6, at=T0)
    token = links.unsubscribe_token(store_id=store.pk, customer_id=ada.pk, outbound_id=older.pk)
    unsubscribe_by_token(token=token, now=T0 + timedelta(hours=2))
    row = Unsubscribe.objects.for_store(store).get()
    assert (row.outbound_id, row.sequence_id, row.source) == (older.pk, 5, "xsell:one-click")
    by_sequence = {r["sequence_id"]: r["unsubscribes"] for r in
                   selectors.deliverability(store=store)["sequences"]}
    assert by_sequence == {5: 1, 6: 0}
