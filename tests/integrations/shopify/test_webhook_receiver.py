"""/webhooks/shopify/: HMAC of the raw body, both header spellings, what is stored and answered."""

import base64
import hashlib
import hmac
import json

import pytest

from integrations.models import WebhookEvent
from integrations.shopify import auth
from tests.integrations.shopify.conftest import post_webhook

pytestmark = pytest.mark.django_db

BODY = b'{"foo": "bar"}'


def expected_digest(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class TestHmac:
    def test_known_vector_verifies_with_either_header_spelling(self, fake):
        digest = expected_digest("test_secret_key", BODY)
        # the same as `openssl dgst -sha256 -hmac test_secret_key -binary | base64`
        assert digest == "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g="
        for name in ("X-Shopify-Hmac-Sha256", "shopify-hmac-sha256"):
            assert auth.verify_webhook({name: digest}, BODY.decode()).ok

    def test_one_changed_byte_fails(self, fake):
        digest = expected_digest("test_secret_key", BODY)
        result = auth.verify_webhook({"X-Shopify-Hmac-Sha256": digest}, '{"foo": "baz"}')
        assert (result.ok, result.response.status) == (False, 401)

    def test_other_secret_fails_and_previous_secret_works_during_rotation(self, fake, settings):
        digest = expected_digest("old_secret", BODY)
        assert not auth.verify_webhook({"X-Shopify-Hmac-Sha256": digest}, BODY.decode()).ok
        settings.XSELL_SHOPIFY_OLD_API_SECRET = "old_secret"
        assert auth.verify_webhook({"X-Shopify-Hmac-Sha256": digest}, BODY.decode()).ok


class TestReceiver:
    @pytest.mark.parametrize("style", ["x", "new"])
    def test_signed_delivery_is_recorded_once(self, client, store, shop, style):
        body = {"id": 1, "updated_at": "2026-01-01T00:00:00Z"}
        for _ in range(2):  # Shopify retries with the same webhook id
            response = post_webhook(client, topic="orders/create", shop=store.domain, body=body,
                                    webhook_id="wh-1", style=style,
                                    triggered_at="2026-01-01T00:00:01.123456789Z")
            assert response.status_code == 200
        event = WebhookEvent.objects.for_store(store).get()
        assert (event.platform, event.topic, event.dedupe_key) == ("shopify", "orders/create", "wh-1")
        assert json.loads(event.body) == body
        assert event.triggered_at.isoformat() == "2026-01-01T00:00:01.123456+00:00"

    def test_bad_signature_is_401_and_stores_nothing(self, client, store, shop):
        response = post_webhook(client, topic="orders/create", shop=store.domain, body=BODY,
                                secret="not-the-secret")
        assert response.status_code == 401
        assert not WebhookEvent.objects.exists()

    def test_missing_signature_is_400(self, client, store, shop):
        response = client.post("/webhooks/shopify/", data=BODY, content_type="application/json",
                               headers={"X-Shopify-Topic": "orders/create",
                                        "X-Shopify-Shop-Domain": store.domain,
                                        "X-Shopify-Webhook-Id": "x"})
        assert response.status_code == 400

    @pytest.mark.parametrize("drop", ["X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id"])
    def test_missing_header_is_400(self, client, store, shop, drop):
        response = post_webhook(client, topic="orders/create", shop=store.domain, body=BODY,
                                **{drop: ""})
        assert response.status_code == 400

    def test_signed_body_that_is_not_json_is_400(self, client, store, shop):
        response = post_webhook(client, topic="orders/create", shop=store.domain, body=b"not json{")
        assert response.status_code == 400
        assert not WebhookEvent.objects.exists()

    def test_shop_header_must_be_a_myshopify_domain(self, client, store, shop):
        response = post_webhook(client, topic="orders/create", shop="evil.example.com", body=BODY)
        assert response.status_code == 400

    def test_unknown_topic_is_200_and_logged_not_stored(self, client, store, shop, caplog):
        response = post_webhook(client, topic="themes/publish", shop=store.domain, body=BODY)
        assert response.status_code == 200
        assert not WebhookEvent.objects.exists()
        assert "topic not handled" in caplog.text

    def test_unknown_shop_is_200_and_stores_nothing(self, client, fake):
        response = post_webhook(client, topic="orders/create", shop="nobody.myshopify.com", body=BODY)
        assert response.status_code == 200
        assert not WebhookEvent.objects.exists()

    def test_oversize_body_is_413(self, client, store, shop):
        body = b'{"pad": "' + b"x" * (5 * 1024 * 1024) + b'"}'
        response = post_webhook(client, topic="orders/create", shop=store.domain, body=body)
        assert response.status_code == 413
        assert not WebhookEvent.objects.exists()

    def test_get_is_not_allowed(self, client):
        assert client.get("/webhooks/shopify/").status_code == 405

    def test_same_webhook_id_for_two_shops_is_two_events(self, client, store, shop, other_store,
                                                         other_shop):
        for domain in (store.domain, other_store.domain):
            post_webhook(client, topic="orders/create", shop=domain, body=BODY, webhook_id="same")
        assert WebhookEvent.objects.for_store(store).count() == 1
        assert WebhookEvent.objects.for_store(other_store).count() == 1

    def test_delivery_from_the_fake_over_http(self, live_server, store, shop, fake, settings):
        """The fake signs and POSTs like Shopify does, to our real HTTP server."""
        statuses = fake.deliver(shop=store.domain, topic="customers/create",
                                url=f"{live_server.url}/webhooks/shopify/", style="new")
        assert statuses == [200]
        assert WebhookEvent.objects.for_store(store).get().topic == "customers/create"
