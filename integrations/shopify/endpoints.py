"""Where Shopify is: shop-domain validation and every URL we call.

Real Shopify: ``https://<shop>.myshopify.com/admin/...``. With ``XSELL_SHOPIFY_ADMIN_BASE_URL``
set (tests, the sandbox) every call goes to ``<base>/<shop>.myshopify.com/admin/...`` instead: the
shop rides in the first path segment, so one loopback fake serves any number of shops and the
rest of the path is exactly Shopify's. Bulk-operation result URLs (signed storage URLs on real
Shopify) are sent to the base's origin too, so nothing leaves the machine in tests.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings

_SHOP_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}\.myshopify\.com$")


def shop_domain(value: object) -> str | None:
    """The normalised ``<name>.myshopify.com`` domain, or None when ``value`` is not one.

    Accepts what Shopify sends (``x.myshopify.com``, ``https://x.myshopify.com``, with any
    case); refuses everything else (custom domains, paths, ports, credentials, other hosts).
    """
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    text = text.rstrip("/")
    return text if _SHOP_RE.fullmatch(text) else None


def shop_origin(shop: str) -> str:
    base = settings.XSELL_SHOPIFY_ADMIN_BASE_URL.rstrip("/")
    return f"{base}/{shop}" if base else f"https://{shop}"


def admin_url(shop: str, path: str) -> str:
    return shop_origin(shop) + path


def graphql_url(shop: str) -> str:
    return admin_url(shop, f"/admin/api/{settings.XSELL_SHOPIFY_API_VERSION}/graphql.json")


def token_url(shop: str) -> str:
    return admin_url(shop, "/admin/oauth/access_token")


def authorize_url(shop: str, **params: str) -> str:
    return admin_url(shop, "/admin/oauth/authorize") + "?" + urlencode(params)


def bulk_result_url(url: str) -> str:
    """A bulk operation's result URL; with a base URL set, fetched from the base's origin."""
    base = settings.XSELL_SHOPIFY_ADMIN_BASE_URL
    if not base:
        return url
    target, origin = urlsplit(url), urlsplit(base)
    return urlunsplit((origin.scheme, origin.netloc, target.path, target.query, ""))


def rewrite_shop_url(url: str) -> str | None:
    """``https://<shop>/<path>`` (as a library builds it) as we must call it; None if not a shop."""
    parts = urlsplit(url)
    shop = shop_domain(parts.hostname or "")
    if shop is None or parts.scheme != "https" or parts.port not in (None, 443):
        return None
    return admin_url(shop, parts.path + (f"?{parts.query}" if parts.query else ""))


def app_url(path: str) -> str:
    return settings.XSELL_PUBLIC_URL.rstrip("/") + path


def webhook_callback_url() -> str:
    return app_url("/webhooks/shopify/")


def oauth_callback_url() -> str:
    return app_url("/auth/shopify/callback")
