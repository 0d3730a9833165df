"""A fake Shopify served over real loopback HTTP (see ``server.py``)."""

from tests.fakes.shopify.server import (
    FakeShopify,
    FakeShopifyServer,
    Reply,
    Shop,
    session_token,
    sign_query,
    sign_webhook,
    webhook_headers,
)

__all__ = ["FakeShopify", "FakeShopifyServer", "Reply", "Shop", "session_token", "sign_query",
           "sign_webhook", "webhook_headers"]
