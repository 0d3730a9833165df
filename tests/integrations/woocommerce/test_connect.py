"""The key-granting connect flow: redirect, callback (keys checked, store installed), return."""

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import time_machine
from django.db import connection
from django.utils import timezone

from integrations.woocommerce.models import AuthRequest, Site
from xsell_plugin.dashboard.auth import SESSION_KEY
from xsell_plugin.stores.models import Store, StoreCredentials

pytestmark = pytest.mark.django_db


def start(client, store_url):
    response = client.get("/auth/woocommerce/connect", {"store_url": store_url})
    assert response.status_code == 302, response.content
    query = parse_qs(urlsplit(response["Location"]).query)
    return response["Location"], {k: v[0] for k, v in query.items()}


def deliver_keys(client, nonce, key, secret, permissions="read_write"):
    """What WordPress POSTs to the callback once the merchant approves."""
    body = {"key_id": 1, "user_id": nonce, "consumer_key": key, "consumer_secret": secret,
            "key_permissions": permissions}
    return client.post("/auth/woocommerce/callback", data=json.dumps(body),
                       content_type="application/json;charset=UTF-8")


def test_form_without_a_store_url(client):
    response = client.get("/auth/woocommerce/connect")
    assert response.status_code == 200 and b"store_url" in response.content


def test_redirects_to_the_stores_authorize_page(client):
    location, query = start(client, "https://Shop.Example.com/")
    assert location.startswith("https://shop.example.com/wc-auth/v1/authorize?")
    assert query == {
        "app_name": "xsell", "scope": "read_write", "user_id": query["user_id"],
        "return_url": "http://testserver/auth/woocommerce/return",
        "callback_url": "http://testserver/auth/woocommerce/callback",
    }
    request = AuthRequest.objects.get(nonce=query["user_id"])
    assert request.site_url == "https://shop.example.com"
    assert request.expires_at > timezone.now() + timedelta(minutes=20)
    assert client.session["xsell_woocommerce_nonce"] == query["user_id"]


def test_a_wordpress_in_a_subdirectory(client):
    location, _ = start(client, "https://example.com/shop/")
    assert location.startswith("https://example.com/shop/wc-auth/v1/authorize?")


@pytest.mark.parametrize(("url", "needle"), [
    ("http://shop.example.com", b"https://"),
    ("ftp://shop.example.com", b"not a web address"),
    ("https://10.0.0.5", b"private network"),
    ("https://user:pw@shop.example.com", b"not a web address"),
    ("https://shop.example.com/?x=1", b"without ?query"),
    ("https://intranet", b"full domain"),
    ("", b"Enter your store"),
])
def test_store_url_refused(client, url, needle):
    response = client.get("/auth/woocommerce/connect", {"store_url": url})
    assert response.status_code == 400 and needle in response.content
    assert not AuthRequest.objects.exists()


def test_loopback_http_only_when_allowed(client, settings):
    start(client, "http://127.0.0.1:8200")
    settings.XSELL_ALLOW_LOOPBACK_HTTP = False
    response = client.get("/auth/woocommerce/connect", {"store_url": "http://127.0.0.1:8200"})
    assert response.status_code == 400


def test_connect_end_to_end(client, fake, django_capture_on_commit_callbacks):
    location, query = start(client, fake.base_url)
    page = requests.get(location, timeout=5)  # the fake's authorize screen takes our request
    assert page.status_code == 200 and "Approve" in page.text
    key, secret = fake.issue_keys()
    with django_capture_on_commit_callbacks() as callbacks:
        response = deliver_keys(client, query["user_id"], key, secret)
    assert response.status_code == 200 and response.json() == {"status": "connected"}
    store = Store.objects.get(platform="woocommerce")
    assert (store.domain, store.name, store.currency, store.timezone, store.status) == (
        fake.base_url.split("://")[1], "Fake Woo Shop", "USD", "Europe/Paris", "active")
    creds = StoreCredentials.objects.get(store=store)
    assert (creds.consumer_key, creds.consumer_secret) == (key, secret)
    assert len(creds.webhook_secret) >= 32
    with connection.cursor() as cursor:  # encrypted at rest
        cursor.execute("SELECT consumer_secret, webhook_secret FROM stores_storecredentials")
        stored = cursor.fetchone()
    assert secret not in stored[0] and creds.webhook_secret not in stored[1]
    site = Site.objects.get(store=store)
    assert (site.base_url, site.wc_version, site.key_permissions) == (
        fake.base_url, "10.1.0", "read_write")
    assert len(callbacks) == 1  # integrations.tasks.connect_store, after commit
    # exactly one authenticated call checked the keys
    assert len(fake.requested("wc/v3/system_status")) == 1

    back = client.get("/auth/woocommerce/return", {"success": "1", "user_id": query["user_id"]})
    assert back.status_code == 302 and back["Location"] == "/app/"
    assert client.session[SESSION_KEY] == store.pk
    assert client.get("/app/").status_code == 200


def test_bad_keys_show_a_clear_error_and_install_nothing(client, fake):
    _, query = start(client, fake.base_url)
    response = deliver_keys(client, query["user_id"], "ck_not_valid", "cs_not_valid")
    assert response.status_code == 200 and response.json()["status"] == "failed"
    assert not Store.objects.exists() and not StoreCredentials.objects.exists()
    back = client.get("/auth/woocommerce/return", {"success": "1", "user_id": query["user_id"]})
    assert back.status_code == 400
    assert b"refused the API key" in back.content and b"Authorization header" in back.content
    assert SESSION_KEY not in client.session


def test_store_down_at_connect(client, fake):
    _, query = start(client, fake.base_url)
    fake.fail("wc/v3/system_status", 503, times=10)
    assert deliver_keys(client, query["user_id"], *fake.issue_keys()).json()["status"] == "failed"
    back = client.get("/auth/woocommerce/return", {"success": "1", "user_id": query["user_id"]})
    assert back.status_code == 400 and b"try" in back.content.lower()
    assert not Store.objects.exists()


def test_read_only_keys_refused(client, fake):
    _, query = start(client, fake.base_url)
    deliver_keys(client, query["user_id"], *fake.issue_keys("read"), permissions="read")
    back = client.get("/auth/woocommerce/return", {"success": "1", "user_id": query["user_id"]})
    assert back.status_code == 400 and b"read/write" in back.content
    assert not Store.objects.exists()


def test_nonce_is_single_use(client, fake):
    _, query = start(client, fake.base_url)
    assert deliver_keys(client, query["user_id"], *fake.issue_keys()).status_code == 200
    again = deliver_keys(client, query["user_id"], *fake.issue_keys())
    assert again.status_code == 409 and again.json()["code"] == "woocommerce_auth_used"
    assert Store.objects.count() == 1
    first = client.get("/auth/woocommerce/return", {"success": "1", "user_id": query["user_id"]})
    assert first.status_code == 302
    client.session.flush()
    replay = client.get("/auth/woocommerce/return", {"success": "1", "user_id": query["user_id"]})
    assert replay.status_code == 400


def test_nonce_expires(client, fake):
    _, query = start(client, fake.base_url)
    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        response = deliver_keys(client, query["user_id"], *fake.issue_keys())
    assert response.status_code == 400 and response.json()["code"] == "woocommerce_auth_expired"
    assert not Store.objects.exists()


@pytest.mark.parametrize("body", [{"user_id": "unknown", "consumer_key": "ck", "consumer_secret": "cs",
                                   "key_permissions": "read_write"},
                                  {"user_id": "x"}, ["not", "an", "object"]])
def test_callback_refuses_unknown_or_malformed(client, body):
    response = client.post("/auth/woocommerce/callback", data=json.dumps(body),
                           content_type="application/json")
    assert response.status_code == 400


def test_return_needs_the_browser_that_started(client, fake):
    _, query = start(client, fake.base_url)
    deliver_keys(client, query["user_id"], *fake.issue_keys())
    client.cookies.clear()
    back = client.get("/auth/woocommerce/return", {"success": "1", "user_id": query["user_id"]})
    assert back.status_code == 400 and b"another browser" in back.content


def test_merchant_declines(client, fake):
    _, query = start(client, fake.base_url)
    back = client.get("/auth/woocommerce/return", {"success": "0", "user_id": query["user_id"]})
    assert back.status_code == 400 and b"did not grant access" in back.content


def test_reconnecting_an_uninstalled_store(client, fake, woo):
    Store.objects.filter(pk=woo.pk).update(status=Store.Status.UNINSTALLED)
    Site.objects.filter(store=woo).update(webhook_secret_fingerprint="old")
    old_secret = StoreCredentials.objects.get(store=woo).webhook_secret
    _, query = start(client, fake.base_url)
    deliver_keys(client, query["user_id"], *fake.issue_keys())
    woo.refresh_from_db()
    assert woo.status == Store.Status.ACTIVE and Store.objects.count() == 1
    assert StoreCredentials.objects.get(store=woo).webhook_secret != old_secret
    assert Site.objects.get(store=woo).webhook_secret_fingerprint == ""
