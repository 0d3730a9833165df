"""The admin's shell page (/app/) without a browser: what it loads, in which order, and who may
see it; its static files are served by the app itself (WhiteNoise)."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from xsell_plugin.dashboard.auth import login_token_for

pytestmark = pytest.mark.django_db

HOST = "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvZmlyc3Q"  # base64 of the admin URL, as Shopify sends it
APP_BRIDGE = "https://cdn.shopify.com/shopifycloud/app-bridge.js"


def logged_in(store) -> Client:
    client = Client()
    assert client.get(f"/app/?login={login_token_for(store)}").status_code == 302
    return client


def config_of(page) -> dict:
    match = re.search(rb'<script id="xsell-config" type="application/json">(.*?)</script>',
                      page.content, re.S)
    return json.loads(match.group(1))


def test_the_shell_loads_the_admin_without_app_bridge(store, settings):
    settings.XSELL_SHOPIFY_API_KEY = "api-key"
    page = logged_in(store).get("/app/")
    html = page.content.decode()
    assert page.status_code == 200
    assert APP_BRIDGE not in html and "shopify-api-key" not in html
    assert '<meta name="csrf-token" content="' in html
    assert 'type="module" src="/static/xsell_admin/js/main.js"' in html
    assert 'src="/static/xsell_admin/vendor/chart.umd.min.js"' in html
    config = config_of(page)
    assert config["embedded"] is False and config["api"] == "/api/v1/"
    assert config["store"] == {"id": store.pk, "name": "First Shop", "domain": store.domain,
                               "platform": store.platform, "currency": store.currency,
                               "timezone": store.timezone}
    for landmark in ('<nav id="nav" class="nav" aria-label="Main">', '<main id="main"', 'aria-live="polite"'):
        assert landmark in html


def test_embedded_in_shopify_app_bridge_is_the_first_script(store, settings):
    settings.XSELL_SHOPIFY_API_KEY = "api-key"
    page = logged_in(store).get("/app/", {"shop": "first-shop.myshopify.com", "host": HOST})
    html = page.content.decode()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts[0] == f'<script src="{APP_BRIDGE}">'  # first, not async, not deferred
    assert html.index('<meta name="shopify-api-key" content="api-key">') < html.index(APP_BRIDGE)
    assert config_of(page)["embedded"] is True
    assert page["Content-Security-Policy"] == (
        "frame-ancestors https://first-shop.myshopify.com https://admin.shopify.com")


def test_without_the_app_key_there_is_no_app_bridge(store, settings):
    settings.XSELL_SHOPIFY_API_KEY = ""
    page = logged_in(store).get("/app/", {"shop": "first-shop.myshopify.com", "host": HOST})
    assert APP_BRIDGE not in page.content.decode()


def test_embedded_without_a_cookie_still_gets_the_shell_but_no_data(store, settings):
    """Browsers that keep no cookie for a frame: the shell renders (it holds no store data) and
    the API calls authenticate with App Bridge's session token."""
    settings.XSELL_SHOPIFY_API_KEY = "api-key"
    page = Client().get("/app/", {"shop": "first-shop.myshopify.com", "host": HOST})
    assert page.status_code == 200
    assert config_of(page)["store"] is None and b"First Shop" not in page.content
    assert Client().get("/app/", {"shop": "first-shop.myshopify.com"}).status_code == 401
    assert Client().get("/app/", {"shop": "evil.com", "host": HOST}).status_code == 401
    settings.XSELL_SHOPIFY_API_KEY = ""
    assert Client().get("/app/", {"shop": "first-shop.myshopify.com", "host": HOST}).status_code == 401


def test_the_front_end_is_served_by_the_app(client):
    for path, kind in (("/static/xsell_admin/js/main.js", "javascript"),
                       ("/static/xsell_admin/app.css", "css"),
                       ("/static/xsell_admin/vendor/chart.umd.min.js", "javascript")):
        response = client.get(path)
        assert response.status_code == 200, path
        assert kind in response["Content-Type"], (path, response["Content-Type"])
    body = b"".join(client.get("/static/xsell_admin/vendor/chart.umd.min.js").streaming_content)
    assert body.startswith(b"/*!\n * Chart.js v4.")
