"""The hand-built MIME message parses back exactly with Python's ``email`` package."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.policy import default as default_policy

from emails.kinds import Kind
from emails.mime import build_message
from emails.models import OutboundEmail
from emails.services import email_send, template_copy_set
from tests.emails.helpers import create, make_customer, parts


def _parse(raw: bytes):
    return email.message_from_bytes(raw, policy=default_policy)


def test_round_trip_with_non_ascii_and_long_lines():
    html = "<p>" + "Caf\u00e9 cr\u00e8me = 3\u20ac; " * 400 + "</p>\n.leading dot\n"
    raw = build_message(
        from_email="news@shop.example", from_name="Caf\u00e9 \u00abDu Coin\u00bb", to="a@example.com",
        subject="Votre caf\u00e9 \u2615 vous attend, \u00c9lodie " + "x" * 120,
        text="Bonjour \u00c9lodie,\n\n.ligne avec un point\n", html=html,
        message_id="<xsell.1.2@shop.example>", date=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        headers=[("List-Id", '"Caf" <xsell-1.shop.example>')])
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert raw.isascii()
    message = _parse(raw)
    assert message["Subject"] == "Votre caf\u00e9 \u2615 vous attend, \u00c9lodie " + "x" * 120
    assert message["From"].addresses[0].display_name == "Caf\u00e9 \u00abDu Coin\u00bb"
    assert message["Date"].datetime == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    text, got_html = message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()
    assert text.replace("\r\n", "\n") == "Bonjour \u00c9lodie,\n\n.ligne avec un point\n"
    assert got_html.replace("\r\n", "\n") == html


def test_line_breaks_in_header_values_cannot_add_headers():
    raw = build_message(from_email="n@shop.example", from_name="Shop\r\nBcc: victim@example.com",
                        to="a@example.com", subject="Hi\r\nBcc: victim@example.com\nX-Evil: 1",
                        text="t", html="<p>h</p>", message_id="<m@shop.example>",
                        date=datetime(2026, 1, 1, tzinfo=UTC))
    message = _parse(raw)
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert "Bcc: victim@example.com" in message["Subject"]


def test_merchant_copy_with_line_breaks_and_dots_arrives_intact(shop, mailbox):
    template_copy_set(store=shop, kind=Kind.VALUE, subject="Tips\r\nBcc: x@example.com",
                      body="First paragraph.\n\n.A paragraph that starts with a dot.")
    customer = make_customer(shop, first_name="J\u00fcrgen")
    outbound = create(shop, customer, Kind.VALUE)
    assert email_send(outbound.pk).status == OutboundEmail.Status.SENT
    [message] = mailbox.parsed()
    assert message["Bcc"] is None and message["Subject"] == "Tips Bcc: x@example.com"
    text, html = parts(message)
    assert "\n.A paragraph that starts with a dot.\n" in text
    assert "Hi J\u00fcrgen," in text and "Hi J\u00fcrgen," in html
