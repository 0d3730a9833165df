"""Installing: embedded (session token -> token exchange) and the authorization-code grant;
session-token API authentication; the frame-ancestors policy of the app pages."""

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from integrations.shopify.models import OAuthState
from tests.fakes.shopify import session_token, sign_query
from tests.integrations.shopify.conftest import API_KEY, SECRET, connect
from xsell_plugin.dashboard.auth import SESSION_KEY
from xsell_plugin.stores.models import Store, StoreCredentials

pytestmark = [
    pytest.mark.django_db,
    # the brief's test secret is 15 bytes; real app secrets are longer
    pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
]

SHOP = "new-shop.myshopify.com"


def open_embedded(client, shop=SHOP, **claims):
    token = session_token(secret=SECRET, api_key=API_KEY, shop=shop, **claims)
    return client.get("/auth/shopify/", {"shop": shop, "host": "YWRtaW4", "embedded": "1", "id_token": token})


class TestTokenExchange:
    def test_first_load_installs_the_shop(self, client, fake, django_capture_on_commit_callbacks):
        fake.add_shop(SHOP, name="New Shop", currency="EUR", timezone="Europe/Paris")
        with django_capture_on_commit_callbacks() as callbacks:
            response = open_embedded(client)
        assert response.status_code == 302
        assert response["Location"] == f"/app/?shop={SHOP}&host=YWRtaW4"
        store = Store.objects.get(platform="shopify", domain=SHOP)
        assert (store.name, store.currency, store.timezone, store.status) == (
            "New Shop", "EUR", "Europe/Paris", "active")
        creds = StoreCredentials.objects.get(store=store)
        assert creds.access_token.startswith("shpat_") and creds.refresh_token.startswith("shprt_")
        assert creds.access_token_expires_at is not None  # an expiring offline token
        assert client.session[SESSION_KEY] == store.pk
        assert len(callbacks) == 1  # connect: webhooks + backfill, after commit
        assert fake.shop(SHOP).calls["token:exchange"] == 1
        shell = client.get(response["Location"])
        assert shell.status_code == 200
        assert shell["Content-Security-Policy"] == f"frame-ancestors https://{SHOP} https://admin.shopify.com"
        assert "X-Frame-Options" not in shell

    def test_later_loads_do_not_exchange_again(self, client, fake):
        fake.add_shop(SHOP)
        open_embedded(client)
        assert open_embedded(client).status_code == 302
        assert fake.shop(SHOP).calls["token:exchange"] == 1

    def test_reinstall_after_uninstall_exchanges_again(self, client, fake, store, shop):
        from integrations.connection import store_disconnect

        store_disconnect(store=store)
        assert open_embedded(client, shop=store.domain).status_code == 302
        store.refresh_from_db()
        assert store.status == "active" and shop.calls["token:exchange"] == 1

    def test_without_an_id_token_the_patch_page_fetches_one(self, client, fake):
        response = client.get("/auth/shopify/", {"shop": SHOP, "host": "YWRtaW4"})
        assert response.status_code == 302
        assert response["Location"].startswith("http://testserver/auth/shopify/patch-id-token?")
        page = client.get(response["Location"])
        assert page.status_code == 200
        assert f'data-api-key="{API_KEY}"' in page.content.decode()
        assert page["Content-Security-Policy"].endswith(f"frame-ancestors https://{SHOP} https://admin.shopify.com")

    def test_a_token_for_another_app_is_refused(self, client, fake):
        fake.add_shop(SHOP)
        token = session_token(secret="other-app-secret", api_key=API_KEY, shop=SHOP)
        response = client.get("/auth/shopify/", {"shop": SHOP, "id_token": token})
        assert response.status_code == 302 and "patch-id-token" in response["Location"]
        assert not Store.objects.exists()

    def test_a_dest_that_is_not_a_shop_is_refused(self, client, fake):
        response = open_embedded(client, shop="evil.example.com")
        assert response.status_code == 401
        assert response.json()["code"] == "session_token_bad_dest"


def signed(params, secret=SECRET):
    return {**params, "hmac": sign_query(secret, params)}


def install_link(shop=SHOP, **extra):
    return signed({"shop": shop, "timestamp": str(int(time.time())), "host": "YWRtaW4", **extra})


class TestAuthorizationCode:
    def start(self, client):
        response = client.get("/auth/shopify/install", install_link())
        assert response.status_code == 302
        return response["Location"]

    def test_full_install(self, client, fake):
        fake.add_shop(SHOP, name="Code Shop")
        authorize = self.start(client)
        query = parse_qs(urlsplit(authorize).query)
        assert authorize.startswith(f"{fake.url}/{SHOP}/admin/oauth/authorize?")
        assert query["redirect_uri"] == ["https://xsell.test/auth/shopify/callback"]
        assert "read_all_orders" in query["scope"][0]
        state = query["state"][0]
        assert OAuthState.objects.get(nonce=state).shop == SHOP
        # the merchant approves on Shopify, which redirects back signed
        approved = requests.get(authorize, allow_redirects=False, timeout=5)
        callback = urlsplit(approved.headers["Location"])
        assert callback.path == "/auth/shopify/callback"
        cookie = client.cookies["xsell_shopify_state"].value  # what this browser holds
        response = client.get(f"/auth/shopify/callback?{callback.query}")
        assert response.status_code == 302 and response["Location"].startswith("/app/?shop=")
        store = Store.objects.get(domain=SHOP)
        assert store.name == "Code Shop"
        creds = StoreCredentials.objects.get(store=store)
        assert creds.refresh_token and creds.access_token_expires_at  # expiring=1 was asked for
        assert client.session[SESSION_KEY] == store.pk
        # the same callback again: the state was used once
        client.cookies["xsell_shopify_state"] = cookie
        replay = client.get(f"/auth/shopify/callback?{callback.query}")
        assert replay.status_code == 400 and replay.json()["code"] == "shopify_state_invalid"

    def test_a_reused_state_is_refused_even_from_the_same_browser(self, client, fake):
        fake.add_shop(SHOP)
        state = parse_qs(urlsplit(self.start(client)).query)["state"][0]
        OAuthState.objects.filter(nonce=state).update(used_at="2026-01-01T00:00:00Z")
        params = signed({"code": fake.authorization_code(SHOP), "shop": SHOP, "state": state,
                         "timestamp": str(int(time.time()))})
        response = client.get("/auth/shopify/callback", params)
        assert response.status_code == 400 and response.json()["code"] == "shopify_state_invalid"
        assert not Store.objects.exists()

    def test_a_state_from_another_browser_is_refused(self, client, fake):
        fake.add_shop(SHOP)
        state = parse_qs(urlsplit(self.start(client)).query)["state"][0]
        client.cookies.clear()
        params = signed({"code": fake.authorization_code(SHOP), "shop": SHOP, "state": state,
                         "timestamp": str(int(time.time()))})
        assert client.get("/auth/shopify/callback", params).status_code == 400

    @pytest.mark.parametrize("path", ["/auth/shopify/install", "/auth/shopify/callback"])
    def test_bad_hmac_is_refused(self, client, fake, path):
        params = install_link()
        params["hmac"] = "0" * 64
        response = client.get(path, params)
        assert response.status_code == 400 and response.json()["code"] == "shopify_hmac_invalid"
        assert client.get(path, {k: v for k, v in params.items() if k != "hmac"}).status_code == 400

    @pytest.mark.parametrize("shop", ["shop.example.com", "evil.com/x.myshopify.com",
                                      "x.myshopify.com.evil.com", "-x.myshopify.com", ""])
    def test_bad_shop_domain_is_refused(self, client, fake, shop):
        response = client.get("/auth/shopify/install", install_link(shop=shop))
        assert response.status_code == 400 and response.json()["code"] == "shopify_shop_invalid"

    def test_an_old_link_is_refused(self, client, fake):
        params = signed({"shop": SHOP, "timestamp": str(int(time.time()) - 3600)})
        assert client.get("/auth/shopify/install", params).json()["code"] == "shopify_request_expired"

    def test_a_refused_code_is_a_clear_400(self, client, fake):
        fake.add_shop(SHOP)
        state = parse_qs(urlsplit(self.start(client)).query)["state"][0]
        params = signed({"code": "made-up", "shop": SHOP, "state": state, "timestamp": str(int(time.time()))})
        response = client.get("/auth/shopify/callback", params)
        assert response.status_code == 400 and response.json()["code"] == "shopify_code_refused"


class TestSessionTokenApi:
    def get(self, client, token):
        return client.get("/api/v1/store", headers={"Authorization": f"Bearer {token}"})

    def test_a_valid_token_authenticates_as_the_shops_store(self, client, store, shop, other_store,
                                                            other_shop):
        response = self.get(client, session_token(secret=SECRET, api_key=API_KEY, shop=store.domain))
        assert response.status_code == 200
        assert (response.json()["id"], response.json()["domain"]) == (store.pk, store.domain)
        other = self.get(client, session_token(secret=SECRET, api_key=API_KEY, shop=other_store.domain))
        assert other.json()["id"] == other_store.pk

    def test_expired_token(self, client, store, shop):
        token = session_token(secret=SECRET, api_key=API_KEY, shop=store.domain, now=time.time() - 120)
        response = self.get(client, token)
        assert response.status_code == 401
        assert response.json()["code"] == "session_token_expired_id_token"

    def test_a_little_clock_skew_is_tolerated(self, client, store, shop):
        token = session_token(secret=SECRET, api_key=API_KEY, shop=store.domain, now=time.time() + 5)
        assert self.get(client, token).status_code == 200

    def test_not_yet_valid_token(self, client, store, shop):
        token = session_token(secret=SECRET, api_key=API_KEY, shop=store.domain, now=time.time() + 300)
        assert self.get(client, token).status_code == 401

    def test_wrong_audience(self, client, store, shop):
        token = session_token(secret=SECRET, api_key="another-app", shop=store.domain)
        response = self.get(client, token)
        assert (response.status_code, response.json()["code"]) == (401, "session_token_invalid_aud")

    def test_wrong_signature(self, client, store, shop):
        token = session_token(secret="not-our-secret", api_key=API_KEY, shop=store.domain)
        assert self.get(client, token).status_code == 401

    def test_token_without_expiry(self, client, store, shop):
        token = session_token(secret=SECRET, api_key=API_KEY, shop=store.domain, exp=None)
        assert self.get(client, token).json()["code"] == "session_token_no_exp"

    def test_unknown_or_uninstalled_shop(self, client, store, shop, fake):
        token = session_token(secret=SECRET, api_key=API_KEY, shop="nobody.myshopify.com")
        assert self.get(client, token).json()["code"] == "shop_not_installed"
        Store.objects.filter(pk=store.pk).update(status="uninstalled")
        token = session_token(secret=SECRET, api_key=API_KEY, shop=store.domain)
        assert self.get(client, token).status_code == 401

    def test_no_token_is_not_authenticated(self, client, store, shop):
        assert client.get("/api/v1/store").status_code == 401


class TestFraming:
    def test_app_shell_of_a_session_store_names_its_shop(self, client, store, fake):
        connect(fake, store)
        session = client.session
        session[SESSION_KEY] = store.pk
        session.save()
        response = client.get("/app/")
        assert response.status_code == 200
        assert response["Content-Security-Policy"] == (
            f"frame-ancestors https://{store.domain} https://admin.shopify.com")
        assert "X-Frame-Options" not in response

    def test_auth_pages_without_a_shop_allow_only_the_admin(self, client, fake):
        response = client.get("/auth/shopify/install", {"shop": "nope"})
        assert response["Content-Security-Policy"] == "frame-ancestors https://admin.shopify.com"
        assert "X-Frame-Options" not in response

    def test_a_forged_shop_parameter_is_not_trusted_into_the_policy(self, client, fake):
        response = client.get("/app/", {"shop": "evil.com"})
        assert response["Content-Security-Policy"] == "frame-ancestors https://admin.shopify.com"

    def test_other_pages_keep_deny(self, client):
        response = client.get("/healthz")
        assert response["X-Frame-Options"] == "DENY"
        assert "Content-Security-Policy" not in response


def test_a_non_expiring_token_is_swapped_for_an_expiring_one(client, fake, store, shop):
    StoreCredentials.objects.filter(store=store).update(access_token_expires_at=None, refresh_token="")
    assert open_embedded(client, shop=store.domain).status_code == 302
    creds = StoreCredentials.objects.get(store=store)
    assert creds.access_token_expires_at is not None and creds.refresh_token
    assert shop.calls["token:exchange"] == 1
