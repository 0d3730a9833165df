"""Serve a fake Shopify shop by hand: ``python -m tests.fakes.shopify --port 8100``.

Then run the app against it (docs/shopify.md, "Sandbox"):
    XSELL_SHOPIFY_ADMIN_BASE_URL=http://127.0.0.1:8100 XSELL_SHOPIFY_API_KEY=sandbox_key \
    XSELL_SHOPIFY_API_SECRET=sandbox_secret make serve
and open http://127.0.0.1:8100/_fake/open?shop=<shop> (embedded load, token exchange) or
http://127.0.0.1:8100/_fake/install?shop=<shop> (authorization-code install).
"""

from __future__ import annotations

import argparse
import base64
import json
import time
from urllib.parse import urlencode

from tests.fakes.shopify import catalogue
from tests.fakes.shopify.server import FakeShopify, FakeShopifyServer, Reply, session_token, sign_query


class SandboxShopify(FakeShopify):
    """The fake plus two pages a person starts from (links need fresh signatures)."""

    app_url = "http://127.0.0.1:8000"

    def handle(self, method, target, headers, body):
        path, _, raw_query = target.partition("?")
        query = dict(p.split("=", 1) for p in raw_query.split("&") if "=" in p)
        shop = query.get("shop", next(iter(self.shops), ""))
        host = base64.b64encode(f"admin.shopify.com/store/{shop.split('.')[0]}".encode()).decode().rstrip("=")
        if path == "/_fake/open" and shop in self.shops:
            token = session_token(secret=self.api_secret, api_key=self.api_key, shop=shop)
            params = {"embedded": "1", "host": host, "id_token": token, "shop": shop}
            return Reply(302, headers={"Location": f"{self.app_url}/auth/shopify/?{urlencode(params)}"})
        if path == "/_fake/install" and shop in self.shops:
            params = {"host": host, "shop": shop, "timestamp": str(int(time.time()))}
            params["hmac"] = sign_query(self.api_secret, params)
            location = f"{self.app_url}/auth/shopify/install?{urlencode(params)}"
            return Reply(302, headers={"Location": location})
        if path == "/_fake/state" and shop in self.shops:
            state = self.shops[shop]
            return Reply.json({"shop": shop, "calls": dict(state.calls),
                               "webhooks": list(state.webhooks.values()), "discounts": state.discounts,
                               "consent_updates": state.consent_updates,
                               "deliveries": self.deliveries})
        return super().handle(method, target, headers, body)


def main() -> None:
    parser = argparse.ArgumentParser(description="A fake Shopify for the xsell sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--api-key", default="sandbox_key")
    parser.add_argument("--api-secret", default="sandbox_secret")
    parser.add_argument("--app-url", default="http://127.0.0.1:8000")
    parser.add_argument("--shop", action="append", default=[], help="repeatable")
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--customers", type=int, default=60)
    parser.add_argument("--orders", type=int, default=150)
    args = parser.parse_args()

    fake = SandboxShopify(api_key=args.api_key, api_secret=args.api_secret)
    fake.app_url = args.app_url.rstrip("/")
    for number, domain in enumerate(args.shop or ["sandbox-shop.myshopify.com"]):
        shop = fake.add_shop(domain, name=domain.split(".")[0].replace("-", " ").title())
        catalogue.seed(shop, products=args.products, customers=args.customers, orders=args.orders,
                       seed=number + 1)
    server = FakeShopifyServer(fake, host=args.host, port=args.port)
    print(json.dumps({"fake_shopify": server.url, "shops": list(fake.shops)}))
    for domain in fake.shops:
        print(f"  embedded load (token exchange): {server.url}/_fake/open?shop={domain}")
        print(f"  authorization-code install:     {server.url}/_fake/install?shop={domain}")
        print(f"  send a webhook:  curl -X POST '{server.url}/_fake/emit?shop={domain}&topic=orders/create'")
        print(f"  what the fake saw:              {server.url}/_fake/state?shop={domain}")
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()


if __name__ == "__main__":
    main()
