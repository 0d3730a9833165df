"""ESP event webhooks: verified per store (Mailgun's HMAC signature, Postmark's basic auth)
through anymail's parsers, applied once per event to that store's suppression list."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from emails.models import MailerAccount, OutboundEmail
from emails.services import email_send, mailer_account_set
from tests.emails.helpers import create, make_customer
from tests.factories import StoreFactory
from xsell_plugin.customers.models import ConsentState, Customer, Suppression
from xsell_plugin.tracking.models import MailerEvent

SIGNING_KEY = "key-mailgun-signing-0123456789"
BASIC = "postmark-hook:s3cret-pass"


def _store(esp: str, secret: str, **kw):
    store = StoreFactory(**kw)
    creds = {"mailgun": {"api_key": "key-x"}, "postmark": {"server_token": "pm"}}[esp]
    mailer_account_set(store=store, transport=MailerAccount.Transport.ESP, esp=esp,
                       from_email="news@esp.example", esp_credentials=creds, webhook_secret=secret)
    return store


def mailgun_body(*, event: str, recipient: str, key: str = SIGNING_KEY, token: str = "tok-1",
                 severity: str = "permanent") -> bytes:
    timestamp = str(int(time.time()))
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return json.dumps({
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": {
            "event": event, "severity": severity, "recipient": recipient, "timestamp": time.time(),
            "id": "evt-" + token, "reason": "bounce",
            "message": {"headers": {"message-id": "xsell.1.2@esp.example"}},
            "delivery-status": {"code": 550, "message": "5.1.1 mailbox does not exist",
                                "description": "Not delivered"},
        },
    }).encode()


def _post(client, store, esp, body, **headers):
    return client.post(f"/webhooks/mailer/{store.pk}/{esp}/", data=body,
                       content_type="application/json", **headers)


def test_mailgun_signed_bounce_suppresses(client, db):
    store = _store("mailgun", SIGNING_KEY)
    customer = make_customer(store)
    response = _post(client, store, "mailgun", mailgun_body(event="failed", recipient=customer.email))
    assert response.status_code == 200, response.content
    assert response.json() == {"received": 1, "new": 1, "suppressed": 1}
    assert Suppression.objects.for_store(store).get(email=customer.email).reason == "bounced"
    assert MailerEvent.objects.for_store(store).get().event_type == "bounced"
    # a bounce suppresses the address, it is not an unsubscribe
    assert Customer.objects.get(pk=customer.pk).consent_state == ConsentState.SUBSCRIBED
    # the next send to that address is skipped
    outbound = create(store, customer)
    assert email_send(outbound.pk).status == OutboundEmail.Status.SKIPPED


def test_mailgun_redelivery_is_applied_once(client, db):
    store = _store("mailgun", SIGNING_KEY)
    body = mailgun_body(event="complained", recipient="Someone@Example.com", token="same")
    assert _post(client, store, "mailgun", body).json()["new"] == 1
    assert _post(client, store, "mailgun", body).json() == {"received": 1, "new": 0, "suppressed": 0}
    assert Suppression.objects.for_store(store).get(email="someone@example.com").reason == "complained"


def test_mailgun_complaint_also_unsubscribes_the_customer(client, db):
    store = _store("mailgun", SIGNING_KEY)
    customer = make_customer(store)
    _post(client, store, "mailgun", mailgun_body(event="complained", recipient=customer.email, token="c1"))
    assert Customer.objects.get(pk=customer.pk).consent_state == ConsentState.UNSUBSCRIBED


def test_mailgun_temporary_failure_does_not_suppress(client, db):
    store = _store("mailgun", SIGNING_KEY)
    body = mailgun_body(event="failed", recipient="a@example.com", severity="temporary", token="t")
    assert _post(client, store, "mailgun", body).json()["suppressed"] == 0
    assert not Suppression.objects.exists()


def test_mailgun_bad_signature_is_refused(client, db):
    store = _store("mailgun", SIGNING_KEY)
    body = mailgun_body(event="failed", recipient="a@example.com", key="key-somebody-else")
    assert _post(client, store, "mailgun", body).status_code == 400
    unsigned = json.loads(mailgun_body(event="failed", recipient="a@example.com"))
    del unsigned["signature"]
    assert _post(client, store, "mailgun", json.dumps(unsigned).encode()).status_code == 400
    assert not Suppression.objects.exists() and not MailerEvent.objects.exists()


def test_a_store_secret_does_not_open_another_store(client, db):
    first = _store("mailgun", SIGNING_KEY, domain="a.myshopify.com")
    second = _store("mailgun", "key-second-store-secret", domain="b.myshopify.com")
    body = mailgun_body(event="failed", recipient="a@example.com")  # signed with the first's key
    assert _post(client, second, "mailgun", body).status_code == 400
    assert _post(client, first, "mailgun", body).status_code == 200
    assert not Suppression.objects.for_store(second).exists()
    assert Suppression.objects.for_store(first).count() == 1


def _postmark(record: dict) -> bytes:
    return json.dumps(record).encode()


def _basic(credentials: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(credentials.encode()).decode()}


def test_postmark_hard_bounce_with_basic_auth(client, db):
    store = _store("postmark", BASIC)
    body = _postmark({"RecordType": "Bounce", "Type": "HardBounce", "TypeCode": 1, "ID": 4323372036,
                      "Email": "gone@example.com", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
                      "BouncedAt": "2026-01-01T10:00:00Z", "Description": "The address does not exist."})
    assert _post(client, store, "postmark", body, **_basic(BASIC)).status_code == 200
    assert Suppression.objects.for_store(store).get(email="gone@example.com").reason == "bounced"


def test_postmark_soft_bounce_does_not_suppress(client, db):
    store = _store("postmark", BASIC)
    body = _postmark({"RecordType": "Bounce", "Type": "SoftBounce", "ID": 1, "Email": "full@example.com",
                      "BouncedAt": "2026-01-01T10:00:00Z"})
    assert _post(client, store, "postmark", body, **_basic(BASIC)).json()["suppressed"] == 0


def test_postmark_wrong_basic_auth_is_refused(client, db):
    store = _store("postmark", BASIC)
    body = _postmark({"RecordType": "SpamComplaint", "Type": "SpamComplaint", "ID": 2,
                      "Email": "x@example.com", "BouncedAt": "2026-01-01T10:00:00Z"})
    assert _post(client, store, "postmark", body, **_basic("postmark-hook:wrong")).status_code == 400
    assert _post(client, store, "postmark", body).status_code == 400
    assert not Suppression.objects.exists()


@pytest.mark.parametrize("path", ["/webhooks/mailer/999999/mailgun/", "/webhooks/mailer/{pk}/postmark/",
                                  "/webhooks/mailer/{pk}/carrier-pigeon/"])
def test_unknown_store_or_esp_is_404(client, db, path):
    store = _store("mailgun", SIGNING_KEY)
    body = mailgun_body(event="failed", recipient="a@example.com")
    response = client.post(path.format(pk=store.pk), data=body, content_type="application/json")
    assert response.status_code == 404
