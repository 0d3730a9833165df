"""Holdout policies, A/B experiments and their variants, and the assignment log.

Sequences live in another app (issue 7), so a sequence (and a step) is referred to by id, like
``customers.Preference.left_sequences`` does; nothing here imports the sequences app.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from xsell_plugin.core.models import TenantModel
from xsell_plugin.experiments.assignment import (
    DEFAULT_HOLDOUT_SHARE,
    HOLDOUT,
    MAX_HOLDOUT_SHARE,
    TREATMENT,
)


class HoldoutPolicy(TenantModel):
    """The holdout share of one sequence, or (``sequence_id`` null) the store's default."""

    sequence_id = models.BigIntegerField(null=True, blank=True)
    share = models.DecimalField(max_digits=4, decimal_places=3, default=DEFAULT_HOLDOUT_SHARE)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "sequence_id"],
                condition=Q(sequence_id__isnull=False),
                name="holdout_store_sequence_uniq",
            ),
            models.UniqueConstraint(
                fields=["store"], condition=Q(sequence_id__isnull=True), name="holdout_store_default_uniq"
            ),
            models.CheckConstraint(
                condition=Q(share__gte=Decimal("0")) & Q(share__lte=MAX_HOLDOUT_SHARE),
                name="holdout_share_range",
            ),
        ]


class Experiment(TenantModel):
    """An A/B test inside one sequence (optionally one step of it), among treated customers."""

    class Factor(models.TextChoices):
        SUBJECT = "subject", "Subject line"
        OFFER = "offer", "Offer"
        INCENTIVE = "incentive", "Incentive size"
        TIMING = "timing", "Timing"
        TEMPLATE = "template", "Template"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"

    class Metric(models.TextChoices):
        CONVERSION = "conversion", "Conversion (any order in the window)"
        REVENUE = "revenue", "Revenue per recipient"

    name = models.CharField(max_length=200)
    sequence_id = models.BigIntegerField()
    step_id = models.BigIntegerField(null=True, blank=True)
    factor = models.CharField(max_length=20, choices=Factor.choices)
    hypothesis = models.TextField(blank=True, max_length=2000)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    metric = models.CharField(max_length=20, choices=Metric.choices, default=Metric.CONVERSION)
    # The plan, stated up front and frozen when the experiment starts (fixed horizon).
    alpha = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0.050"))
    power = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0.800"))
    minimum_detectable_effect = models.DecimalField(  # relative lift, 0.10 = +10 %
        max_digits=6, decimal_places=3, default=Decimal("0.100")
    )
    baseline_rate = models.DecimalField(max_digits=6, decimal_places=4, null=True, blank=True)
    baseline_mean = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    baseline_sd = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    horizon_days = models.PositiveSmallIntegerField(default=14)
    planned_per_arm = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    winner = models.ForeignKey(
        "experiments.Variant", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            # One running experiment per sequence: no interactions between concurrent tests.
            models.UniqueConstraint(
                fields=["store", "sequence_id"],
                condition=Q(status="running"),
                name="experiment_one_running_per_sequence",
            ),
            models.CheckConstraint(
                condition=Q(alpha__gt=0) & Q(alpha__lt=Decimal("0.5")), name="experiment_alpha_range"
            ),
            models.CheckConstraint(
                condition=Q(power__gt=0) & Q(power__lt=1), name="experiment_power_range"
            ),
        ]
        indexes = [models.Index(fields=["store", "status"], name="experiment_store_status_idx")]

    def __str__(self) -> str:
        return self.name


class Variant(TenantModel):
    """One arm of an experiment. ``config`` is what the sequences engine applies, by factor:
    ``{"subject": "..."}``, ``{"offer_id": 12}``, ``{"percent_off": "15"}``,
    ``{"delay_hours": 48}``, ``{"kind": "bundle"}`` (documented in docs/measurement.md)."""

    # Named apart from catalog.Variant's reverse accessor on Store.
    store = models.ForeignKey(
        settings.XSELL_TENANT_MODEL, on_delete=models.CASCADE, related_name="experiment_variants"
    )
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    key = models.SlugField(max_length=40)
    name = models.CharField(max_length=200, blank=True)
    weight = models.PositiveSmallIntegerField(default=1)
    is_control = models.BooleanField(default=False)
    config = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "experiment", "key"], name="variant_key_uniq"),
        ]

    def __str__(self) -> str:
        return self.key


class SequenceAssignment(TenantModel):
    """A customer's first enrolment in a sequence and the arm it gave: the unit of the holdout
    comparison. Written once (insert, conflict ignored); later enrolments read it back, so the
    arm of a customer never changes, even if the share does."""

    ARM_CHOICES = [(TREATMENT, "Treatment"), (HOLDOUT, "Holdout")]

    sequence_id = models.BigIntegerField()
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    arm = models.CharField(max_length=10, choices=ARM_CHOICES)
    holdout_share = models.DecimalField(max_digits=4, decimal_places=3)
    first_enrolled_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "sequence_id", "customer"], name="seqassign_uniq"),
        ]
        indexes = [
            models.Index(fields=["store", "sequence_id", "first_enrolled_at"], name="seqassign_time_idx"),
        ]


class ExperimentAssignment(TenantModel):
    """A treated customer's variant in an experiment (first exposure): the A/B unit."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="assignments")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="assignments")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    first_exposed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "experiment", "customer"], name="expassign_uniq"),
        ]
        indexes = [
            models.Index(fields=["store", "experiment", "variant"], name="expassign_variant_idx"),
        ]
