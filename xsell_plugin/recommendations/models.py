"""Fitted recommendation models (one row per store and version) and the merchant's flags."""

from __future__ import annotations

from django.db import models

from xsell_plugin.core.models import TenantModel


class FittedModel(TenantModel):
    """One fit of a store's model. The newest version serves; a refit with the same data on the
    same store-local day is skipped (``fingerprint``), so the refresh task is idempotent."""

    version = models.PositiveIntegerField()
    trained_until = models.DateTimeField()
    fingerprint = models.CharField(max_length=64)
    params = models.JSONField(default=dict)
    stats = models.JSONField(default=dict)
    fit_seconds = models.FloatField(default=0)
    size_bytes = models.PositiveIntegerField(default=0)
    payload = models.BinaryField()  # training.FittedRecs.to_bytes()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "version"], name="fittedmodel_store_version_uniq"),
        ]

    def __str__(self) -> str:
        return f"model v{self.version} of store {self.store_id}"


class ProductTypeRule(TenantModel):
    """The merchant's word on a product type: durable (bought once: never recommend another of
    the type to an owner) or consumable. ``durable=None``: our heuristic decides."""

    product_type = models.CharField(max_length=255)
    durable = models.BooleanField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "product_type"], name="producttyperule_uniq"),
        ]

    def __str__(self) -> str:
        return self.product_type


class ProductOverride(TenantModel):
    """The merchant's word on one pair: with ``product`` (what the email is about: bought, in
    the cart, browsed), always show ``recommended_product`` first when it can be bought
    (``pin``), or never show it (``exclude``)."""

    class Action(models.TextChoices):
        PIN = "pin", "Pin: show first"
        EXCLUDE = "exclude", "Exclude: never show"

    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    recommended_product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE,
                                            related_name="+")
    action = models.CharField(max_length=10, choices=Action.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "product", "recommended_product"],
                                    name="productoverride_pair_uniq"),
            models.CheckConstraint(condition=~models.Q(product=models.F("recommended_product")),
                                   name="productoverride_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.recommended_product_id} with {self.product_id}"
