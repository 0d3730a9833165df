"""Sequences: who gets which email when, and when it stops (docs/sequences.md).

``Sequence`` (a trigger and its settings) has ordered ``Step`` rows. A trigger found by the
per-minute scan (``triggers``) creates one ``Enrollment`` per (store, sequence, customer, trigger
key): a replayed or rescanned event enrols nobody twice. Each step of an enrollment becomes one
``ScheduledSend`` when the previous one is done (``scheduled -> queued -> dispatched | skipped |
cancelled``; a deferral puts it back to ``scheduled`` with a later ``due_at``). The dispatcher
claims due rows with a conditional UPDATE and enqueues ``send_step(id)``; at send time every rule
is checked again and the ``OutboundEmail`` it produces is unique per ScheduledSend.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from emails.kinds import KIND_CHOICES
from xsell_plugin.core.models import TenantModel


class SequenceSettings(TenantModel):
    """One store's sending policy. A missing row means the defaults (``guardrails.Policy``)."""

    # Soft opt-in: email customers whose consent is UNKNOWN (WooCommerce has no consent field)
    # but who bought from the store, under the store's own documented policy. Off by default.
    soft_opt_in = models.BooleanField(default=False)
    soft_opt_in_policy = models.CharField(max_length=500, blank=True,
                                          help_text="where the store documents its soft opt-in")
    max_per_window = models.PositiveSmallIntegerField(default=3)
    window_days = models.PositiveSmallIntegerField(default=7)
    min_spacing_hours = models.PositiveSmallIntegerField(default=20)
    offer_gap_hours = models.PositiveSmallIntegerField(default=48)
    frequent_buyer_orders = models.PositiveSmallIntegerField(default=4)
    frequent_buyer_days = models.PositiveSmallIntegerField(default=30)
    frequent_buyer_max_per_window = models.PositiveSmallIntegerField(default=1)
    daily_cap = models.PositiveIntegerField(default=5000)  # store-wide, per local day; 0: none
    quiet_start_hour = models.PositiveSmallIntegerField(default=21)
    quiet_end_hour = models.PositiveSmallIntegerField(default=8)
    freshness_hours = models.PositiveSmallIntegerField(default=48)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store"], name="seqsettings_store_uniq"),
        ]
        verbose_name_plural = "sequence settings"


class Sequence(TenantModel):
    class Trigger(models.TextChoices):
        FIRST_PURCHASE = "first_purchase", "First purchase"
        REPEAT_PURCHASE = "repeat_purchase", "Repeat purchase"
        PRODUCT_PURCHASE = "product_purchase", "Purchase of a product type or collection"
        ABANDONED_CHECKOUT = "abandoned_checkout", "Abandoned checkout"
        ABANDONED_CART = "abandoned_cart", "Abandoned cart"
        WISHLIST_ADD = "wishlist_add", "Wishlist add"
        REPEATED_BROWSE = "repeated_browse", "Repeated browse of a product"
        CLICKED_NO_ORDER = "clicked_no_order", "Clicked but did not buy"
        REPLENISHMENT_DUE = "replenishment_due", "Replenishment due"
        UPGRADE_ANNIVERSARY = "upgrade_anniversary", "Upgrade anniversary"
        WIN_BACK = "win_back", "Win-back"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused (no new enrolments; due sends wait)"
        ARCHIVED = "archived", "Archived (everything stops)"

    class ExitOn(models.TextChoices):
        ANY_ORDER = "any_order", "Any order"
        RECOMMENDED_ITEM = "recommended_item", "An order with a recommended item"
        NEVER = "never", "Never (runs to the end)"

    key = models.SlugField(max_length=60)
    name = models.CharField(max_length=200)
    trigger = models.CharField(max_length=30, choices=Trigger.choices)
    trigger_config = models.JSONField(default=dict, blank=True)
    audience = models.JSONField(default=dict, blank=True)  # a segment filter for entry
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    exit_on = models.CharField(max_length=20, choices=ExitOn.choices, default=ExitOn.ANY_ORDER)
    # Has at least one offer step: a customer is in one offer sequence at a time.
    offer = models.BooleanField(default=False)
    priority = models.SmallIntegerField(default=0)  # higher first when one event fits several
    reenroll_days = models.PositiveSmallIntegerField(default=30)
    pause_after_click_hours = models.PositiveSmallIntegerField(default=72)  # 0: never pause
    max_hold_days = models.PositiveSmallIntegerField(default=14)  # longest a step may wait

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "key"], name="sequence_store_key_uniq"),
        ]
        indexes = [models.Index(fields=["store", "status", "trigger"], name="sequence_store_trigger_idx")]

    def __str__(self) -> str:
        return self.name


class Step(TenantModel):
    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=20, choices=KIND_CHOICES)
    delay_minutes = models.PositiveIntegerField(default=0)  # after the previous step (or trigger)
    # Local send-time window [start, end) in hours; None: any time outside quiet hours.
    window_start_hour = models.PositiveSmallIntegerField(null=True, blank=True)
    window_end_hour = models.PositiveSmallIntegerField(null=True, blank=True)
    # {"segment": {...}, "clicked": bool, "bought_since": bool}: all must hold, else skipped.
    conditions = models.JSONField(default=dict, blank=True)
    # [{"key": "a", "weight": 1, "kind": optional other kind}]; empty: one variant "a".
    variants = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "sequence", "position"], name="step_position_uniq"),
        ]
        ordering = ["sequence_id", "position"]

    def __str__(self) -> str:
        return f"{self.sequence_id}#{self.position} {self.kind}"


class Enrollment(TenantModel):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        EXITED = "exited", "Exited"

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="enrollments")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    trigger_key = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    exit_reason = models.CharField(max_length=40, blank=True)
    offer = models.BooleanField(default=False)  # copied from the sequence (see the constraint)
    triggered_at = models.DateTimeField()  # when the event happened ("bought since" counts after)
    enrolled_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    paused_until = models.DateTimeField(null=True, blank=True)
    facts = models.JSONField(default=dict, blank=True)  # the trigger's ids: order, products...
    recommended = models.JSONField(default=list, blank=True)  # product external ids emailed

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "sequence", "customer", "trigger_key"],
                                    name="enrollment_trigger_uniq"),
            # One active offer sequence per customer, enforced by the database.
            models.UniqueConstraint(fields=["store", "customer"],
                                    condition=Q(status="active", offer=True),
                                    name="enrollment_one_active_offer"),
        ]
        indexes = [
            models.Index(fields=["store", "customer", "status"], name="enrollment_cust_idx"),
            models.Index(fields=["store", "sequence", "customer", "enrolled_at"],
                         name="enrollment_cooldown_idx"),
        ]


class ScheduledSend(TenantModel):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        QUEUED = "queued", "Claimed and enqueued"
        DISPATCHED = "dispatched", "Dispatched (an email was created)"
        SKIPPED = "skipped", "Skipped"
        CANCELLED = "cancelled", "Cancelled"

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="sends")
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="+")
    due_at = models.DateTimeField()
    first_due_at = models.DateTimeField()  # before any deferral: bounds how long a step may wait
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    reason = models.CharField(max_length=40, blank=True)  # a reason code (skips, cancels, defers)
    variant = models.CharField(max_length=40, blank=True)
    # What a running experiment's variant changes (subject, kind, delay_hours, offer_id,
    # percent_off): copied when the step is scheduled, applied when it is sent.
    variant_config = models.JSONField(default=dict, blank=True)
    outbound = models.OneToOneField("emails.OutboundEmail", on_delete=models.SET_NULL, null=True,
                                    blank=True, related_name="+")
    lease_expires_at = models.DateTimeField(null=True, blank=True)  # while queued
    attempts = models.PositiveIntegerField(default=0)  # times claimed
    deferrals = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "enrollment", "step"], name="scheduledsend_uniq"),
        ]
        indexes = [
            models.Index(fields=["status", "due_at", "store"], name="scheduledsend_due_idx"),
            models.Index(fields=["status", "lease_expires_at", "store"], name="scheduledsend_lease_idx"),
        ]


class TriggerCursor(TenantModel):
    """Where the store's trigger scan got to: events up to ``scanned_until`` were looked at."""

    scanned_until = models.DateTimeField()
    # Time-based triggers (win-back, anniversary, replenishment) are day-scale: they are looked
    # at every XSELL_SEQUENCE_TIMED_SCAN_MINUTES, up to this instant.
    timed_until = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store"], name="triggercursor_store_uniq"),
        ]


class DailySendCount(TenantModel):
    """Emails a store's sequences created on one local day: the store-wide daily cap is taken
    with a conditional ``count = count + 1 WHERE count < cap`` (no check-then-act)."""

    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "day"], name="dailysendcount_uniq"),
        ]
