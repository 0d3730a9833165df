"""The REST client against the fake store: auth, paging, cursors, typed errors, retries."""

import time

import pytest

from integrations.exceptions import RetryablePlatformError, TerminalPlatformError
from integrations.woocommerce.client import PageCursor, WooCommerceClient, WooCommerceNotFound


@pytest.fixture
def client(fake):
    return WooCommerceClient(fake.base_url, *fake.issue_keys())


def ids(pages):
    return [item["id"] for items, _ in pages for item in items]


def test_oauth_signed_calls_over_loopback_http(fake, client):
    fake.add_product()
    assert len(client.get("products").data) == 1
    query = fake.requested("wc/v3/products")[0]
    assert query["oauth_signature_method"] == "HMAC-SHA256" and "consumer_secret" not in query


def test_bad_keys_are_terminal(fake):
    client = WooCommerceClient(fake.base_url, "ck_nope", "cs_nope")
    with pytest.raises(TerminalPlatformError) as caught:
        client.get("system_status")
    assert caught.value.code == "woocommerce_unauthorized"


def test_https_required_except_loopback(settings):
    with pytest.raises(TerminalPlatformError, match="https"):
        WooCommerceClient("http://shop.example.com", "ck", "cs")
    settings.XSELL_ALLOW_LOOPBACK_HTTP = False
    with pytest.raises(TerminalPlatformError, match="https"):
        WooCommerceClient("http://127.0.0.1:8200", "ck", "cs")


def test_pages_across_total_pages(fake, client):
    for _ in range(250):
        fake.add_product()
    pages = list(client.pages("products"))
    assert [len(items) for items, _ in pages] == [100, 100, 50]
    assert [cursor is None for _, cursor in pages] == [False, False, True]
    assert ids(pages) == sorted(fake.products)
    queries = fake.requested("wc/v3/products")
    assert [q["page"] for q in queries] == ["1", "2", "3"]
    assert {(q["per_page"], q["orderby"], q["order"]) for q in queries} == {("100", "id", "asc")}


def test_resume_from_a_cursor(fake, client):
    for _ in range(250):
        fake.add_product()
    first = next(client.pages("products"))
    rest = list(client.pages("products", cursor=first[1]))
    assert ids([first, *rest]) == sorted(fake.products)
    assert PageCursor.load(first[1]).page == 2


def test_rows_deleted_mid_listing_are_not_skipped(fake, client):
    for _ in range(250):
        fake.add_product()
    listing = client.pages("products")
    items, _ = next(listing)
    for doomed in items[:30]:  # 30 rows of page 1 go: page 2 would start 30 rows later
        del fake.products[doomed["id"]]
    remaining = ids(list(listing))
    survivors = sorted(fake.products)
    assert remaining == [i for i in survivors if i > items[-1]["id"]]


def test_rows_added_mid_listing_are_read_once(fake, client):
    for _ in range(150):
        fake.add_product()
    listing = client.pages("products")
    first, _ = next(listing)
    fake.add_product()
    rest = ids(list(listing))
    assert sorted(i["id"] for i in first) + rest == sorted(fake.products)


def test_429_waits_for_retry_after(fake, client):
    fake.fail("wc/v3/products", 429, headers={"Retry-After": "1"})
    started = time.monotonic()
    assert client.get("products").status == 200
    assert time.monotonic() - started >= 1.0
    assert len(fake.requested("wc/v3/products")) == 2


def test_a_wait_longer_than_allowed_is_left_to_the_scheduler(fake, client, settings):
    fake.fail("wc/v3/products", 429, headers={"Retry-After": "120"})
    with pytest.raises(RetryablePlatformError) as caught:
        client.get("products")
    assert caught.value.retry_after == 120 and len(fake.requested("wc/v3/products")) == 1


def test_5xx_retried_with_bounded_attempts(fake, client):
    fake.fail("wc/v3/orders", 503, times=2)
    assert client.get("orders").status == 200
    fake.fail("wc/v3/orders", 502, times=5)
    with pytest.raises(RetryablePlatformError):
        client.get("orders")
    assert len(fake.requested("wc/v3/orders")) == 3 + 3  # attempts = 3 (test settings)


def test_each_retry_is_signed_afresh(fake, client):
    fake.fail("wc/v3/orders", 500)
    client.get("orders")
    nonces = [q["oauth_nonce"] for q in fake.requested("wc/v3/orders")]
    assert len(set(nonces)) == 2  # the fake, like WooCommerce, refuses a reused nonce


def test_not_found_and_rejections_are_terminal(fake, client):
    with pytest.raises(WooCommerceNotFound):
        client.get("orders/999999")
    fake.fail("wc/v3/coupons", 400, method="POST",
              body={"code": "woocommerce_rest_invalid", "message": "Nope", "data": {"status": 400}})
    with pytest.raises(TerminalPlatformError) as caught:
        client.post("coupons", {"code": "x"})
    assert caught.value.extra["wc_code"] == "woocommerce_rest_invalid"


def test_redirects_are_not_followed(fake, client):
    fake.fail("wc/v3/products", 301, headers={"Location": "https://www.shop.example.com/"})
    with pytest.raises(TerminalPlatformError) as caught:
        client.get("products")
    assert caught.value.code == "woocommerce_redirected"


def test_connection_refused_is_retryable():
    client = WooCommerceClient("http://127.0.0.1:9", "ck", "cs", attempts=1)
    with pytest.raises(RetryablePlatformError):
        client.get("products")


def test_site_index_is_public(fake):
    index = WooCommerceClient(fake.base_url).site_index()
    assert (index["name"], index["timezone_string"]) == ("Fake Woo Shop", "Europe/Paris")


@pytest.mark.parametrize("raw", ["{", '{"page": "x"}', "[]"])
def test_bad_cursor(raw):
    with pytest.raises(ValueError):
        PageCursor.load(raw)
