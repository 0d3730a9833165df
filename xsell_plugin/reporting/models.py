"""Per-store measurement settings (a missing row means the defaults)."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q

from xsell_plugin.core.models import TenantModel

DEFAULT_ATTRIBUTION_WINDOW_DAYS = 5
DEFAULT_HORIZON_DAYS = 30
DEFAULT_PRE_PERIOD_DAYS = 90
DEFAULT_COMPLAINT_ALARM_RATE = Decimal("0.0030")
DEFAULT_REVIEW_AFTER_DAYS = 90


class ReportSettings(TenantModel):
    """How a store's figures are measured."""

    # Orders placed within this many days after a click are attributed to that click's email.
    attribution_window_days = models.PositiveSmallIntegerField(default=DEFAULT_ATTRIBUTION_WINDOW_DAYS)
    # Incremental revenue: what a recipient (or holdout member) spends in this many days from
    # their first enrolment in the sequence.
    horizon_days = models.PositiveSmallIntegerField(default=DEFAULT_HORIZON_DAYS)
    # CUPED covariate: spend in this many days before the enrolment.
    pre_period_days = models.PositiveSmallIntegerField(default=DEFAULT_PRE_PERIOD_DAYS)
    # A sequence whose complaint rate is above this is flagged (0.003 = 0.3 %).
    complaint_alarm_rate = models.DecimalField(
        max_digits=5, decimal_places=4, default=DEFAULT_COMPLAINT_ALARM_RATE
    )
    # Offers and testimonials not refreshed in this many days are flagged for review.
    review_after_days = models.PositiveSmallIntegerField(default=DEFAULT_REVIEW_AFTER_DAYS)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store"], name="reportsettings_store_uniq"),
            models.CheckConstraint(
                condition=Q(attribution_window_days__gte=1) & Q(attribution_window_days__lte=90),
                name="reportsettings_window_range",
            ),
            models.CheckConstraint(
                condition=Q(horizon_days__gte=1) & Q(horizon_days__lte=365),
                name="reportsettings_horizon_range",
            ),
            models.CheckConstraint(
                condition=Q(complaint_alarm_rate__gt=0) & Q(complaint_alarm_rate__lt=1),
                name="reportsettings_alarm_range",
            ),
        ]
        verbose_name_plural = "report settings"
