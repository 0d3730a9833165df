"""The webhook topics we subscribe to, and the three compliance topics set in the app's TOML."""

from __future__ import annotations

ORDERS_CREATE = "orders/create"
ORDERS_UPDATED = "orders/updated"
ORDERS_PAID = "orders/paid"
REFUNDS_CREATE = "refunds/create"
PRODUCTS_CREATE = "products/create"
PRODUCTS_UPDATE = "products/update"
PRODUCTS_DELETE = "products/delete"
INVENTORY_LEVELS_UPDATE = "inventory_levels/update"
CUSTOMERS_CREATE = "customers/create"
CUSTOMERS_UPDATE = "customers/update"
CUSTOMERS_CONSENT_UPDATE = "customers/email_marketing_consent_update"
CHECKOUTS_CREATE = "checkouts/create"
CHECKOUTS_UPDATE = "checkouts/update"
APP_UNINSTALLED = "app/uninstalled"
APP_SCOPES_UPDATE = "app/scopes_update"
# Mandatory compliance webhooks: configured in shopify.app.toml ([webhooks] compliance_topics),
# never through the API.
CUSTOMERS_DATA_REQUEST = "customers/data_request"
CUSTOMERS_REDACT = "customers/redact"
SHOP_REDACT = "shop/redact"

SUBSCRIBED = (
    ORDERS_CREATE, ORDERS_UPDATED, ORDERS_PAID, REFUNDS_CREATE,
    PRODUCTS_CREATE, PRODUCTS_UPDATE, PRODUCTS_DELETE, INVENTORY_LEVELS_UPDATE,
    CUSTOMERS_CREATE, CUSTOMERS_UPDATE, CUSTOMERS_CONSENT_UPDATE,
    CHECKOUTS_CREATE, CHECKOUTS_UPDATE, APP_UNINSTALLED, APP_SCOPES_UPDATE,
)
COMPLIANCE = (CUSTOMERS_DATA_REQUEST, CUSTOMERS_REDACT, SHOP_REDACT)
HANDLED = frozenset(SUBSCRIBED + COMPLIANCE)


def graphql_enum(topic: str) -> str:
    """``orders/create`` -> ``ORDERS_CREATE`` (WebhookSubscriptionTopic)."""
    return topic.replace("/", "_").upper()


def from_graphql_enum(value: str) -> str | None:
    return {graphql_enum(t): t for t in HANDLED}.get(value)
