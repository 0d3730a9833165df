"""Writes for reporting: only the store's measurement settings (reports themselves only read)."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from xsell_plugin.core.exceptions import ValidationFailed
from xsell_plugin.reporting.models import ReportSettings
from xsell_plugin.stores.models import Store

FIELDS = (
    "attribution_window_days",
    "horizon_days",
    "pre_period_days",
    "complaint_alarm_rate",
    "review_after_days",
)


def report_settings_set(*, store: Store, **fields: Any) -> ReportSettings:
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValidationFailed("Unknown settings.", extra={"fields": sorted(unknown)})
    with transaction.atomic():
        row = ReportSettings.objects.for_store(store).select_for_update().first()
        if row is None:
            row = ReportSettings(store=store)
        for name, value in fields.items():
            setattr(row, name, value)
        row.updated_at = timezone.now()
        try:
            row.full_clean(exclude=["store"], validate_unique=False)
        except Exception as exc:
            raise ValidationFailed(
                "The measurement settings are not valid.",
                extra={"fields": getattr(exc, "message_dict", {})},
            ) from None
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError:
            raise ValidationFailed("The measurement settings are not valid.") from None
    return row
