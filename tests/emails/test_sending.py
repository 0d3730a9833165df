"""Sending through a real SMTP server on loopback: headers, parts, links, footer, idempotency,
crashes before and during SMTP, 4xx/5xx, and consent checked at send time."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from emails import tasks
from emails.kinds import KINDS, Kind
from emails.models import OutboundEmail
from emails.selectors import outbound_status_counts, outbound_unknown_count
from emails.services import email_send, outbound_email_create, outbound_sweep
from tests.emails.helpers import create, expired, list_unsubscribe_https, make_customer, parts
from xsell_plugin.customers.models import ConsentState, Preference, Suppression
from xsell_plugin.customers.services import suppression_add
from xsell_plugin.stores.models import Store
from xsell_plugin.tracking.models import TrackedLink

Status = OutboundEmail.Status


def test_message_has_compliance_headers_parts_links_and_footer(shop, customer, mailbox):
    outbound = create(shop, customer, Kind.COMPLEMENTS)
    result = email_send(outbound.pk)
    assert result.status == Status.SENT, result.reason

    [message] = mailbox.parsed()
    assert message["To"] == customer.email
    assert message["From"].addresses[0].addr_spec == "news@mail.shop.example"
    # RFC 8058: both forms, and the one-click POST header
    unsubscribe = str(message["List-Unsubscribe"])
    https_url = list_unsubscribe_https(message)
    assert https_url.startswith("https://app.xsell.test/u/")
    assert "<mailto:unsubscribe@app.xsell.test?subject=unsubscribe%20" in unsubscribe
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # Message-ID on the sender's domain, List-Id
    assert message["Message-ID"] == f"<xsell.{shop.pk}.{outbound.pk}@mail.shop.example>"
    assert message["List-Id"] == f'"First Shop" <xsell-{shop.pk}.mail.shop.example>'
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]

    text, html = parts(message)
    assert "<!doctype html>" in html.lower() and 'name="color-scheme"' in html
    for body in (text, html):
        assert "12 Harbour Road" in body and "Portsmouth PO1 2AB" in body
        assert https_url in body.replace("&amp;", "&")
        assert "https://app.xsell.test/p/" in body
        assert "Product 1" in body and "$24.00" in body
    # every product link is a tracked click link, never the raw store URL
    assert "first-shop.example/products" not in html and "first-shop.example/products" not in text
    links = {link.position: link for link in TrackedLink.objects.for_store(shop).filter(outbound=outbound)}
    assert len(links) == 4  # three products + the button
    for link in links.values():
        query = parse_qs(urlsplit(link.url).query)
        assert query["utm_source"] == ["xsell"] and query["utm_medium"] == ["email"]
        assert query["utm_campaign"] == [Kind.COMPLEMENTS]
    assert html.count("https://app.xsell.test/t/c/") >= 4
    # the text part comes from its own template (not stripped HTML)
    assert text.startswith("First Shop\n\nMade to go together\n\nHi Ada,")
    assert "* Product 1 - $24.00\n  https://app.xsell.test/t/c/" in text

    outbound.refresh_from_db()
    assert outbound.status == Status.SENT and outbound.attempts == 1
    assert outbound.message_id == message["Message-ID"] and outbound.transport == "smtp"


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_delivered(shop, customer, mailbox, kind):
    outbound = create(shop, customer, kind)
    assert email_send(outbound.pk).status == Status.SENT
    [message] = mailbox.parsed()
    text, html = parts(message)
    assert message["Subject"]
    assert "Unsubscribe" in text and "Unsubscribe" in html
    if kind == Kind.INCENTIVE:  # the real expiry, in the store's time zone
        assert "THANKS-7F3K" in html and "Valid until June 30, 2030 at 7:59 PM EDT." in text
    if kind == Kind.FEEDBACK:
        scores = [parse_qs(urlsplit(link.url).query)["score"][0]
                  for link in TrackedLink.objects.filter(outbound=outbound).order_by("position")]
        assert scores == [str(n) for n in range(11)]
    if kind == Kind.BUNDLE:
        assert "Bought separately: $48.00" in text and "You save: $8.00" in text


def test_task_delivered_twice_sends_once(shop, customer, mailbox):
    outbound = create(shop, customer)
    assert tasks.send(outbound.pk) == Status.SENT
    assert tasks.send(outbound.pk) == Status.SENT
    assert len(mailbox.messages) == 1
    assert OutboundEmail.objects.get(pk=outbound.pk).attempts == 1


def test_a_claimed_row_is_not_sent_by_a_second_worker(shop, customer, mailbox):
    outbound = create(shop, customer)
    OutboundEmail.objects.filter(pk=outbound.pk).update(
        status=Status.SENDING, attempts=1, lease_expires_at=timezone.now() + timedelta(minutes=5))
    result = email_send(outbound.pk)
    assert not result.claimed and result.status == Status.SENDING
    assert mailbox.messages == []


def test_worker_killed_before_smtp_is_reclaimed_and_sent_once(shop, customer, mailbox):
    outbound = create(shop, customer)
    # what a worker leaves when it dies after claiming, before the phase marker
    OutboundEmail.objects.filter(pk=outbound.pk).update(
        status=Status.SENDING, attempts=1, lease_expires_at=expired(), smtp_started_at=None)
    assert outbound_sweep()["enqueued"] == 1
    assert tasks.send(outbound.pk) == Status.SENT
    assert tasks.send(outbound.pk) == Status.SENT
    assert len(mailbox.messages) == 1
    outbound.refresh_from_db()
    assert outbound.attempts == 2


def test_worker_killed_mid_smtp_is_unknown_and_never_resent(shop, customer, mailbox):
    outbound = create(shop, customer)
    OutboundEmail.objects.filter(pk=outbound.pk).update(
        status=Status.SENDING, attempts=1, lease_expires_at=expired(),
        smtp_started_at=expired(90))
    result = email_send(outbound.pk)  # the task redelivered after the crash
    assert result.status == Status.UNKNOWN and not result.claimed
    assert outbound_sweep()["enqueued"] == 0
    assert email_send(outbound.pk).status == Status.UNKNOWN
    assert mailbox.messages == []
    assert outbound_unknown_count(store=shop) == 1
    assert outbound_status_counts(store=shop)[Status.UNKNOWN] == 1


def test_sweeper_reports_unknown_sends(shop, customer):
    outbound = create(shop, customer)
    OutboundEmail.objects.filter(pk=outbound.pk).update(
        status=Status.SENDING, attempts=1, lease_expires_at=expired(), smtp_started_at=expired(90))
    counts = tasks.sweep()
    assert counts["unknown"] == 1 and counts["unknown_total"] == 1
    assert OutboundEmail.objects.get(pk=outbound.pk).status == Status.UNKNOWN


def test_connection_lost_after_data_is_unknown(shop, customer, mailbox, settings):
    settings.XSELL_EMAIL_SMTP_TIMEOUT = 0.5
    mailbox.stall_seconds = 1.5  # the server takes the data but answers too late
    outbound = create(shop, customer)
    result = email_send(outbound.pk)
    assert result.status == Status.UNKNOWN
    assert outbound_sweep()["enqueued"] == 0
    assert email_send(outbound.pk).status == Status.UNKNOWN
    assert len(mailbox.messages) == 1  # it did arrive: resending would have duplicated it


def test_smtp_4xx_is_retried_later_and_sent_once(shop, customer, mailbox):
    mailbox.replies.append("451 4.3.0 Try again later")
    outbound = create(shop, customer)
    result = email_send(outbound.pk)
    assert result.status == Status.SCHEDULED and "451" in result.reason
    outbound.refresh_from_db()
    assert outbound.scheduled_for > timezone.now() + timedelta(seconds=25)  # backoff
    assert outbound.smtp_started_at is None and mailbox.messages == []
    assert email_send(outbound.pk).status == Status.SCHEDULED  # not due yet: nothing happens

    with time_machine.travel(outbound.scheduled_for + timedelta(seconds=1), tick=False):
        assert outbound_sweep()["enqueued"] == 1
        assert tasks.send(outbound.pk) == Status.SENT
        assert tasks.send(outbound.pk) == Status.SENT
    assert len(mailbox.messages) == 1
    outbound.refresh_from_db()
    assert outbound.attempts == 2 and outbound.reason == ""


def test_smtp_4xx_gives_up_after_max_attempts(shop, customer, mailbox, settings):
    settings.XSELL_EMAIL_MAX_ATTEMPTS = 2
    mailbox.replies += ["451 4.3.0 Busy", "452 4.3.1 Still busy"]
    outbound = create(shop, customer)
    assert email_send(outbound.pk).status == Status.SCHEDULED
    outbound.refresh_from_db()
    with time_machine.travel(outbound.scheduled_for + timedelta(seconds=1), tick=False):
        result = email_send(outbound.pk)
    assert result.status == Status.FAILED
    outbound.refresh_from_db()
    assert outbound.reason.startswith("gave up after 2 attempts") and "452" in outbound.reason
    assert mailbox.messages == []


def test_smtp_5xx_fails_with_the_reason(shop, customer, mailbox):
    mailbox.replies.append("550 5.1.1 No such user here")
    outbound = create(shop, customer)
    assert email_send(outbound.pk).status == Status.FAILED
    outbound.refresh_from_db()
    assert outbound.status == Status.FAILED
    assert "550" in outbound.reason and "No such user" in outbound.reason
    assert outbound_sweep()["enqueued"] == 0
    assert mailbox.messages == []


def test_unreachable_server_is_retried(shop, customer, mailbox, smtp_server):
    from emails.models import MailerAccount

    MailerAccount.objects.filter(store=shop).update(smtp_port=1)  # nothing listens there
    outbound = create(shop, customer)
    result = email_send(outbound.pk)
    assert result.status == Status.SCHEDULED and "connect" in result.reason


@pytest.mark.parametrize(("prepare", "reason"), [
    (lambda store, c: c.__class__.objects.filter(pk=c.pk).update(
        consent_state=ConsentState.NOT_SUBSCRIBED), "consent not_subscribed"),
    (lambda store, c: suppression_add(store=store, email=c.email, reason="bounced"),
     "suppressed (bounced)"),
    (lambda store, c: Store.objects.filter(pk=store.pk).update(status=Store.Status.UNINSTALLED),
     "store uninstalled"),
    (lambda store, c: Preference.objects.create(store=store, customer=c,
                                                paused_until=timezone.now() + timedelta(days=3)),
     "paused by the customer"),
])
def test_consent_is_checked_at_send_time(shop, customer, mailbox, prepare, reason):
    outbound = create(shop, customer)  # created while everything was fine
    prepare(shop, customer)
    result = email_send(outbound.pk)
    assert result.status == Status.SKIPPED
    outbound.refresh_from_db()
    assert outbound.status == Status.SKIPPED and outbound.reason == reason
    assert mailbox.messages == []


def test_a_left_sequence_is_skipped(shop, customer, mailbox):
    Preference.objects.create(store=shop, customer=customer, left_sequences=[7])
    left = create(shop, customer, sequence_id=7)
    other = create(shop, customer, sequence_id=8)
    assert email_send(left.pk).reason == "customer left this sequence"
    assert email_send(other.pk).status == Status.SENT
    assert len(mailbox.messages) == 1


def test_create_is_idempotent_on_its_key_and_enqueues_after_commit(
        shop, customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        first = outbound_email_create(store=shop, customer=customer, kind=Kind.FEEDBACK, context={},
                                      idempotency_key="step:41")
        again = outbound_email_create(store=shop, customer=customer, kind=Kind.FEEDBACK, context={},
                                      idempotency_key="step:41")
    assert first.pk == again.pk
    assert len(callbacks) == 1  # one nudge, for the one record


def test_a_later_send_waits_for_its_time(shop, customer, mailbox):
    outbound = create(shop, customer, scheduled_for=timezone.now() + timedelta(hours=2))
    assert email_send(outbound.pk).status == Status.SCHEDULED
    assert outbound_sweep()["enqueued"] == 0
    with time_machine.travel(timezone.now() + timedelta(hours=2, minutes=1), tick=False):
        assert outbound_sweep()["enqueued"] == 1
        assert outbound_sweep()["enqueued"] == 0  # nudged recently: not again
        assert email_send(outbound.pk).status == Status.SENT


def test_customer_of_another_store_is_refused(shop, other_shop):
    stranger = make_customer(other_shop)
    from xsell_plugin.core.exceptions import ValidationFailed

    with pytest.raises(ValidationFailed):
        create(shop, stranger)


def test_invalid_context_fails_without_sending(shop, customer, mailbox):
    outbound = create(shop, customer, Kind.INCENTIVE,
                      context={"incentive": {"code": "X", "expires_at": None}})
    assert email_send(outbound.pk).status == Status.FAILED
    outbound.refresh_from_db()
    assert outbound.reason.startswith("email_context_invalid")
    assert mailbox.messages == []


def test_suppression_of_another_store_does_not_apply(shop, other_shop, customer, mailbox):
    Suppression.objects.create(store=other_shop, email=customer.email, reason="unsubscribed")
    assert email_send(create(shop, customer).pk).status == Status.SENT


@pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
                    reason="the in-memory SQLite test database locks whole tables across threads")
@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_send_once(smtp_server, mailbox):
    """Four workers get the same task at the same moment: one claims it, one message leaves."""
    import threading

    from django.db import connection

    from tests.emails.helpers import smtp_store

    store = smtp_store(smtp_server, domain="race.myshopify.com", name="Race")
    outbound = create(store, make_customer(store))
    barrier = threading.Barrier(4)
    results: list[str] = []

    def worker():
        try:
            barrier.wait()
            results.append(tasks.send(outbound.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    assert len(mailbox.messages) == 1
    assert OutboundEmail.objects.get(pk=outbound.pk).attempts == 1
