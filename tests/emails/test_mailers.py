"""Per-store mailers: ESPs through anymail (a real loopback HTTP server stands in for the ESP),
the local outbox (demo store, stores without a mailer), "send test email", secrets at rest."""

from __future__ import annotations

import email
import json
from email.policy import default as default_policy

import pytest
from django.db import connection
from werkzeug import Response

from emails.kinds import Kind
from emails.models import MailerAccount, OutboundEmail, OutboxMessage
from emails.services import email_send, mailer_account_set, mailer_test_send
from tests.emails.helpers import create, list_unsubscribe_https, make_customer
from tests.factories import StoreFactory
from xsell_plugin.core.exceptions import ValidationFailed
from xsell_plugin.demo.services import demo_store_get_or_create

Status = OutboundEmail.Status


def _esp_store(esp: str, credentials: dict, httpserver):
    store = StoreFactory(postal_address="1 Loop Lane\nTestville", name="ESP Shop")
    mailer_account_set(store=store, transport=MailerAccount.Transport.ESP, esp=esp,
                       from_email="news@esp-shop.example", from_name="ESP Shop",
                       esp_credentials={**credentials, "api_url": httpserver.url_for("/")},
                       webhook_secret="hook:secret")
    return store


def test_postmark_gets_the_message_with_its_headers(db, httpserver):
    store = _esp_store("postmark", {"server_token": "pm-token"}, httpserver)
    customer = make_customer(store)
    httpserver.expect_oneshot_request("/email", method="POST", headers={
        "X-Postmark-Server-Token": "pm-token"}).respond_with_json(
        {"To": customer.email, "SubmittedAt": "2026-01-01T00:00:00Z", "MessageID": "pm-0001",
         "ErrorCode": 0, "Message": "OK"})
    outbound = create(store, customer, Kind.UPGRADE)
    assert email_send(outbound.pk).status == Status.SENT
    [(request, _)] = httpserver.log
    body = json.loads(request.data)
    headers = {h["Name"]: h["Value"] for h in body["Headers"]}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "<https://app.xsell.test/u/" in headers["List-Unsubscribe"]
    assert "mailto:" in headers["List-Unsubscribe"]
    assert headers["Message-ID"] == f"<xsell.{store.pk}.{outbound.pk}@esp-shop.example>"
    assert "1 Loop Lane" in body["TextBody"] and "1 Loop Lane" in body["HtmlBody"]
    outbound.refresh_from_db()
    assert outbound.transport == "esp" and outbound.esp_message_id == "pm-0001"


def test_resend_retry_carries_the_same_idempotency_key(db, httpserver):
    store = _esp_store("resend", {"api_key": "re_123"}, httpserver)
    customer = make_customer(store)
    httpserver.expect_ordered_request("/emails", method="POST").respond_with_response(
        Response("busy", status=503))
    httpserver.expect_ordered_request("/emails", method="POST").respond_with_json({"id": "re-msg-1"})
    outbound = create(store, customer, Kind.FEEDBACK)
    assert email_send(outbound.pk).status == Status.SCHEDULED
    OutboundEmail.objects.filter(pk=outbound.pk).update(scheduled_for=outbound.scheduled_for)
    assert email_send(outbound.pk).status == Status.SENT
    keys = [req.headers["Idempotency-Key"] for req, _ in httpserver.log]
    assert len(keys) == 2 and keys[0] == keys[1] and outbound.idempotency_key in keys[0]
    assert OutboundEmail.objects.get(pk=outbound.pk).esp_message_id == "re-msg-1"


def test_esp_rejection_fails(db, httpserver):
    store = _esp_store("postmark", {"server_token": "pm-token"}, httpserver)
    customer = make_customer(store)
    httpserver.expect_oneshot_request("/email", method="POST").respond_with_json(
        {"ErrorCode": 300, "Message": "Invalid 'From' address"}, status=422)
    outbound = create(store, customer)
    assert email_send(outbound.pk).status == Status.FAILED
    outbound.refresh_from_db()
    assert "422" in outbound.reason


def test_demo_store_uses_the_local_outbox(db, mailbox, smtp_server):
    demo = demo_store_get_or_create()
    # even with an SMTP account, the demo store never sends anything out
    mailer_account_set(store=demo, transport=MailerAccount.Transport.SMTP, from_email="demo@demo.example",
                       smtp_host="127.0.0.1", smtp_port=smtp_server.port,
                       smtp_security=MailerAccount.Security.NONE)
    customer = make_customer(demo)
    outbound = create(demo, customer, Kind.CHECKIN)
    assert email_send(outbound.pk).status == Status.SENT
    assert mailbox.messages == []
    [kept] = OutboxMessage.objects.for_store(demo)
    message = email.message_from_string(kept.raw, policy=default_policy)
    assert message["To"] == customer.email and message["List-Unsubscribe-Post"]
    assert list_unsubscribe_https(message).startswith("https://app.xsell.test/u/")
    assert OutboundEmail.objects.get(pk=outbound.pk).transport == "outbox"
    # ...but a test send to the merchant checks the connection they set up: it goes out
    result = mailer_test_send(store=demo, to="owner@demo.example")
    assert result.ok and result.transport == "smtp"
    assert [m["To"] for m in mailbox.parsed()] == ["owner@demo.example"]
    assert OutboxMessage.objects.for_store(demo).count() == 1


def test_store_without_mailer_uses_the_outbox(store):
    customer = make_customer(store)
    assert email_send(create(store, customer).pk).status == Status.SENT
    assert OutboxMessage.objects.for_store(store).count() == 1


def test_send_test_email_through_smtp(shop, mailbox):
    result = mailer_test_send(store=shop, to="owner@first-shop.example")
    assert result.ok and result.transport == "smtp"
    [message] = mailbox.parsed()
    assert message["Subject"].startswith("[Test] ") and message["To"] == "owner@first-shop.example"
    account = MailerAccount.objects.get(store=shop)
    assert account.last_test_ok is True and account.last_test_at is not None


def test_send_test_email_reports_a_refusal(shop, mailbox):
    mailbox.replies.append("554 5.7.1 Relay access denied")
    result = mailer_test_send(store=shop, to="owner@first-shop.example")
    assert not result.ok and "554" in result.error
    account = MailerAccount.objects.get(store=shop)
    assert account.last_test_ok is False and "Relay access denied" in account.last_test_error


def test_mailer_secrets_are_encrypted_at_rest(store):
    mailer_account_set(store=store, transport=MailerAccount.Transport.SMTP, from_email="a@shop.example",
                       smtp_host="smtp.shop.example", smtp_username="user", smtp_password="hunter2-secret",
                       webhook_secret="basic:pass")
    with connection.cursor() as cursor:
        cursor.execute("SELECT smtp_password, webhook_secret FROM emails_maileraccount WHERE store_id = %s",
                       [store.pk])
        stored = cursor.fetchone()
    assert "hunter2" not in stored[0] and "basic:pass" not in stored[1]
    account = MailerAccount.objects.get(store=store)
    assert account.smtp_password == "hunter2-secret"
    assert "hunter2" not in repr(account) and "hunter2" not in str(account)
    # leaving a secret out keeps the stored one
    mailer_account_set(store=store, transport=MailerAccount.Transport.SMTP, from_email="b@shop.example",
                       smtp_host="smtp.shop.example")
    assert MailerAccount.objects.get(store=store).smtp_password == "hunter2-secret"


@pytest.mark.parametrize("kwargs", [
    {"transport": "smtp", "from_email": "a@shop.example"},  # no host
    {"transport": "esp", "esp": "carrier-pigeon", "from_email": "a@shop.example", "esp_credentials": {}},
    {"transport": "esp", "esp": "postmark", "from_email": "a@shop.example", "esp_credentials": {}},
    {"transport": "smtp", "smtp_host": "h.example", "from_email": "not an address"},
])
def test_invalid_mailer_settings_are_refused(store, kwargs):
    with pytest.raises(ValidationFailed):
        mailer_account_set(store=store, **kwargs)


def test_smtp_to_a_private_address_is_refused(shop, customer, settings):
    settings.XSELL_ALLOW_LOOPBACK_HTTP = False
    outbound = create(shop, customer)
    assert email_send(outbound.pk).status == Status.FAILED
    outbound.refresh_from_db()
    assert "private or reserved" in outbound.reason
