"""Expiring offline tokens: refreshed before expiry and on 401, serialised across workers."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from integrations.exceptions import TerminalPlatformError
from integrations.shopify import queries
from integrations.shopify.client import ShopifyClient
from integrations.shopify.services import StoreTokens, access_token_get
from tests.integrations.shopify.conftest import connect
from xsell_plugin.stores.models import StoreCredentials


def creds(store):
    return StoreCredentials.objects.get(store=store)


@pytest.mark.django_db
class TestRefresh:
    def test_a_fresh_token_is_used_as_is(self, store, shop):
        token = creds(store).access_token
        assert access_token_get(store=store) == token
        assert shop.calls["token:refresh"] == 0

    def test_refreshed_before_it_expires_and_the_refresh_token_rotates(self, fake, store):
        shop = connect(fake, store, ttl=120)  # inside the 5-minute margin
        before = creds(store)
        ShopifyClient(shop=store.domain, tokens=StoreTokens(store)).execute(queries.SHOP)
        after = creds(store)
        assert shop.calls["token:refresh"] == 1
        assert after.access_token != before.access_token
        assert after.refresh_token != before.refresh_token  # rotated: the old one is dead now
        assert after.access_token_expires_at > timezone.now() + timedelta(minutes=55)
        assert shop.calls["graphql:401"] == 0

    def test_401_refreshes_once_and_retries(self, store, shop, fake):
        fake.script.unauthorized = 1  # Shopify revoked it early
        data = ShopifyClient(shop=store.domain, tokens=StoreTokens(store)).execute(queries.SHOP)
        assert data["shop"]["name"] == shop.name
        assert (shop.calls["graphql:401"], shop.calls["token:refresh"], shop.calls["XsellShop"]) == (1, 1, 1)

    def test_a_second_401_is_terminal(self, store, shop, fake):
        fake.script.unauthorized = 2
        with pytest.raises(TerminalPlatformError) as caught:
            ShopifyClient(shop=store.domain, tokens=StoreTokens(store)).execute(queries.SHOP)
        assert caught.value.code == "platform_unauthorized"

    def test_a_dead_refresh_token_is_terminal(self, fake, store):
        shop = connect(fake, store, ttl=60)
        shop.refresh_tokens.clear()  # e.g. revoked
        with pytest.raises(TerminalPlatformError) as caught:
            access_token_get(store=store)
        assert caught.value.code == "shopify_refresh_failed"

    def test_tokens_are_encrypted_at_rest(self, store, shop):
        with connection.cursor() as cursor:
            cursor.execute("SELECT access_token, refresh_token FROM stores_storecredentials "
                           "WHERE store_id = %s", [store.pk])
            raw = cursor.fetchone()
        assert creds(store).access_token.startswith("shpat_")
        assert not any(value.startswith(("shpat_", "shprt_")) for value in raw)


@pytest.mark.django_db(transaction=True)
def test_two_workers_refresh_once(fake, store):
    """Both see an expiring token at once; the credentials lock lets one refresh, and the other,
    after re-reading under the lock, uses the new token. Shopify sees one refresh."""
    shop = connect(fake, store, ttl=60)
    fake.script.refresh_delay = 0.3  # a slow token endpoint widens the race
    barrier = threading.Barrier(2)
    tokens, errors = [], []

    def worker():
        try:
            barrier.wait()
            tokens.append(access_token_get(store=store))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert shop.calls["token:refresh"] == 1
    assert len(set(tokens)) == 1 and tokens[0] == creds(store).access_token
