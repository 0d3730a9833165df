"""The store's SMTP server is down, then back: sends are retried with backoff and each message
arrives exactly once; a server that stalls after the data leaves the send ``unknown``, never
resent."""

from __future__ import annotations

import email
import socket
from datetime import timedelta

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.utils import timezone

from emails import tasks
from emails.models import OutboundEmail
from emails.services import email_send, outbound_sweep
from tests.emails.helpers import SMTPHandler, create, make_customer, smtp_store

pytestmark = pytest.mark.django_db
Status = OutboundEmail.Status


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def email_settings(settings):
    settings.XSELL_PUBLIC_URL = "https://app.xsell.test"
    settings.XSELL_ALLOW_LOOPBACK_HTTP = True
    settings.XSELL_EMAIL_SMTP_TIMEOUT = 2.0
    settings.XSELL_EMAIL_RETRY_BACKOFF = 30.0
    settings.XSELL_EMAIL_MAX_ATTEMPTS = 4
    settings.XSELL_EMAIL_OPEN_PIXEL = False


class Outage:
    """An SMTP server on a fixed port that can go down and come back."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.handler = SMTPHandler()
        self.controller: Controller | None = None

    def up(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def down(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def outage():
    server = Outage()
    yield server
    server.down()


def test_smtp_down_then_back_every_message_arrives_once(email_settings, outage):
    store = smtp_store(type("S", (), {"port": outage.port})(), domain="outage.myshopify.com", name="Outage")
    outbounds = [create(store, make_customer(store)) for _ in range(5)]
    # the server is down: every send is put back with a backoff, nothing is lost
    for outbound in outbounds:
        result = email_send(outbound.pk)
        assert result.status == Status.SCHEDULED and "connect" in result.reason
    assert outbound_sweep()["enqueued"] == 0  # not due before the backoff

    # still down at the first retry
    first_retry = OutboundEmail.objects.get(pk=outbounds[0].pk).scheduled_for + timedelta(seconds=1)
    with time_machine.travel(first_retry, tick=False):
        assert outbound_sweep()["enqueued"] == 5
        assert {tasks.send(o.pk) for o in outbounds} == {Status.SCHEDULED}

    outage.up()  # back
    later = max(OutboundEmail.objects.values_list("scheduled_for", flat=True)) + timedelta(seconds=1)
    with time_machine.travel(later, tick=False):
        assert outbound_sweep()["enqueued"] == 5
        for outbound in outbounds:  # every task delivered twice by the broker
            assert tasks.send(outbound.pk) == Status.SENT
            assert tasks.send(outbound.pk) == Status.SENT
        assert outbound_sweep()["enqueued"] == 0
    ids = [email.message_from_bytes(raw)["Message-ID"] for raw in outage.handler.messages]
    assert len(ids) == 5 and len(set(ids)) == 5
    assert set(OutboundEmail.objects.values_list("status", "attempts")) == {(Status.SENT, 3)}


def test_retries_are_bounded_then_failed(email_settings, outage, settings):
    settings.XSELL_EMAIL_MAX_ATTEMPTS = 2
    store = smtp_store(type("S", (), {"port": outage.port})(), domain="gone.myshopify.com", name="Gone")
    outbound = create(store, make_customer(store))
    assert email_send(outbound.pk).status == Status.SCHEDULED
    outbound.refresh_from_db()
    with time_machine.travel(outbound.scheduled_for + timedelta(seconds=1), tick=False):
        assert email_send(outbound.pk).status == Status.FAILED
    outbound.refresh_from_db()
    assert outbound.reason.startswith("gave up after 2 attempts")


def test_a_server_stalling_after_the_data_leaves_it_unknown(email_settings, outage, settings):
    settings.XSELL_EMAIL_SMTP_TIMEOUT = 0.5
    outage.handler.stall_seconds = 1.5
    outage.up()
    store = smtp_store(type("S", (), {"port": outage.port})(), domain="stall.myshopify.com", name="Stall")
    outbound = create(store, make_customer(store))
    assert email_send(outbound.pk).status == Status.UNKNOWN
    with time_machine.travel(timezone.now() + timedelta(days=1), tick=False):
        assert outbound_sweep()["enqueued"] == 0
        assert tasks.send(outbound.pk) == Status.UNKNOWN
    assert len(outage.handler.messages) == 1
