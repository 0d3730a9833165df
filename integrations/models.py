"""Rows that make ingestion reliable: every webhook delivery and every sync job is a row with a
status and a lease. django-q2 tasks only nudge; these rows are the truth (DESIGN.md section 6)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from xsell_plugin.core.models import TenantModel


class WebhookEvent(TenantModel):
    """One accepted webhook delivery. ``dedupe_key`` is the platform's delivery id (Shopify's
    webhook id; WooCommerce's delivery id + a hash of the body), unique per store, so a redelivery
    is recognised on insert and does nothing."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Done"
        IGNORED = "ignored", "Ignored (unknown topic)"
        FAILED = "failed", "Failed"

    platform = models.CharField(max_length=20)
    dedupe_key = models.CharField(max_length=255)
    topic = models.CharField(max_length=100)
    body = models.TextField()
    triggered_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # While processing: until when the claim holds. While pending: not before this time (backoff).
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "dedupe_key"], name="webhook_store_dedupe_uniq"),
        ]
        indexes = [
            models.Index(fields=["status", "lease_expires_at"], name="webhook_status_lease_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.platform} {self.topic} {self.dedupe_key}"


class SyncJob(TenantModel):
    """A backfill or reconciliation of one kind of data, resumable from its cursor."""

    class Kind(models.TextChoices):
        PRODUCTS = "products", "Products"
        CUSTOMERS = "customers", "Customers"
        ORDERS = "orders", "Orders"

    class Mode(models.TextChoices):
        BACKFILL = "backfill", "Backfill"
        RECONCILE = "reconcile", "Reconciliation (changes since)"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.BACKFILL)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    cursor = models.TextField(blank=True)  # the platform's own resume point, opaque to us
    updated_since = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    received = models.PositiveIntegerField(default=0)
    applied = models.PositiveIntegerField(default=0)
    pages = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # at most one unfinished job per store and kind
            models.UniqueConstraint(
                fields=["store", "kind"], condition=Q(status__in=["pending", "running"]),
                name="syncjob_one_active_per_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "lease_expires_at"], name="syncjob_status_lease_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.mode} {self.kind} ({self.status})"
