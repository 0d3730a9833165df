"""Experiments (A/B tests), their results and sample-size guidance, and holdout policies."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from xsell_plugin.core.exceptions import ValidationFailed
from xsell_plugin.dashboard.apis import StoreApi, StoreGenericApi
from xsell_plugin.experiments import selectors, services, statistics
from xsell_plugin.experiments.assignment import MAX_HOLDOUT_SHARE
from xsell_plugin.experiments.models import Experiment, HoldoutPolicy, Variant


class VariantSerializer(serializers.ModelSerializer):
    key = serializers.SlugField(max_length=40)
    weight = serializers.IntegerField(min_value=1, max_value=1000, default=1)

    class Meta:
        model = Variant
        fields = ["key", "name", "weight", "is_control", "config"]


class ExperimentSerializer(serializers.ModelSerializer):
    variants = VariantSerializer(many=True)
    assigned = serializers.IntegerField(read_only=True, default=0)
    winner = serializers.SlugRelatedField(slug_field="key", read_only=True)
    sequence_id = serializers.IntegerField(min_value=1, max_value=2**62)
    step_id = serializers.IntegerField(min_value=1, max_value=2**62, required=False, allow_null=True)
    alpha = serializers.DecimalField(
        max_digits=4,
        decimal_places=3,
        min_value=Decimal("0.001"),
        max_value=Decimal("0.2"),
        default="0.050",
    )
    power = serializers.DecimalField(
        max_digits=4, decimal_places=3, min_value=Decimal("0.5"), max_value=Decimal("0.99"), default="0.800"
    )
    minimum_detectable_effect = serializers.DecimalField(
        max_digits=6, decimal_places=3, min_value=Decimal("0.001"), max_value=Decimal("10"), default="0.100"
    )
    baseline_rate = serializers.DecimalField(
        max_digits=6,
        decimal_places=4,
        min_value=Decimal("0.0001"),
        max_value=Decimal("0.9999"),
        required=False,
        allow_null=True,
    )
    baseline_mean = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0.01"), required=False, allow_null=True
    )
    baseline_sd = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0.01"), required=False, allow_null=True
    )
    horizon_days = serializers.IntegerField(min_value=1, max_value=120, default=14)

    class Meta:
        model = Experiment
        fields = [
            "id",
            "name",
            "sequence_id",
            "step_id",
            "factor",
            "hypothesis",
            "status",
            "metric",
            "alpha",
            "power",
            "minimum_detectable_effect",
            "baseline_rate",
            "baseline_mean",
            "baseline_sd",
            "horizon_days",
            "planned_per_arm",
            "started_at",
            "stopped_at",
            "winner",
            "assigned",
            "variants",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "status",
            "planned_per_arm",
            "started_at",
            "stopped_at",
            "winner",
            "assigned",
            "created_at",
            "updated_at",
        ]


class _ExperimentBase(StoreGenericApi):
    serializer_class = ExperimentSerializer
    filterset_fields = ["status", "sequence_id", "factor", "metric"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Experiment.objects.none()
        return selectors.experiment_list(store=self.store)


class ExperimentListApi(_ExperimentBase, generics.ListAPIView):
    @extend_schema(request=ExperimentSerializer, responses={201: ExperimentSerializer})
    def post(self, request):
        data = self.body(ExperimentSerializer)
        variants = [dict(v) for v in data.pop("variants")]
        experiment = services.experiment_create(store=self.store, variants=variants, **data)
        out = self.get_queryset().get(pk=experiment.pk)
        return Response(ExperimentSerializer(out).data, status=status.HTTP_201_CREATED)


class ExperimentDetailApi(_ExperimentBase, generics.RetrieveAPIView):
    @extend_schema(request=ExperimentSerializer, responses=ExperimentSerializer)
    def patch(self, request, pk: int):
        experiment = self.get_object()
        data = self.body(ExperimentSerializer, partial=True)
        variants = data.pop("variants", None)
        services.experiment_update(
            store=self.store,
            experiment_id=experiment.pk,
            variants=[dict(v) for v in variants] if variants is not None else None,
            **data,
        )
        return Response(ExperimentSerializer(self.get_object()).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        experiment = self.get_object()
        services.experiment_delete(store=self.store, experiment_id=experiment.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ExperimentStartApi(_ExperimentBase):
    @extend_schema(request=None, responses=ExperimentSerializer)
    def post(self, request, pk: int):
        experiment = self.get_object()
        services.experiment_start(store=self.store, experiment_id=experiment.pk)
        return Response(ExperimentSerializer(self.get_object()).data)


class ExperimentStopApi(_ExperimentBase):
    class ExperimentStopInput(serializers.Serializer):
        winner = serializers.SlugField(required=False, allow_null=True, max_length=40)

    @extend_schema(request=ExperimentStopInput, responses=ExperimentSerializer)
    def post(self, request, pk: int):
        experiment = self.get_object()
        data = self.body(self.ExperimentStopInput)
        services.experiment_stop(store=self.store, experiment_id=experiment.pk, winner=data.get("winner"))
        return Response(ExperimentSerializer(self.get_object()).data)


_ESTIMATE = {
    "estimate": serializers.FloatField(),
    "ci_low": serializers.FloatField(allow_null=True),
    "ci_high": serializers.FloatField(allow_null=True),
    "p_value": serializers.FloatField(allow_null=True),
    "p_value_adjusted": serializers.FloatField(allow_null=True, required=False),
    "alpha": serializers.FloatField(),
    "method": serializers.CharField(),
    "n_treatment": serializers.IntegerField(),
    "n_control": serializers.IntegerField(),
    "treatment": serializers.FloatField(),
    "control": serializers.FloatField(),
    "significant": serializers.BooleanField(),
}


class ExperimentResultsApi(_ExperimentBase):
    @extend_schema(
        responses=inline_serializer(
            "ExperimentResults",
            {
                "experiment_id": serializers.IntegerField(),
                "status": serializers.CharField(),
                "metric": serializers.CharField(),
                "decision": serializers.CharField(),
                "message": serializers.CharField(),
                "planned_per_arm": serializers.IntegerField(allow_null=True),
                "horizon_days": serializers.IntegerField(),
                "alpha": serializers.FloatField(),
                "arms": inline_serializer(
                    "ExperimentArm",
                    {
                        "key": serializers.CharField(),
                        "name": serializers.CharField(),
                        "is_control": serializers.BooleanField(),
                        "assigned": serializers.IntegerField(),
                        "matured": serializers.IntegerField(),
                        "conversions": serializers.IntegerField(),
                        "conversion_rate": serializers.FloatField(allow_null=True),
                        "revenue_per_recipient": serializers.FloatField(allow_null=True),
                        "vs_control": inline_serializer("VsControl", _ESTIMATE, allow_null=True),
                    },
                    many=True,
                ),
            },
        )
    )
    def get(self, request, pk: int):
        experiment = self.get_object()
        results = selectors.experiment_results(store=self.store, experiment_id=experiment.pk)
        return Response(_clean(dataclasses.asdict(results)))


def _clean(value):
    """NaN and infinities become null (JSON has neither)."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


class SampleSizeApi(StoreApi):
    """Units per arm for a fixed-horizon test (statsmodels power analysis)."""

    class SampleSizeQuery(serializers.Serializer):
        metric = serializers.ChoiceField(choices=Experiment.Metric.choices, default="conversion")
        baseline_rate = serializers.FloatField(required=False, min_value=0.0001, max_value=0.9999)
        baseline_mean = serializers.FloatField(required=False, min_value=0.01, max_value=1e9)
        baseline_sd = serializers.FloatField(required=False, min_value=0.01, max_value=1e9)
        minimum_detectable_effect = serializers.FloatField(default=0.1, min_value=0.001, max_value=10)
        alpha = serializers.FloatField(default=0.05, min_value=0.001, max_value=0.2)
        power = serializers.FloatField(default=0.8, min_value=0.5, max_value=0.99)
        variants = serializers.IntegerField(default=2, min_value=2, max_value=10)

    class SampleSize(serializers.Serializer):
        per_arm = serializers.IntegerField()
        total = serializers.IntegerField()
        metric = serializers.CharField()
        note = serializers.CharField()

    @extend_schema(parameters=[SampleSizeQuery], responses=SampleSize)
    def get(self, request):
        q = self.query(self.SampleSizeQuery)
        comparisons = q["variants"] - 1
        try:
            if q["metric"] == "conversion":
                if "baseline_rate" not in q:
                    raise ValidationFailed("Give baseline_rate for a conversion test.")
                n = statistics.sample_size_conversion(
                    q["baseline_rate"],
                    q["minimum_detectable_effect"],
                    alpha=q["alpha"],
                    power=q["power"],
                    comparisons=comparisons,
                )
            else:
                if "baseline_mean" not in q or "baseline_sd" not in q:
                    raise ValidationFailed("Give baseline_mean and baseline_sd for a revenue test.")
                n = statistics.sample_size_revenue(
                    q["baseline_mean"],
                    q["baseline_sd"],
                    q["minimum_detectable_effect"],
                    alpha=q["alpha"],
                    power=q["power"],
                    comparisons=comparisons,
                )
        except ValueError as exc:
            raise ValidationFailed(str(exc)) from None
        note = (
            f"Fixed horizon: decide only when every arm has {n} recipients whose "
            f"outcome window has closed; alpha is split over {comparisons} comparison(s)."
        )
        return Response(
            self.SampleSize(
                {"per_arm": n, "total": n * q["variants"], "metric": q["metric"], "note": note}
            ).data
        )


# Holdouts ---------------------------------------------------------------------------------------


class HoldoutSerializer(serializers.ModelSerializer):
    sequence_id = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**62, help_text="null: the store's default"
    )
    share = serializers.DecimalField(
        max_digits=4, decimal_places=3, min_value=Decimal("0"), max_value=MAX_HOLDOUT_SHARE
    )

    class Meta:
        model = HoldoutPolicy
        fields = ["id", "sequence_id", "share", "updated_at"]
        read_only_fields = ["id", "updated_at"]


class _HoldoutBase(StoreGenericApi):
    serializer_class = HoldoutSerializer
    filterset_fields = ["sequence_id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return HoldoutPolicy.objects.none()
        return selectors.holdout_policy_list(store=self.store)


class HoldoutListApi(_HoldoutBase, generics.ListAPIView):
    @extend_schema(request=HoldoutSerializer, responses={201: HoldoutSerializer})
    def post(self, request):
        data = self.body(HoldoutSerializer)
        policy = services.holdout_policy_set(
            store=self.store, share=data["share"], sequence_id=data.get("sequence_id")
        )
        return Response(HoldoutSerializer(policy).data, status=status.HTTP_201_CREATED)


class HoldoutDetailApi(_HoldoutBase, generics.RetrieveAPIView):
    class HoldoutShareInput(serializers.Serializer):
        share = serializers.DecimalField(
            max_digits=4, decimal_places=3, min_value=Decimal("0"), max_value=MAX_HOLDOUT_SHARE
        )

    @extend_schema(request=HoldoutShareInput, responses=HoldoutSerializer)
    def put(self, request, pk: int):
        policy = self.get_object()
        data = self.body(self.HoldoutShareInput)
        policy = services.holdout_policy_set(
            store=self.store, share=data["share"], sequence_id=policy.sequence_id
        )
        return Response(HoldoutSerializer(policy).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        policy = self.get_object()
        services.holdout_policy_delete(store=self.store, policy_id=policy.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
