"""Customers, their email-marketing consent (state, source, time), suppression and preferences."""

from __future__ import annotations

from django.db import models
from django.utils import timezone as dj_timezone

from xsell_plugin.core.models import ExternalRecord, TenantModel


class ConsentState(models.TextChoices):
    SUBSCRIBED = "subscribed", "Subscribed"
    NOT_SUBSCRIBED = "not_subscribed", "Not subscribed"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    PENDING = "pending", "Pending confirmation"
    REDACTED = "redacted", "Redacted"
    UNKNOWN = "unknown", "Unknown"


class Customer(ExternalRecord):
    email = models.EmailField(max_length=254, blank=True)  # stored lower-cased
    first_name = models.CharField(max_length=255, blank=True)
    last_name = models.CharField(max_length=255, blank=True)
    timezone = models.CharField(max_length=64, blank=True)
    tags = models.JSONField(default=list, blank=True)
    consent_state = models.CharField(
        max_length=20, choices=ConsentState.choices, default=ConsentState.UNKNOWN
    )
    consent_source = models.CharField(max_length=100, blank=True)
    consent_updated_at = models.DateTimeField(null=True, blank=True)
    source_created_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "external_id"], name="customer_store_ext_uniq"),
        ]
        indexes = [models.Index(fields=["store", "email"], name="customer_store_email_idx")]

    def __str__(self) -> str:
        return self.email or self.external_id


class Suppression(TenantModel):
    """An address we must not email for this store, whatever its consent says."""

    class Reason(models.TextChoices):
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        BOUNCED = "bounced", "Hard bounce"
        COMPLAINED = "complained", "Spam complaint"
        MANUAL = "manual", "Added by the merchant"
        REDACTED = "redacted", "Data redaction request"

    email = models.EmailField(max_length=254)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    source = models.CharField(max_length=100, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "email"], name="suppression_store_email_uniq"),
        ]


class Preference(TenantModel):
    """What the customer chose on the preference page."""

    class Frequency(models.TextChoices):
        NORMAL = "normal", "Normal"
        FEWER = "fewer", "Fewer emails"

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="preference")
    paused_until = models.DateTimeField(null=True, blank=True)
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.NORMAL)
    # Sequence ids the customer left (kept as ids: sequences live in another app).
    left_sequences = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "customer"], name="preference_store_customer_uniq"),
        ]

    def is_paused(self, now=None) -> bool:
        now = now or dj_timezone.now()
        return self.paused_until is not None and self.paused_until > now


class DataExport(TenantModel):
    """Everything we held about one customer when they asked for it (a data-subject access
    request, e.g. Shopify's customers/data_request), kept for the merchant to hand over. One
    per platform request id; erased with the customer."""

    request_id = models.CharField(max_length=100)
    customer_external_id = models.CharField(max_length=255, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    data = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "request_id"], name="dataexport_store_request_uniq"),
        ]

    def __str__(self) -> str:
        return f"data export {self.request_id}"
