"""WooCommerce's own rows: the key-granting handshake, and what we know of each connected site."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from xsell_plugin.core.models import TenantModel


class AuthRequest(models.Model):
    """One run of WooCommerce's key-granting flow (``/wc-auth/v1/authorize``).

    ``nonce`` travels as the flow's ``user_id``; the callback claims it once (``callback_at``)
    before it expires, and the merchant's return claims it once more (``returned_at``) from the
    browser that started it. Not store-owned: the store exists only once the callback succeeds.
    """

    nonce = models.CharField(max_length=64, unique=True)
    site_url = models.CharField(max_length=500)  # normalised base URL, e.g. https://shop.example
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    callback_at = models.DateTimeField(null=True, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    store = models.ForeignKey("stores.Store", on_delete=models.CASCADE, null=True, blank=True,
                              related_name="+")
    error_code = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)  # shown to the merchant on return

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="woo_authreq_expires_idx")]

    def __str__(self) -> str:
        return f"connect {self.site_url}"


class Site(TenantModel):
    """The WordPress site behind a WooCommerce store (one per store)."""

    base_url = models.CharField(max_length=500)  # scheme://host[:port][/path], no trailing slash
    wc_version = models.CharField(max_length=32, blank=True)
    key_permissions = models.CharField(max_length=20, blank=True)
    # sha256 of the webhook secret last written to the store's webhooks: a reinstall makes a new
    # secret, and register_webhooks() then rewrites it on webhooks that already exist.
    webhook_secret_fingerprint = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store"], name="woo_site_store_uniq")]

    def __str__(self) -> str:
        return self.base_url
