"""``/api/v1/reports/...``: read-only figures (xsell_plugin.reporting). How to read them:
docs/measurement.md."""

from __future__ import annotations

import dataclasses

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from xsell_plugin.dashboard.apis import PeriodQuery, StoreApi, StoreGenericApi, period_bounds
from xsell_plugin.dashboard.experiment_apis import _clean
from xsell_plugin.reporting import clv, selectors


def _any(**kwargs) -> serializers.JSONField:
    return serializers.JSONField(**kwargs)


def _obj(name: str, fields: dict, **kwargs) -> serializers.Serializer:
    return inline_serializer(name, fields, **kwargs)


class SummaryApi(StoreApi):
    """What the emails earn: incremental revenue (treated vs holdout) first, attributed revenue
    (last click) beside it."""

    @extend_schema(
        parameters=[PeriodQuery],
        responses=_obj(
            "ReportSummary",
            {
                "currency": serializers.CharField(),
                "incremental": _obj(
                    "SummaryIncremental",
                    {
                        "label": serializers.CharField(),
                        "revenue": serializers.FloatField(allow_null=True),
                        "ci_low": serializers.FloatField(allow_null=True),
                        "ci_high": serializers.FloatField(allow_null=True),
                        "per_recipient": serializers.FloatField(allow_null=True),
                        "recipients": serializers.IntegerField(),
                        "holdout": serializers.IntegerField(),
                        "pending": serializers.IntegerField(),
                        "horizon_days": serializers.IntegerField(),
                        "confidence": serializers.FloatField(),
                    },
                ),
                "attributed": _obj(
                    "SummaryAttributed",
                    {
                        "label": serializers.CharField(),
                        "revenue": serializers.FloatField(),
                        "orders": serializers.IntegerField(),
                        "window_days": serializers.IntegerField(),
                    },
                ),
                "store": _obj(
                    "SummaryStore",
                    {
                        "orders": serializers.IntegerField(),
                        "revenue": serializers.FloatField(),
                        "customers": serializers.IntegerField(),
                        "emails_sent": serializers.IntegerField(),
                    },
                ),
                "settings": _any(),
            },
        ),
    )
    def get(self, request):
        start, end = period_bounds(self.store, self.query(PeriodQuery))
        return Response(_clean(selectors.summary(store=self.store, start=start, end=end)))


class IncrementalQuery(PeriodQuery):
    sequence_id = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    horizon_days = serializers.IntegerField(required=False, min_value=1, max_value=365)


class IncrementalApi(StoreApi):
    """Per sequence: spend per recipient, treated minus holdout, with its interval (CUPED on
    pre-period spend where it helps), conversion difference, and the total."""

    @extend_schema(
        parameters=[IncrementalQuery],
        responses=_obj(
            "IncrementalReport",
            {
                "horizon_days": serializers.IntegerField(),
                "alpha": serializers.FloatField(),
                "incremental_revenue": serializers.FloatField(allow_null=True),
                "ci_low": serializers.FloatField(allow_null=True),
                "ci_high": serializers.FloatField(allow_null=True),
                "per_recipient": serializers.FloatField(allow_null=True),
                "matured_treated": serializers.IntegerField(),
                "matured_holdout": serializers.IntegerField(),
                "pending": serializers.IntegerField(),
                "sequences": serializers.ListField(child=_any()),
            },
        ),
    )
    def get(self, request):
        q = self.query(IncrementalQuery)
        start, end = period_bounds(self.store, q)
        report = selectors.incremental_revenue(
            store=self.store,
            sequence_id=q.get("sequence_id"),
            start=start,
            end=end,
            horizon_days=q.get("horizon_days"),
        )
        return Response(_clean(dataclasses.asdict(report)))


class AttributionQuery(PeriodQuery):
    window_days = serializers.IntegerField(required=False, min_value=1, max_value=90)


class AttributionApi(StoreApi):
    """Orders whose last click in the window was on one of our emails (not causal)."""

    @extend_schema(
        parameters=[AttributionQuery],
        responses=_obj(
            "Attribution",
            {
                "window_days": serializers.IntegerField(),
                "orders": serializers.IntegerField(),
                "revenue": serializers.FloatField(),
                "by_sequence": serializers.ListField(child=_any()),
                "by_kind": serializers.DictField(child=_any()),
            },
        ),
    )
    def get(self, request):
        q = self.query(AttributionQuery)
        start, end = period_bounds(self.store, q)
        return Response(
            _clean(
                selectors.attribution(
                    store=self.store, start=start, end=end, window_days=q.get("window_days")
                )
            )
        )


class TimeseriesQuery(PeriodQuery):
    metric = serializers.ChoiceField(choices=selectors.TIMESERIES_METRICS, default="revenue")
    interval = serializers.ChoiceField(choices=tuple(selectors.INTERVALS), default="day")


class TimeseriesApi(StoreApi):
    @extend_schema(
        parameters=[TimeseriesQuery],
        responses=_obj(
            "Timeseries",
            {
                "metric": serializers.CharField(),
                "interval": serializers.CharField(),
                "points": _obj(
                    "TimeseriesPoint",
                    {"period": serializers.DateField(), "value": serializers.FloatField()},
                    many=True,
                ),
            },
        ),
    )
    def get(self, request):
        q = self.query(TimeseriesQuery)
        start, end = period_bounds(self.store, q)
        points = selectors.timeseries(
            store=self.store, metric=q["metric"], interval=q["interval"], start=start, end=end
        )
        return Response({"metric": q["metric"], "interval": q["interval"], "points": points})


class FunnelApi(StoreApi):
    @extend_schema(
        parameters=[PeriodQuery],
        responses=_obj(
            "Funnel",
            {
                "sequences": _obj(
                    "FunnelRow",
                    {
                        "sequence_id": serializers.IntegerField(allow_null=True),
                        "name": serializers.CharField(),
                        "enrolled": serializers.IntegerField(),
                        "holdout": serializers.IntegerField(),
                        "emails_sent": serializers.IntegerField(),
                        "recipients": serializers.IntegerField(),
                        "clickers": serializers.IntegerField(),
                        "buyers": serializers.IntegerField(),
                        "attributed_orders": serializers.IntegerField(),
                        "attributed_revenue": serializers.FloatField(),
                    },
                    many=True,
                )
            },
        ),
    )
    def get(self, request):
        start, end = period_bounds(self.store, self.query(PeriodQuery))
        return Response({"sequences": _clean(selectors.funnel(store=self.store, start=start, end=end))})


class CohortQuery(serializers.Serializer):
    by = serializers.ChoiceField(choices=("month", "segment"), default="month")
    dimension = serializers.ChoiceField(choices=selectors.SEGMENT_DIMENSIONS, default="lifecycle")
    months = serializers.IntegerField(default=12, min_value=1, max_value=36)


class CohortsApi(StoreApi):
    """Rows: first-purchase month (``by=month``) or segment (``by=segment``); columns: months
    since the first purchase; values: active customers, retention share, revenue."""

    @extend_schema(
        parameters=[CohortQuery],
        responses=_obj(
            "Cohorts",
            {
                "by": serializers.CharField(),
                "months": serializers.IntegerField(),
                "dimension": serializers.CharField(required=False),
                "rows": serializers.ListField(child=_any()),
            },
        ),
    )
    def get(self, request):
        q = self.query(CohortQuery)
        if q["by"] == "month":
            data = selectors.cohorts_by_month(store=self.store, months=q["months"])
        else:
            data = selectors.cohorts_by_segment(
                store=self.store, dimension=q["dimension"], months=q["months"]
            )
        return Response(_clean(data))


class ClvApi(StoreApi):
    """BG/NBD + Gamma-Gamma fitted on the store's customers: 90-day purchases, 12-month value,
    churn risk, per first-purchase cohort."""

    @extend_schema(
        responses=_obj(
            "ClvReport",
            {
                "status": serializers.CharField(),
                "message": serializers.CharField(allow_blank=True),
                "customers": serializers.IntegerField(),
                "repeaters": serializers.IntegerField(),
                "bgnbd_params": serializers.DictField(child=serializers.FloatField()),
                "gamma_gamma_params": serializers.DictField(child=serializers.FloatField()),
                "expected_purchases_90d": serializers.FloatField(allow_null=True),
                "clv_12m_total": serializers.FloatField(allow_null=True),
                "clv_12m_mean": serializers.FloatField(allow_null=True),
                "churn_risk": serializers.DictField(child=serializers.FloatField()),
                "cohorts": serializers.ListField(child=_any()),
            },
        )
    )
    def get(self, request):
        report = clv.store_clv(store=self.store)
        data = dataclasses.asdict(report)
        data.pop("values")
        return Response(_clean(data))


class CustomerValueSerializer(serializers.Serializer):
    customer_id = serializers.IntegerField()
    frequency = serializers.IntegerField()
    recency_weeks = serializers.FloatField()
    age_weeks = serializers.FloatField()
    average_order_value = serializers.FloatField()
    p_alive = serializers.FloatField()
    churn_risk = serializers.FloatField()
    expected_purchases_90d = serializers.FloatField()
    clv_12m = serializers.FloatField()
    cohort = serializers.CharField()


class ClvCustomersApi(StoreGenericApi):
    """Each customer's predicted value and churn risk, highest value first (paginated)."""

    serializer_class = CustomerValueSerializer
    filter_backends = []

    class ClvCustomersQuery(serializers.Serializer):
        min_churn_risk = serializers.FloatField(required=False, min_value=0, max_value=1)
        cohort = serializers.RegexField(r"^\d{4}-\d{2}$", required=False)

    @extend_schema(parameters=[ClvCustomersQuery], responses=CustomerValueSerializer(many=True))
    def get(self, request):
        q = self.query(self.ClvCustomersQuery)
        values = list(clv.store_clv(store=self.store).values)
        if "min_churn_risk" in q:
            values = [v for v in values if v.churn_risk >= q["min_churn_risk"]]
        if "cohort" in q:
            values = [v for v in values if v.cohort == q["cohort"]]
        page = self.paginate_queryset(values)
        return self.get_paginated_response(CustomerValueSerializer(page, many=True).data)


class UpgradeRetentionApi(StoreApi):
    """Repeat purchase within 90 days of an upgrade order (attributed to an upgrade email)
    vs other orders."""

    @extend_schema(
        parameters=[PeriodQuery],
        responses=_obj(
            "UpgradeRetention",
            {
                "days": serializers.IntegerField(),
                "upgrade": _any(),
                "other": _any(),
                "difference": serializers.JSONField(allow_null=True),
                "note": serializers.CharField(),
            },
        ),
    )
    def get(self, request):
        start, end = period_bounds(self.store, self.query(PeriodQuery))
        return Response(_clean(selectors.upgrade_retention(store=self.store, start=start, end=end)))


class NpsApi(StoreApi):
    @extend_schema(
        parameters=[PeriodQuery],
        responses=_obj(
            "Nps",
            {
                "responses": serializers.IntegerField(),
                "scores": serializers.DictField(child=serializers.IntegerField()),
                "nps": serializers.FloatField(allow_null=True),
                "promoters": _any(),
                "passives": _any(),
                "detractors": _any(),
            },
        ),
    )
    def get(self, request):
        start, end = period_bounds(self.store, self.query(PeriodQuery))
        return Response(_clean(selectors.nps(store=self.store, start=start, end=end)))


class DeliverabilityApi(StoreApi):
    """Unsubscribe and complaint rates per sequence; ``alarm`` above the complaint threshold."""

    @extend_schema(
        parameters=[PeriodQuery],
        responses=_obj(
            "Deliverability",
            {
                "complaint_alarm_rate": serializers.FloatField(),
                "sent": serializers.IntegerField(),
                "complaints": serializers.IntegerField(),
                "unsubscribes": serializers.IntegerField(),
                "complaint_rate": serializers.FloatField(allow_null=True),
                "alarm": serializers.BooleanField(),
                "sequences": serializers.ListField(child=_any()),
            },
        ),
    )
    def get(self, request):
        start, end = period_bounds(self.store, self.query(PeriodQuery))
        return Response(_clean(selectors.deliverability(store=self.store, start=start, end=end)))
