"""The OAuth ``state`` nonces of authorization-code installs: stored, bound to a shop, used once."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class OAuthState(models.Model):
    nonce = models.CharField(max_length=64, unique=True)
    shop = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="shopify_oauthstate_exp_idx")]

    def __str__(self) -> str:
        return f"OAuth state for {self.shop}"
