"""Shared by the emails and tracking suites: a real SMTP server on loopback (aiosmtpd), a store
connected to it, subscribed customers, and helpers to read what the server received."""

from __future__ import annotations

import asyncio
import email
import logging
import re
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from itertools import count

import pytest
from aiosmtpd.controller import Controller

from emails.context import incentive_snapshot
from emails.kinds import Kind
from emails.models import MailerAccount
from emails.services import mailer_account_set, outbound_email_create
from tests.factories import StoreFactory
from xsell_plugin.customers.models import ConsentState, Customer

_ids = count(1)
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass
class SMTPHandler:
    """Keeps every accepted message; can answer the next DATA with a scripted reply, or stall
    after the data (so the client times out waiting: the ambiguous case)."""

    messages: list[bytes] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    stall_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            reply = self.replies.pop(0) if self.replies else None
        if reply:
            return reply
        with self.lock:
            self.messages.append(envelope.original_content)
        if self.stall_seconds:
            await asyncio.sleep(self.stall_seconds)
        return "250 2.0.0 Message accepted"

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.replies.clear()
            self.stall_seconds = 0.0

    def parsed(self) -> list[EmailMessage]:
        with self.lock:
            return [email.message_from_bytes(raw, policy=default_policy) for raw in self.messages]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def smtp_server():
    handler = SMTPHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def mailbox(smtp_server) -> SMTPHandler:
    handler: SMTPHandler = smtp_server.handler
    handler.reset()
    yield handler
    handler.reset()


@pytest.fixture(autouse=True)
def _email_settings(settings):
    settings.XSELL_PUBLIC_URL = "https://app.xsell.test"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "app.xsell.test"]
    settings.XSELL_ALLOW_LOOPBACK_HTTP = True
    settings.XSELL_EMAIL_SMTP_TIMEOUT = 5.0
    settings.XSELL_EMAIL_RETRY_BACKOFF = 30.0
    settings.XSELL_EMAIL_MAX_ATTEMPTS = 3
    settings.XSELL_EMAIL_OPEN_PIXEL = False


def smtp_store(smtp_server, **overrides):
    store = StoreFactory(postal_address="12 Harbour Road\nPortsmouth PO1 2AB\nUnited Kingdom",
                         email_from="hello@shop.example", **overrides)
    mailer_account_set(store=store, transport=MailerAccount.Transport.SMTP,
                       from_email="news@mail.shop.example", from_name=f"{store.name} News",
                       smtp_host="127.0.0.1", smtp_port=smtp_server.port,
                       smtp_security=MailerAccount.Security.NONE)
    return store


@pytest.fixture
def shop(db, smtp_server):
    return smtp_store(smtp_server, domain="first-shop.myshopify.com", name="First Shop")


@pytest.fixture
def other_shop(db, smtp_server):
    return smtp_store(smtp_server, domain="second-shop.myshopify.com", name="Second Shop")


def make_customer(store, *, consent=ConsentState.SUBSCRIBED, email: str | None = None,
                  first_name: str = "Ada") -> Customer:
    n = next(_ids)
    return Customer.objects.create(
        store=store, external_id=f"cust-{n}", email=email or f"buyer{n}@example.com",
        first_name=first_name, consent_state=consent, consent_source="test",
        consent_updated_at=datetime(2025, 1, 1, tzinfo=UTC))


@pytest.fixture
def customer(shop) -> Customer:
    return make_customer(shop)


def product(n: int, *, price: str = "24.00", image: bool = True, url: str | None = None) -> dict:
    return {"id": f"p{n}", "title": f"Product {n}", "url": url or f"https://first-shop.example/products/p{n}",
            "image_url": f"https://cdn.shop.example/p{n}.jpg" if image else "", "price": price,
            "compare_at_price": None, "features": ["Sturdy", "Machine washable"]}


EXPIRY = datetime(2030, 6, 30, 23, 59, tzinfo=UTC)


def snapshot(kind: str) -> dict:
    """A minimal valid context snapshot for every kind."""
    return {
        Kind.VALUE: {"product": product(1), "tips": [{"title": "Store it dry", "body": "Keeps longer."}]},
        Kind.CHECKIN: {"product": product(1)},
        Kind.COMPLEMENTS: {"products": [product(1), product(2), product(3, image=False)]},
        Kind.UPGRADE: {"original": product(1), "upgrade": product(2, price="49.00")},
        Kind.BUNDLE: {"bundle": {"title": "The starter set", "items": [product(1), product(2)],
                                 "price": "40.00", "url": "https://first-shop.example/bundles/starter"}},
        Kind.INCENTIVE: {"incentive": incentive_snapshot(code="THANKS-7F3K", expires_at=EXPIRY,
                                                         headline="15% off your next order")},
        Kind.FOLLOWUP: {"products": [product(4)],
                        "reasons": [{"title": "Free returns", "body": "30 days, no questions."}]},
        Kind.FEEDBACK: {},
    }[kind]


def create(store, customer, kind: str = Kind.COMPLEMENTS, **kwargs):
    kwargs.setdefault("enqueue", False)
    return outbound_email_create(store=store, customer=customer, kind=kind,
                                 context=kwargs.pop("context", None) or snapshot(kind), **kwargs)


def expired(seconds: int = 60) -> datetime:
    from django.utils import timezone

    return timezone.now() - timedelta(seconds=seconds)


_URL = re.compile(r"<(https?://[^>]+)>")


def list_unsubscribe_https(message: EmailMessage) -> str:
    return _URL.search(str(message["List-Unsubscribe"])).group(1)


def parts(message: EmailMessage) -> tuple[str, str]:
    """(text, html) of a multipart/alternative message."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text.replace("\r\n", "\n"), html.replace("\r\n", "\n")
