"""Shopping activity that can trigger sequences: carts/checkouts, browse and wishlist events."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from xsell_plugin.core.models import ExternalRecord, TenantModel


class Checkout(ExternalRecord):
    """The latest snapshot of an open cart or checkout (lines frozen as the platform sent them)."""

    class Kind(models.TextChoices):
        CHECKOUT = "checkout", "Checkout"
        CART = "cart", "Cart"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        COMPLETED = "completed", "Completed"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CHECKOUT)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    customer_external_id = models.CharField(max_length=255, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    currency = models.CharField(max_length=3)
    subtotal = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    lines = models.JSONField(default=list)
    recovery_url = models.URLField(max_length=2000, blank=True)
    order_external_id = models.CharField(max_length=255, blank=True)
    source_created_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "external_id"], name="checkout_store_ext_uniq"),
        ]
        indexes = [
            models.Index(fields=["store", "status", "source_updated_at"], name="checkout_abandon_idx"),
        ]


class ActivityEvent(TenantModel):
    """A browse or wishlist event, deduplicated on the sender's event id."""

    class Kind(models.TextChoices):
        BROWSE = "browse", "Viewed a product"
        WISHLIST_ADD = "wishlist_add", "Added to wishlist"
        WISHLIST_REMOVE = "wishlist_remove", "Removed from wishlist"

    event_id = models.CharField(max_length=255)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="activity_events"
    )
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    variant = models.ForeignKey(
        "catalog.Variant", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    occurred_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "event_id"], name="activity_store_event_uniq"),
        ]
        indexes = [
            models.Index(fields=["store", "customer", "kind", "occurred_at"], name="activity_cust_idx"),
        ]
