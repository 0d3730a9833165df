"""The GraphQL client against the fake: cost-aware throttling, 429/5xx backoff with Retry-After,
typed errors, and the 401 -> refresh -> retry path."""

import pytest

from integrations.exceptions import RetryablePlatformError, TerminalPlatformError
from integrations.shopify import queries
from integrations.shopify.client import ShopifyClient
from integrations.shopify.services import StoreTokens
from tests.fakes.shopify import Reply

pytestmark = pytest.mark.django_db


class Sleeps(list):
    """Records the waits and really waits (they are short), so timing stays honest."""

    def __call__(self, seconds):
        import time

        self.append(seconds)
        time.sleep(min(seconds, 0.2))


@pytest.fixture
def client(store, shop):
    return ShopifyClient(shop=store.domain, tokens=StoreTokens(store), sleep=Sleeps())


def test_throttled_then_success_waits_for_the_bucket(client, shop, fake):
    fake.script.throttled["XsellShop"] = 2
    assert client.execute(queries.SHOP)["shop"]["name"] == shop.name
    assert shop.calls["XsellShop"] == 3
    # requested 15, available 5, restore 100/s -> 0.1 s each time
    assert client.sleep[:2] == [pytest.approx(0.1), pytest.approx(0.1)]
    assert client.bucket.available == 1990.0 and client.bucket.restore_rate == 100.0


def test_429_honours_retry_after(client, shop, fake):
    fake.script.canned.append(("XsellShop", Reply.json({"errors": "Too many"}, 429, {"Retry-After": "0.3"})))
    assert client.execute(queries.SHOP)["shop"]
    assert client.sleep == [pytest.approx(0.3)]


def test_a_long_retry_after_is_handed_back_not_slept(client, shop, fake):
    fake.script.canned.append(("XsellShop", Reply.json({"errors": "Too many"}, 429, {"Retry-After": "120"})))
    with pytest.raises(RetryablePlatformError) as caught:
        client.execute(queries.SHOP)
    assert caught.value.retry_after == 120
    assert client.sleep == []


def test_5xx_backs_off_then_gives_up_retryable(client, shop, fake):
    for _ in range(6):
        fake.script.canned.append(("XsellShop", Reply.json({"errors": "boom"}, 503)))
    with pytest.raises(RetryablePlatformError):
        client.execute(queries.SHOP)
    assert client.sleep == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert shop.calls["XsellShop"] == 6


def test_proactive_wait_when_the_bucket_is_low(client, shop, fake):
    client.execute(queries.SHOP)
    client.bucket.available, client.bucket.last_cost = 0.0, 20.0
    client.execute(queries.SHOP)
    assert client.sleep and client.sleep[0] == pytest.approx(0.2, abs=0.02)


def test_graphql_errors_and_user_errors_are_terminal(client, shop, fake):
    fake.script.canned.append(("XsellShop", Reply.json({"errors": [
        {"message": "Access denied for shop field.", "extensions": {"code": "ACCESS_DENIED"}}]})))
    with pytest.raises(TerminalPlatformError) as caught:
        client.execute(queries.SHOP)
    assert caught.value.extra["codes"] == ["ACCESS_DENIED"]
    client.mutate(queries.DISCOUNT_BASIC_CREATE, {"input": {"code": "X"}}, "discountCodeBasicCreate")
    with pytest.raises(TerminalPlatformError) as caught:
        client.mutate(queries.DISCOUNT_BASIC_CREATE, {"input": {"code": "X"}}, "discountCodeBasicCreate")
    assert caught.value.code == "platform_user_error"


@pytest.mark.parametrize("status", [402, 403, 404, 423])
def test_shop_level_refusals_are_terminal(client, shop, fake, status):
    fake.script.canned.append(("XsellShop", Reply.json({"errors": "nope"}, status)))
    with pytest.raises(TerminalPlatformError):
        client.execute(queries.SHOP)


def test_loopback_refused_when_not_allowed(client, shop, settings):
    settings.XSELL_ALLOW_LOOPBACK_HTTP = False
    with pytest.raises(TerminalPlatformError):
        ShopifyClient(shop=client.shop, tokens=client.tokens).execute(queries.SHOP)
