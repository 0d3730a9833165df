"""The store's catalogue as last synced: products, variants (price, cost, stock), collections."""

from __future__ import annotations

from django.db import models

from xsell_plugin.core.models import ExternalRecord, TenantModel


class Collection(ExternalRecord):
    title = models.CharField(max_length=255)
    handle = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "external_id"], name="collection_store_ext_uniq"),
        ]

    def __str__(self) -> str:
        return self.title


class Product(ExternalRecord):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DRAFT = "draft", "Draft"
        ARCHIVED = "archived", "Archived"
        DELETED = "deleted", "Deleted on the platform"

    title = models.CharField(max_length=500)
    handle = models.CharField(max_length=500, blank=True)
    vendor = models.CharField(max_length=255, blank=True)
    product_type = models.CharField(max_length=255, blank=True)
    tags = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    description = models.TextField(blank=True)
    image_url = models.URLField(max_length=1000, blank=True)
    url = models.URLField(max_length=1000, blank=True)
    source_created_at = models.DateTimeField(null=True, blank=True)
    # The merchant's own curation, as external product ids.
    upsell_ids = models.JSONField(default=list, blank=True)
    cross_sell_ids = models.JSONField(default=list, blank=True)
    collections = models.ManyToManyField(Collection, through="ProductCollection", blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "external_id"], name="product_store_ext_uniq"),
        ]
        indexes = [
            models.Index(fields=["store", "product_type"], name="product_store_type_idx"),
            models.Index(fields=["store", "status"], name="product_store_status_idx"),
        ]

    def __str__(self) -> str:
        return self.title


class ProductCollection(TenantModel):
    product = models.ForeignKey(Product, on_delete=models.CASCADE)
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "product", "collection"], name="product_collection_uniq"
            ),
        ]


class Variant(ExternalRecord):
    class StockStatus(models.TextChoices):
        IN_STOCK = "in_stock", "In stock"
        OUT_OF_STOCK = "out_of_stock", "Out of stock"
        BACKORDER = "backorder", "On backorder"

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="variants")
    title = models.CharField(max_length=500, blank=True)
    sku = models.CharField(max_length=255, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    compare_at_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    # None: the platform does not track stock for this variant.
    inventory_quantity = models.IntegerField(null=True, blank=True)
    stock_status = models.CharField(
        max_length=20, choices=StockStatus.choices, default=StockStatus.IN_STOCK
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "external_id"], name="variant_store_ext_uniq"),
            models.CheckConstraint(condition=models.Q(price__gte=0), name="variant_price_gte_0"),
        ]
        indexes = [
            models.Index(fields=["store", "product"], name="variant_store_product_idx"),
            models.Index(fields=["store", "sku"], name="variant_store_sku_idx"),
        ]

    def __str__(self) -> str:
        return self.title or self.sku or self.external_id

    @property
    def available(self) -> bool:
        if self.stock_status == self.StockStatus.OUT_OF_STOCK:
            return False
        return self.inventory_quantity is None or self.inventory_quantity > 0 or (
            self.stock_status == self.StockStatus.BACKORDER
        )
