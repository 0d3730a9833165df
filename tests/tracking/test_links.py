"""Clicks, the open pixel, one-click unsubscribe and the preference page, driven from messages
a real SMTP server received."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from emails.kinds import Kind
from emails.models import OutboundEmail
from emails.services import email_send
from tests.emails.helpers import create, list_unsubscribe_https, make_customer, parts
from xsell_plugin.customers.models import ConsentState, Customer, Preference, Suppression
from xsell_plugin.tracking import links
from xsell_plugin.tracking.models import Click, Open, TrackedLink

Status = OutboundEmail.Status
CLICK = re.compile(r'href="(https://app\.xsell\.test/t/c/[^"]+)"')


def _send(store, customer, mailbox, kind=Kind.COMPLEMENTS, **kwargs):
    outbound = create(store, customer, kind, **kwargs)
    assert email_send(outbound.pk).status == Status.SENT
    return outbound, mailbox.parsed()[-1]


def _path(url: str) -> str:
    return urlsplit(url).path


def test_one_click_unsubscribe_from_the_received_message(client, shop, customer, mailbox):
    _, message = _send(shop, customer, mailbox)
    url = list_unsubscribe_https(message)

    response = client.post(_path(url), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200  # RFC 8058: no redirect, no login
    customer.refresh_from_db()
    assert customer.consent_state == ConsentState.UNSUBSCRIBED
    assert customer.consent_source == "xsell:one-click"
    assert Suppression.objects.for_store(shop).get(email=customer.email).reason == "unsubscribed"

    nxt = create(shop, customer, Kind.FEEDBACK)
    result = email_send(nxt.pk)
    assert result.status == Status.SKIPPED and len(mailbox.messages) == 1
    # again: still 200, nothing new
    assert client.post(_path(url), data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert Suppression.objects.for_store(shop).count() == 1


def test_unsubscribe_page_asks_first(client, shop, customer, mailbox):
    _, message = _send(shop, customer, mailbox)
    path = _path(list_unsubscribe_https(message))
    page = client.get(path)
    assert page.status_code == 200
    assert b'name="List-Unsubscribe" value="One-Click"' in page.content
    customer.refresh_from_db()
    assert customer.consent_state == ConsentState.SUBSCRIBED  # a GET (link scanners) changes nothing
    assert client.post(path, data={"something": "else"}).status_code == 400


def test_unsubscribe_link_in_the_footer_works_too(client, shop, customer, mailbox):
    _, message = _send(shop, customer, mailbox)
    text, _ = parts(message)
    footer_url = re.search(r"Unsubscribe: (\S+)", text).group(1)
    assert client.post(_path(footer_url), data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert Customer.objects.get(pk=customer.pk).consent_state == ConsentState.UNSUBSCRIBED


def test_click_redirects_only_to_the_stored_url_and_is_recorded(client, shop, customer, mailbox):
    outbound, message = _send(shop, customer, mailbox)
    _, html = parts(message)
    first = CLICK.search(html).group(1)
    response = client.get(_path(first))
    assert response.status_code == 302
    target = response["Location"]
    assert target.startswith("https://first-shop.example/products/p1?")
    assert parse_qs(urlsplit(target).query)["utm_campaign"] == [Kind.COMPLEMENTS]
    [click] = Click.objects.for_store(shop)
    assert click.outbound_id == outbound.pk and click.customer_id == customer.pk
    assert click.link.url == target and click.clicked_at is not None


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
    lambda t: t.replace(":", "", 1),
    lambda t: "x" + t,
    lambda t: "https:--evil.example",
])
def test_tampered_tokens_are_404(client, shop, customer, mailbox, mangle):
    _, message = _send(shop, customer, mailbox)
    _, html = parts(message)
    token = CLICK.search(html).group(1).rsplit("/", 1)[1]
    unsubscribe = list_unsubscribe_https(message).rsplit("/", 1)[1]
    assert client.get(f"/t/c/{mangle(token)}").status_code == 404
    assert client.post(f"/u/{mangle(unsubscribe)}", data={"List-Unsubscribe": "One-Click"}).status_code == 404
    assert client.get(f"/p/{mangle(unsubscribe)}").status_code == 404
    assert not Click.objects.exists()
    assert Customer.objects.get(pk=customer.pk).consent_state == ConsentState.SUBSCRIBED


def test_tokens_are_purpose_bound(client, shop, customer, mailbox):
    _, message = _send(shop, customer, mailbox)
    unsubscribe = list_unsubscribe_https(message).rsplit("/", 1)[1]
    assert client.get(f"/t/c/{unsubscribe}").status_code == 404  # an unsubscribe token is no click
    assert client.get(f"/p/{unsubscribe}").status_code == 404


def test_a_click_token_for_a_link_that_was_never_sent_is_404(client, shop, customer, mailbox):
    outbound, _ = _send(shop, customer, mailbox)
    never = links.click_url(store_id=shop.pk, outbound_id=outbound.pk, position=99)
    assert client.get(_path(never)).status_code == 404


def test_a_token_of_one_store_cannot_touch_another(client, shop, other_shop, customer, mailbox):
    outbound, _ = _send(shop, customer, mailbox)
    # validly signed, but naming the other store: its rows are looked up in that store only
    cross_click = links.click_url(store_id=other_shop.pk, outbound_id=outbound.pk, position=0)
    assert client.get(_path(cross_click)).status_code == 404
    cross_unsub = links.unsubscribe_url(store_id=other_shop.pk, customer_id=customer.pk,
                                        outbound_id=outbound.pk)
    assert client.post(_path(cross_unsub), data={"List-Unsubscribe": "One-Click"}).status_code == 200
    cross_prefs = links.preferences_url(store_id=other_shop.pk, customer_id=customer.pk, sequence_id=None)
    assert client.post(_path(cross_prefs), data={"action": "pause"}).status_code == 404
    customer.refresh_from_db()
    assert customer.consent_state == ConsentState.SUBSCRIBED
    assert not Suppression.objects.exists() and not Preference.objects.exists()
    assert not Click.objects.exists()


def test_preference_page_pause_fewer_leave_reset(client, shop, customer, mailbox):
    _, message = _send(shop, customer, mailbox, sequence_id=31)
    text, _ = parts(message)
    path = _path(re.search(r"Email preferences: (\S+)", text).group(1))
    page = client.get(path)
    assert page.status_code == 200
    for action in (b'value="pause"', b'value="fewer"', b'value="leave_sequence"', b'value="unsubscribe"'):
        assert action in page.content

    assert client.post(path, data={"action": "pause"}).status_code == 200
    pref = Preference.objects.get(customer=customer)
    assert pref.paused_until > timezone.now() + timedelta(days=29)
    assert email_send(create(shop, customer).pk).reason == "paused by the customer"

    client.post(path, data={"action": "fewer"})
    client.post(path, data={"action": "leave_sequence"})
    pref.refresh_from_db()
    assert pref.frequency == Preference.Frequency.FEWER and pref.left_sequences == [31]

    client.post(path, data={"action": "reset"})
    pref.refresh_from_db()
    assert pref.paused_until is None and pref.frequency == "normal" and pref.left_sequences == []
    assert email_send(create(shop, customer, sequence_id=31).pk).status == Status.SENT

    assert client.post(path, data={"action": "bogus"}).status_code == 400
    assert client.post(path, data={"action": "unsubscribe"}).status_code == 200
    customer.refresh_from_db()
    assert customer.consent_state == ConsentState.UNSUBSCRIBED
    assert Suppression.objects.for_store(shop).filter(email=customer.email).exists()


def test_open_pixel_when_enabled(client, shop, customer, mailbox, settings):
    settings.XSELL_EMAIL_OPEN_PIXEL = True
    outbound, message = _send(shop, customer, mailbox)
    _, html = parts(message)
    pixel = re.search(r'src="(https://app\.xsell\.test/t/o/[^"]+)"', html).group(1)
    response = client.get(_path(pixel))
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert Open.objects.for_store(shop).get().outbound_id == outbound.pk


def test_the_same_link_twice_is_one_tracked_link(shop, mailbox):
    customer = make_customer(shop)
    same = {"id": "1", "title": "Same", "url": "https://first-shop.example/same", "price": "5"}
    outbound, _ = _send(shop, customer, mailbox, context={"products": [same, {**same, "id": "2"}],
                                                          "cta_url": "https://first-shop.example/same"})
    assert TrackedLink.objects.filter(outbound=outbound).count() == 2  # both products, and the cta
