"""The receiver's hot path (docs/performance.md): one statement per accepted delivery, and no
store lookup that could go stale (a redacted shop records nothing, a reinstalled one records at
once, under its new store)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.models import WebhookEvent
from tests.factories import StoreFactory
from tests.integrations.shopify.conftest import post_webhook
from xsell_plugin.stores.models import Store
from xsell_plugin.stores.services import store_redact, store_uninstall

pytestmark = pytest.mark.django_db

BODY = {"id": 1, "updated_at": "2026-01-01T00:00:00Z"}


def _statements(queries) -> list[str]:
    return [q["sql"].split()[0].upper() for q in queries.captured_queries]


def test_an_accepted_delivery_is_one_insert_and_one_task(client, store, shop,
                                                          django_capture_on_commit_callbacks):
    with CaptureQueriesContext(connection) as queries, \
            django_capture_on_commit_callbacks() as callbacks:
        response = post_webhook(client, topic="orders/create", shop=store.domain, body=BODY,
                                webhook_id="wh-1")
    assert response.status_code == 200
    statements = [s for s in _statements(queries) if s not in ("SAVEPOINT", "RELEASE")]
    assert statements == ["INSERT"], queries.captured_queries
    assert len(callbacks) == 1
    assert WebhookEvent.objects.for_store(store).get().dedupe_key == "wh-1"


def test_a_redelivery_records_nothing_and_enqueues_nothing(client, store, shop,
                                                            django_capture_on_commit_callbacks):
    post_webhook(client, topic="orders/create", shop=store.domain, body=BODY, webhook_id="wh-1")
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_webhook(client, topic="orders/create", shop=store.domain, body=BODY,
                                webhook_id="wh-1")
    assert response.status_code == 200 and callbacks == []
    assert WebhookEvent.objects.for_store(store).count() == 1


def test_the_store_is_the_shops_own(client, store, other_store, shop):
    post_webhook(client, topic="orders/create", shop=other_store.domain, body=BODY, webhook_id="wh-9")
    assert WebhookEvent.objects.for_store(other_store).count() == 1
    assert WebhookEvent.objects.for_store(store).count() == 0


def test_an_uninstalled_shop_still_records_its_compliance_webhooks(client, store, shop):
    store_uninstall(store=store)
    response = post_webhook(client, topic="shop/redact", shop=store.domain,
                            body={"shop_domain": store.domain}, webhook_id="wh-r")
    assert response.status_code == 200
    assert WebhookEvent.objects.for_store(store).get().topic == "shop/redact"


def test_a_redacted_shop_records_nothing_and_a_reinstall_records_at_once(client, store, shop):
    domain = store.domain
    post_webhook(client, topic="orders/create", shop=domain, body=BODY, webhook_id="wh-1")
    store_uninstall(store=store)
    store_redact(store=store)
    response = post_webhook(client, topic="orders/create", shop=domain, body=BODY, webhook_id="wh-2")
    assert response.status_code == 200
    assert not WebhookEvent.objects.exists()

    again = StoreFactory(domain=domain, platform=Store.Platform.SHOPIFY)
    response = post_webhook(client, topic="orders/create", shop=domain, body=BODY, webhook_id="wh-3")
    assert response.status_code == 200
    assert list(WebhookEvent.objects.values_list("store_id", "dedupe_key")) == [(again.pk, "wh-3")]


def test_an_unknown_shop_is_answered_200_and_records_nothing(client, shop, caplog):
    caplog.set_level("INFO", logger="integrations.shopify.views")
    response = post_webhook(client, topic="orders/create", shop="nobody.myshopify.com", body=BODY,
                            webhook_id="wh-1")
    assert response.status_code == 200
    assert not WebhookEvent.objects.exists()
    assert "unknown shop nobody.myshopify.com" in caplog.text
