"""Secrets never reach the logs. Every log record (root at DEBUG, so urllib3's request lines and
our own debug output are in), everything written to stdout/stderr, and the error texts we keep on
rows that the admin shows, are captured through the flows that handle secrets: a Shopify install
(token exchange), a token refresh, a webhook received and processed, a backfill, a WooCommerce
key delivery and the calls made with those keys, an SMTP send with a password, an ESP send and an
ESP that fails, and an ESP event webhook. None may contain an access or refresh token, a consumer
secret, an SMTP password, an ESP key, the app secret or a webhook secret."""

from __future__ import annotations

import base64
import json
import logging
import socket
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from django.test import Client
from django.utils import timezone

from emails.models import MailerAccount, OutboundEmail
from emails.services import email_send, mailer_account_set, mailer_test_send, outbound_email_create
from integrations.sync import sync_job_run, sync_job_start
from integrations.webhooks import webhook_event_process
from integrations.woocommerce.auth import auth_request_start
from tests.emails.helpers import SMTPHandler, make_customer
from tests.factories import StoreFactory
from tests.fakes.shopify import FakeShopify, FakeShopifyServer, catalogue, session_token, webhook_headers
from tests.fakes.woocommerce_server import FakeWooCommerce, webhook_signature
from xsell_plugin.stores.models import Store, StoreCredentials

pytestmark = pytest.mark.django_db
APP_SECRET = "app-secret-SHOULD-NEVER-BE-LOGGED-0123456789"
API_KEY = "logs_api_key"
SMTP_PASSWORD = "smtp-password-SHOULD-NEVER-BE-LOGGED"
ESP_TOKEN = "esp-token-SHOULD-NEVER-BE-LOGGED"
ESP_WEBHOOK_SECRET = "hookuser:esp-hook-SHOULD-NEVER-BE-LOGGED"


@pytest.fixture
def everything_logged(caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "django.db.backends", "requests", "httpx", "mail.log", "django_q"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield caplog
    for name in ("urllib3", "django.db.backends", "requests", "httpx", "mail.log", "django_q"):
        logging.getLogger(name).setLevel(logging.NOTSET)
    logging.getLogger("mail.log").setLevel(logging.WARNING)


@pytest.fixture
def shopify(settings):
    server = FakeShopifyServer(FakeShopify(api_key=API_KEY, api_secret=APP_SECRET)).start()
    settings.XSELL_SHOPIFY_ADMIN_BASE_URL = server.url
    settings.XSELL_SHOPIFY_API_KEY = API_KEY
    settings.XSELL_SHOPIFY_API_SECRET = APP_SECRET
    settings.XSELL_SHOPIFY_BULK_POLL_SECONDS = 0.01
    settings.XSELL_ALLOW_LOOPBACK_HTTP = True
    settings.XSELL_PUBLIC_URL = "https://app.xsell.test"
    settings.ALLOWED_HOSTS = ["testserver", "app.xsell.test"]
    yield server.fake
    server.stop()


@pytest.fixture
def smtp_with_auth():
    handler = SMTPHandler()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port, auth_require_tls=False,
                            authenticator=lambda *args: AuthResult(success=True))
    controller.start()
    yield controller
    controller.stop()


def _secrets(*stores: Store) -> set[str]:
    found = {APP_SECRET, SMTP_PASSWORD, ESP_TOKEN, ESP_WEBHOOK_SECRET.split(":", 1)[1]}
    for creds in StoreCredentials.objects.filter(store__in=stores):
        found.update(v for v in (creds.access_token, creds.refresh_token, creds.consumer_secret,
                                 creds.webhook_secret) if v)
    return found


def _assert_clean(texts: list[str], secrets: set[str]) -> None:
    haystack = "\n".join(texts)
    assert len(haystack) > 1000  # the flows did log
    for secret in secrets:
        assert len(secret) >= 8
        assert secret not in haystack, f"a secret ({secret[:6]}...) appears in the logs"


def test_shopify_install_refresh_webhook_backfill_and_emails_log_no_secret(
        shopify, smtp_with_auth, everything_logged, capfd, httpserver):
    shop_domain = "secret-shop.myshopify.com"
    shop = shopify.add_shop(shop_domain, name="Secret Shop")
    catalogue.seed(shop, products=5, customers=3, orders=4)
    client = Client()
    # 1. install: the admin loads the app with a session token; we exchange it for a token pair
    token = session_token(secret=APP_SECRET, api_key=API_KEY, shop=shop_domain)
    answer = client.get("/auth/shopify/", {"shop": shop_domain, "host": "aG9zdA", "embedded": "1",
                                           "id_token": token}, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 302, answer.content
    store = Store.objects.get(domain=shop_domain)
    seen = _secrets(store) | {token}
    # 2. a refresh (the token is about to expire) inside a backfill
    StoreCredentials.objects.filter(store=store).update(
        access_token_expires_at=timezone.now() + timedelta(seconds=30))
    for kind in ("products", "customers", "orders"):
        job = sync_job_start(store=store, kind=kind)
        assert sync_job_run(job_id=job.pk) == "done"
    assert shop.calls["token:refresh"] == 1
    seen |= _secrets(store)
    # 3. a webhook, received and processed; one with a wrong signature too
    body = json.dumps(shop.customers[0] | {"id": 7000, "email": "a@b.example",
                                            "updated_at": "2030-01-01T00:00:00Z"}).encode()
    headers = webhook_headers(secret=APP_SECRET, topic="customers/update", shop=shop_domain, body=body)
    headers.pop("Content-Type")
    assert client.post("/webhooks/shopify/", data=body, content_type="application/json",
                       headers=headers).status_code == 200
    headers["X-Shopify-Hmac-Sha256"] = "d3Jvbmc="
    assert client.post("/webhooks/shopify/", data=body, content_type="application/json",
                       headers=headers).status_code == 401
    from integrations.models import WebhookEvent

    for event in WebhookEvent.objects.for_store(store):
        webhook_event_process(event_id=event.pk)
    # 4. an SMTP send with a password, and a test send
    mailer_account_set(store=store, transport=MailerAccount.Transport.SMTP, from_email="news@secret.example",
                       smtp_host="127.0.0.1", smtp_port=smtp_with_auth.port,
                       smtp_security=MailerAccount.Security.NONE, smtp_username="mailer",
                       smtp_password=SMTP_PASSWORD)
    customer = make_customer(store)
    outbound = outbound_email_create(store=store, customer=customer, kind="feedback", context={},
                                     enqueue=False)
    assert email_send(outbound.pk).status == OutboundEmail.Status.SENT
    mailer_test_send(store=store, to="merchant@secret.example")
    # 5. an ESP that fails (500 with an echo of what it got), then an ESP event webhook
    httpserver.expect_request(__import__("re").compile(".*")).respond_with_json(
        {"ErrorCode": 500, "Message": "upstream broke"}, status=500)
    mailer_account_set(store=store, transport=MailerAccount.Transport.ESP, from_email="news@secret.example",
                       esp="postmark", esp_credentials={"server_token": ESP_TOKEN,
                                                        "api_url": httpserver.url_for("/")},
                       webhook_secret=ESP_WEBHOOK_SECRET)
    failing = outbound_email_create(store=store, customer=customer, kind="feedback", context={},
                                    enqueue=False, idempotency_key="esp-1")
    email_send(failing.pk)
    mailer_test_send(store=store, to="merchant@secret.example")
    auth = "Basic " + base64.b64encode(b"hookuser:wrong").decode()
    client.post(f"/webhooks/mailer/{store.pk}/postmark/", data=b"{}", content_type="application/json",
                HTTP_AUTHORIZATION=auth)
    auth = "Basic " + base64.b64encode(ESP_WEBHOOK_SECRET.encode()).decode()
    client.post(f"/webhooks/mailer/{store.pk}/postmark/", data=json.dumps(
        {"RecordType": "Bounce", "ID": 1, "Type": "HardBounce", "Email": customer.email,
         "BouncedAt": "2026-01-01T00:00:00Z", "MessageID": "x"}).encode(),
        content_type="application/json", HTTP_AUTHORIZATION=auth)
    out, err = capfd.readouterr()
    kept = [str(v) for v in OutboundEmail.objects.values_list("reason", flat=True)]
    kept += [str(v) for v in MailerAccount.objects.values_list("last_test_error", flat=True)]
    kept += [str(v) for v in WebhookEvent.objects.values_list("last_error", flat=True)]
    records = [record.getMessage() for record in everything_logged.records]
    _assert_clean([*records, everything_logged.text, out, err, *kept], seen | _secrets(store))


def test_woocommerce_connect_and_sync_log_no_secret(settings, everything_logged, capfd):
    settings.XSELL_ALLOW_LOOPBACK_HTTP = True
    settings.XSELL_PUBLIC_URL = "http://testserver"
    settings.XSELL_WOOCOMMERCE_RETRY_BACKOFF = 0.01
    fake = FakeWooCommerce(post_callbacks=False)
    fake.serve()
    try:
        fake.seed(products=12, customers=5, orders=6)
        fake.fail("wc/v3/orders", 500, times=1)  # an error path too
        request = auth_request_start(site_url=fake.base_url)
        key, secret = fake.issue_keys()
        answer = Client().post("/auth/woocommerce/callback", data=json.dumps({
            "key_id": 1, "user_id": request.nonce, "consumer_key": key, "consumer_secret": secret,
            "key_permissions": "read_write"}), content_type="application/json")
        assert answer.status_code == 200 and answer.json()["status"] == "connected", answer.content
        store = Store.objects.get(platform=Store.Platform.WOOCOMMERCE)
        for kind in ("products", "customers", "orders"):
            job = sync_job_start(store=store, kind=kind)
            sync_job_run(job_id=job.pk)
        creds = StoreCredentials.objects.get(store=store)
        body = json.dumps({"id": 1}).encode()
        Client().post(f"/webhooks/woocommerce/{store.pk}/", data=body, content_type="application/json",
                      HTTP_X_WC_WEBHOOK_TOPIC="order.updated",
                      HTTP_X_WC_WEBHOOK_SIGNATURE=webhook_signature(body, "not-the-secret"))
    finally:
        fake.shutdown()
    out, err = capfd.readouterr()
    records = [record.getMessage() for record in everything_logged.records]
    # The consumer key too: over plain http (loopback, tests) OAuth 1.0a puts it in the URL.
    _assert_clean([*records, everything_logged.text, out, err], {key, secret, creds.webhook_secret})
    assert (key, secret) == (creds.consumer_key, creds.consumer_secret)


def test_a_store_built_by_factory_has_no_secret_in_its_repr():
    store = StoreFactory()
    creds = StoreCredentials.objects.create(store=store, access_token="shpat_repr_secret_value",
                                            consumer_secret="cs_repr_secret_value")
    assert "secret_value" not in repr(creds) and "secret_value" not in str(creds)
