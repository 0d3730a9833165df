"""The tenant: one merchant's store on one platform, with its credentials encrypted at rest."""

from __future__ import annotations

import zoneinfo

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone as dj_timezone

from xsell_plugin.core.fields import EncryptedTextField


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone", code="invalid_timezone")


currency_validator = RegexValidator(r"^[A-Z]{3}$", "Use a 3-letter ISO 4217 code, e.g. USD.")


class Store(models.Model):
    class Platform(models.TextChoices):
        SHOPIFY = "shopify", "Shopify"
        WOOCOMMERCE = "woocommerce", "WooCommerce"
        DEMO = "demo", "Demo (local data)"

    class Status(models.TextChoices):
        INSTALLING = "installing", "Installing"
        ACTIVE = "active", "Active"
        UNINSTALLED = "uninstalled", "Uninstalled"

    platform = models.CharField(max_length=20, choices=Platform.choices)
    # Shopify: the shop's myshopify.com domain; WooCommerce: the site host (and path, if any).
    domain = models.CharField(max_length=255)
    name = models.CharField(max_length=255, blank=True)
    currency = models.CharField(max_length=3, default="USD", validators=[currency_validator])
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.INSTALLING)
    email_from = models.EmailField(blank=True)
    postal_address = models.TextField(blank=True)
    # Gross-margin floor every offer must keep after its incentive (0.25 = 25 %).
    margin_floor = models.DecimalField(max_digits=4, decimal_places=3, default="0.200")
    installed_at = models.DateTimeField(default=dj_timezone.now)
    uninstalled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)
    updated_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "domain"], name="store_platform_domain_uniq"),
            models.CheckConstraint(
                condition=models.Q(margin_floor__gte=0) & models.Q(margin_floor__lt=1),
                name="store_margin_floor_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.domain

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class StoreCredentials(models.Model):
    """Everything secret about a store, encrypted. Kept apart from ``Store`` so listing stores
    never decrypts (or serialises) a secret by accident."""

    store = models.OneToOneField(Store, on_delete=models.CASCADE, related_name="credentials")
    access_token = EncryptedTextField(blank=True)
    refresh_token = EncryptedTextField(blank=True)
    access_token_expires_at = models.DateTimeField(null=True, blank=True)
    refresh_token_expires_at = models.DateTimeField(null=True, blank=True)
    scopes = models.CharField(max_length=1000, blank=True)
    # WooCommerce REST keys from the key-granting endpoint.
    consumer_key = EncryptedTextField(blank=True)
    consumer_secret = EncryptedTextField(blank=True)
    # Per-store secret our webhooks are signed with (WooCommerce, companion cart endpoint).
    webhook_secret = EncryptedTextField(blank=True)
    updated_at = models.DateTimeField(default=dj_timezone.now)

    def __str__(self) -> str:  # never print secrets
        return f"credentials of store {self.store_id}"

    def __repr__(self) -> str:
        return f"<StoreCredentials store={self.store_id}>"
