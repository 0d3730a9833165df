"""Webhook topics: the ones we register, and what each does (``WooCommercePlatform``).

| topic                                   | effect                                                   |
| --------------------------------------- | -------------------------------------------------------- |
| order.created/updated/restored          | ``orders_upsert`` (the payload is the order)             |
| order.deleted (sent on trash)           | re-read the order: trashed -> upserted as cancelled;     |
|                                         | gone for good -> nothing left to change                  |
| product.created/updated/restored        | ``products_upsert`` with its variations (fetched for a   |
|                                         | variable product); a variation payload updates the       |
|                                         | variation (``variants_upsert``)                          |
| product.deleted (sent on trash)         | ``product_mark_deleted``                                 |
| customer.created/updated                | ``customers_upsert``                                     |
| customer.deleted                        | ignored: the WordPress account is gone, the person and   |
|                                         | their orders are not; erasure is the redact flow's job   |
| coupon.created/updated/deleted/restored | ignored: redemptions arrive as the orders' coupon codes  |
| cart.updated (our cart endpoint)        | ``checkouts_upsert`` (kind "cart")                       |
"""

from __future__ import annotations

ORDER_UPSERT = frozenset({"order.created", "order.updated", "order.restored"})
ORDER_DELETED = "order.deleted"
PRODUCT_UPSERT = frozenset({"product.created", "product.updated", "product.restored"})
PRODUCT_DELETED = "product.deleted"
CUSTOMER_UPSERT = frozenset({"customer.created", "customer.updated"})
CUSTOMER_DELETED = "customer.deleted"
COUPON = frozenset({"coupon.created", "coupon.updated", "coupon.deleted", "coupon.restored"})
CART = "cart.updated"  # not a WooCommerce topic: our companion cart endpoint

# Registered on every store, in this order.
SUBSCRIBED: tuple[str, ...] = (
    "order.created", "order.updated", "order.deleted", "order.restored",
    "product.created", "product.updated", "product.deleted", "product.restored",
    "customer.created", "customer.updated", "customer.deleted",
    "coupon.created", "coupon.updated", "coupon.deleted",
)
# Topics the webhook endpoint records; anything else is answered 200 and logged.
ACCEPTED = frozenset(SUBSCRIBED) | COUPON
DELETIONS = frozenset({ORDER_DELETED, PRODUCT_DELETED, CUSTOMER_DELETED, "coupon.deleted"})
