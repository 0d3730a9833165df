"""Orders as the platform reports them: totals, lines, refunds."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from xsell_plugin.core.models import ExternalRecord


class Order(ExternalRecord):
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.SET_NULL, null=True, blank=True, related_name="orders"
    )
    customer_external_id = models.CharField(max_length=255, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    name = models.CharField(max_length=100, blank=True)
    currency = models.CharField(max_length=3)
    subtotal = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    discount_total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    shipping_total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    tax_total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    total = models.DecimalField(max_digits=12, decimal_places=2)
    refunded_total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    financial_status = models.CharField(max_length=40, blank=True)
    fulfillment_status = models.CharField(max_length=40, blank=True)
    discount_codes = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=40, blank=True)
    placed_at = models.DateTimeField()
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "external_id"], name="order_store_ext_uniq"),
        ]
        indexes = [
            models.Index(fields=["store", "customer", "placed_at"], name="order_store_cust_time_idx"),
            models.Index(fields=["store", "placed_at"], name="order_store_time_idx"),
        ]

    def __str__(self) -> str:
        return self.name or self.external_id

    @property
    def net_total(self) -> Decimal:
        return self.total - self.refunded_total


class OrderLine(ExternalRecord):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(
        "catalog.Product", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    variant = models.ForeignKey(
        "catalog.Variant", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    product_external_id = models.CharField(max_length=255, blank=True)
    variant_external_id = models.CharField(max_length=255, blank=True)
    title = models.CharField(max_length=500)
    sku = models.CharField(max_length=255, blank=True)
    quantity = models.IntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    total_discount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    line_total = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "order", "external_id"], name="orderline_uniq"),
        ]
        indexes = [
            models.Index(fields=["store", "product"], name="orderline_store_product_idx"),
        ]


class Refund(ExternalRecord):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="refunds")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    reason = models.CharField(max_length=255, blank=True)
    refunded_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "external_id"], name="refund_store_ext_uniq"),
        ]
