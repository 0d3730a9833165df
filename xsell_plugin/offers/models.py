"""Offers: bundles, incentives, the codes issued for them, and the counters behind their caps."""

from __future__ import annotations

from django.db import models

from xsell_plugin.core.models import TenantModel
from xsell_plugin.offers.rules import IncentiveKind


class OfferStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    FLAGGED = "flagged", "Flagged: converting below the threshold"
    PAUSED = "paused", "Paused"


class MeasuredOffer(TenantModel):
    """What pruning reads: sends and conversions (``F()`` counters), and the flag's history."""

    status = models.CharField(max_length=20, choices=OfferStatus.choices, default=OfferStatus.ACTIVE)
    sends = models.PositiveIntegerField(default=0)
    conversions = models.PositiveIntegerField(default=0)
    flagged_at = models.DateTimeField(null=True, blank=True)
    sends_at_flag = models.PositiveIntegerField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def running(self) -> bool:
        return self.status in (OfferStatus.ACTIVE, OfferStatus.FLAGGED)


class Bundle(MeasuredOffer):
    """A set of products sold together at a discount, set by the merchant in our admin.

    Fixed: every item, as one set. Adjustable: the core item plus any of the optional add-ons
    (the discount applies once at least ``min_addons`` add-ons are chosen).
    """

    class Kind(models.TextChoices):
        FIXED = "fixed", "Fixed set"
        ADJUSTABLE = "adjustable", "Core item + optional add-ons"

    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.FIXED)
    percent_off = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    amount_off = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    min_addons = models.PositiveSmallIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "name"], name="bundle_store_name_uniq"),
            models.CheckConstraint(
                condition=models.Q(percent_off__isnull=True) | models.Q(amount_off__isnull=True),
                name="bundle_one_discount"),
        ]
        indexes = [models.Index(fields=["store", "status"], name="bundle_store_status_idx")]

    def __str__(self) -> str:
        return self.name


class BundleItem(TenantModel):
    class Role(models.TextChoices):
        CORE = "core", "Core item"
        ADDON = "addon", "Add-on"

    bundle = models.ForeignKey(Bundle, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.ADDON)
    quantity = models.PositiveSmallIntegerField(default=1)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "bundle", "product"], name="bundleitem_uniq"),
        ]
        indexes = [models.Index(fields=["store", "product"], name="bundleitem_store_product_idx")]


class Incentive(MeasuredOffer):
    """A reason to buy now: percent off, a fixed amount, a free add-on, free shipping or a
    loyalty credit, with a time window, caps and an escalation level (see ``rules``)."""

    # (name, (value, label)): the values are ``rules.IncentiveKind``'s, as stored.
    Kind = models.TextChoices("Kind", [(k.name, (k.value, k.value.replace("_", " ").capitalize()))
                                       for k in IncentiveKind])

    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    percent_off = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    amount_off = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    addon_product = models.ForeignKey("catalog.Product", on_delete=models.SET_NULL, null=True,
                                      blank=True, related_name="+")
    level = models.PositiveSmallIntegerField(default=0)  # escalation step it may start at
    segments = models.JSONField(default=list, blank=True)  # [] or ["any"]: every segment
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    code_valid_hours = models.PositiveIntegerField(default=72)
    code_prefix = models.CharField(max_length=20, default="XS")
    per_customer_cap = models.PositiveIntegerField(null=True, blank=True)
    per_store_daily_cap = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "name"], name="incentive_store_name_uniq"),
        ]
        indexes = [models.Index(fields=["store", "status"], name="incentive_store_status_idx")]

    def __str__(self) -> str:
        return self.name


class IssuedCode(TenantModel):
    """A per-recipient discount code created on the platform. Unique per store and code;
    one per recipient and offer (``offer_key``, e.g. the scheduled send), so a retried send
    gets the same code back."""

    class Status(models.TextChoices):
        PENDING = "pending", "Being created on the platform"
        ISSUED = "issued", "Issued"
        FAILED = "failed", "The platform refused it"

    incentive = models.ForeignKey(Incentive, on_delete=models.PROTECT, related_name="codes")
    customer = models.ForeignKey("customers.Customer", on_delete=models.SET_NULL, null=True,
                                 blank=True, related_name="+")
    recipient = models.CharField(max_length=254)  # lower-cased email
    offer_key = models.CharField(max_length=100)
    code = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    external_id = models.CharField(max_length=255, blank=True)
    percent_off = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    amount_off = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    product_external_ids = models.JSONField(default=list, blank=True)
    ends_at = models.DateTimeField()
    issued_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "code"], name="issuedcode_store_code_uniq"),
            models.UniqueConstraint(fields=["store", "incentive", "recipient", "offer_key"],
                                    name="issuedcode_recipient_offer_uniq"),
        ]
        indexes = [models.Index(fields=["store", "recipient"], name="issuedcode_store_recip_idx")]

    def __str__(self) -> str:
        return self.code


class IncentiveUsage(TenantModel):
    """Counters behind the caps, claimed with a conditional UPDATE (never check-then-act):
    scope ``customer`` keyed by recipient, scope ``day`` keyed by the store-local date."""

    class Scope(models.TextChoices):
        CUSTOMER = "customer", "Per customer"
        DAY = "day", "Per store and day"

    incentive = models.ForeignKey(Incentive, on_delete=models.CASCADE, related_name="usage")
    scope = models.CharField(max_length=10, choices=Scope.choices)
    key = models.CharField(max_length=254)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "incentive", "scope", "key"],
                                    name="incentiveusage_uniq"),
        ]
