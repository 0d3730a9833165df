"""Sequences and their steps: list, create, edit (enable / pause is a PATCH of ``status``), and a
step's preview for a real customer and its test send (docs/api.md).

Field errors leave as ``{"code": "validation_failed", "message", "extra": {"fields": {name:
[messages]}}}``, from the serializers here and from the services alike, so the admin can show
each next to its field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.db.models import Count
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from emails.kinds import KINDS
from emails.models import OutboundEmail
from xsell_plugin.core.exceptions import NotFound
from xsell_plugin.customers.models import Customer
from xsell_plugin.dashboard.apis import MailerTestApi, StoreGenericApi, StrictSerializer
from xsell_plugin.dashboard.previews import email_preview, sample_snapshot
from xsell_plugin.experiments.assignment import HOLDOUT
from xsell_plugin.experiments.models import SequenceAssignment
from xsell_plugin.sequences import services
from xsell_plugin.sequences.models import Enrollment, Sequence, Step
from xsell_plugin.tracking.models import Click


class InlineChoiceField(serializers.ChoiceField):
    """A choice field whose enum stays inline in the OpenAPI schema: ``status`` and ``kind`` mean
    different sets for sequences, offers, products and experiments, and named enums of one field
    name would collide."""


class InlineChoiceFieldExtension(OpenApiSerializerFieldExtension):
    target_class = InlineChoiceField

    def map_serializer_field(self, auto_schema, direction):
        # A pattern, not an ``enum``: spectacular hoists every enum into a component named after
        # the field, which is what collides.
        values = [str(v) for v in self.target.choices]
        schema: dict[str, Any] = {"type": "string", "pattern": f"^({'|'.join(map(re.escape, values))})$",
                                  "description": "one of: " + ", ".join(values)}
        if self.target.allow_null:
            schema["nullable"] = True
        return schema


# Steps ------------------------------------------------------------------------------------------


class StepVariantSerializer(StrictSerializer):
    """An A/B variant of a step (``sequences.services.variant_for``): customers are split by
    ``weight``; ``kind`` optionally sends another email kind. Subject lines are tested with an
    experiment (``/experiments``, factor ``subject``)."""

    key = serializers.RegexField(r"^[A-Za-z0-9_-]{1,20}$", max_length=20)
    weight = serializers.IntegerField(min_value=0, max_value=1000, default=1)
    kind = InlineChoiceField(choices=KINDS, required=False)


class StepConditionsSerializer(StrictSerializer):
    """All must hold when the step is due, else it is skipped and the sequence goes on."""

    segment = serializers.DictField(
        required=False, help_text="a segment filter: lifecycle, rfm, engagement, affinity, "
                                  "min_orders, max_orders, min_spent")
    clicked = serializers.BooleanField(required=False, help_text="clicked since enrolment (or not)")
    bought_since = serializers.BooleanField(required=False,
                                            help_text="ordered since the trigger (or not)")


class StepSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    position = serializers.IntegerField(
        min_value=1, max_value=services.MAX_STEPS, required=False,
        help_text="1 = first; on create, default: the end; changing it moves the step")
    kind = InlineChoiceField(choices=KINDS)
    delay_minutes = serializers.IntegerField(
        min_value=0, max_value=services.MAX_DELAY_MINUTES, default=0,
        help_text="after the previous step (or the trigger)")
    window_start_hour = serializers.IntegerField(
        min_value=0, max_value=23, allow_null=True, default=None,
        help_text="local send window [start, end); both or neither")
    window_end_hour = serializers.IntegerField(min_value=0, max_value=23, allow_null=True, default=None)
    conditions = StepConditionsSerializer(default=dict)
    variants = StepVariantSerializer(many=True, default=list, max_length=services.MAX_VARIANTS)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


def _step_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(data)
    if "conditions" in out:
        out["conditions"] = dict(out["conditions"])
    if "variants" in out:
        out["variants"] = [dict(v) for v in out["variants"]]
    return out


# Sequences --------------------------------------------------------------------------------------


class SequenceStatsSerializer(serializers.Serializer):
    enrolled = serializers.IntegerField(help_text="customers enrolled (treated)")
    holdout = serializers.IntegerField(help_text="customers held out (no emails)")
    sent = serializers.IntegerField(help_text="emails sent")
    clicked = serializers.IntegerField(help_text="customers who clicked")


class SequenceSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    key = serializers.SlugField(max_length=60, read_only=True)
    name = serializers.CharField(max_length=200)
    trigger = serializers.ChoiceField(choices=Sequence.Trigger.choices, read_only=True)
    status = InlineChoiceField(choices=Sequence.Status.choices, default=Sequence.Status.PAUSED)
    offer = serializers.BooleanField(read_only=True, help_text="a step carries an offer")
    priority = serializers.IntegerField(min_value=-1000, max_value=1000, default=0)
    exit_on = serializers.ChoiceField(choices=Sequence.ExitOn.choices, default=Sequence.ExitOn.ANY_ORDER)
    reenroll_days = serializers.IntegerField(min_value=0, max_value=3650, default=30)
    step_count = serializers.IntegerField(read_only=True)
    stats = SequenceStatsSerializer(read_only=True)


class SequenceDetailSerializer(SequenceSerializer):
    trigger_config = serializers.DictField(default=dict, help_text="per trigger (docs/sequences.md)")
    audience = serializers.DictField(default=dict, help_text="a segment filter for entry")
    pause_after_click_hours = serializers.IntegerField(min_value=0, max_value=24 * 90, default=72)
    max_hold_days = serializers.IntegerField(min_value=1, max_value=365, default=14)
    steps = StepSerializer(many=True, read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class SequenceCreateSerializer(SequenceDetailSerializer):
    key = serializers.SlugField(max_length=60)
    trigger = serializers.ChoiceField(choices=Sequence.Trigger.choices)
    steps = StepSerializer(many=True, min_length=1, max_length=services.MAX_STEPS)


def sequence_stats(*, store, sequence_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per sequence: customers enrolled (treated) and held out, emails sent, customers who
    clicked (the units of ``/reports/funnel``)."""
    out = {pk: {"enrolled": 0, "holdout": 0, "sent": 0, "clicked": 0} for pk in sequence_ids}
    if not sequence_ids:
        return out
    rows = {
        "enrolled": Enrollment.objects.for_store(store).filter(sequence_id__in=sequence_ids)
        .values_list("sequence_id").annotate(n=Count("customer_id", distinct=True)),
        "holdout": SequenceAssignment.objects.for_store(store)
        .filter(sequence_id__in=sequence_ids, arm=HOLDOUT)
        .values_list("sequence_id").annotate(n=Count("pk")),
        "sent": OutboundEmail.objects.for_store(store)
        .filter(sequence_id__in=sequence_ids, status=OutboundEmail.Status.SENT)
        .values_list("sequence_id").annotate(n=Count("pk")),
        "clicked": Click.objects.for_store(store).filter(outbound__sequence_id__in=sequence_ids)
        .values_list("outbound__sequence_id").annotate(n=Count("customer_id", distinct=True)),
    }
    for name, qs in rows.items():
        for pk, n in qs.order_by():
            if pk in out:
                out[pk][name] = n
    return out


class _SequenceBase(StoreGenericApi):
    serializer_class = SequenceDetailSerializer
    filterset_fields = ["status", "trigger"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Sequence.objects.none()
        return (Sequence.objects.for_store(self.store).annotate(step_count=Count("steps"))
                .order_by("-priority", "pk"))

    def with_stats(self, sequences):
        stats = sequence_stats(store=self.store, sequence_ids=[s.pk for s in sequences])
        for s in sequences:
            s.stats = stats[s.pk]
        return sequences

    def detail(self, pk: int) -> dict[str, Any]:
        sequence = self.get_queryset().filter(pk=pk).prefetch_related("steps").first()
        if sequence is None:
            raise NotFound("No such sequence.")
        self.with_stats([sequence])
        return SequenceDetailSerializer(sequence).data


class SequenceListApi(_SequenceBase, generics.ListAPIView):
    serializer_class = SequenceSerializer

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.with_stats(list(self.paginate_queryset(queryset)))
        return self.get_paginated_response(SequenceSerializer(page, many=True).data)

    @extend_schema(request=SequenceCreateSerializer, responses={201: SequenceDetailSerializer})
    def post(self, request):
        data = self.body(SequenceCreateSerializer)
        steps = [_step_fields(s) for s in data.pop("steps")]
        sequence = services.sequence_add(store=self.store, steps=steps, **data)
        return Response(self.detail(sequence.pk), status=status.HTTP_201_CREATED)


class SequenceDetailApi(_SequenceBase):
    @extend_schema(responses=SequenceDetailSerializer)
    def get(self, request, pk: int):
        return Response(self.detail(pk))

    @extend_schema(request=SequenceDetailSerializer, responses=SequenceDetailSerializer)
    def patch(self, request, pk: int):
        sequence = self.get_object()
        data = self.body(SequenceDetailSerializer, partial=True)
        services.sequence_update(store=self.store, sequence_id=sequence.pk, **data)
        return Response(self.detail(sequence.pk))


class _StepBase(StoreGenericApi):
    serializer_class = StepSerializer

    def sequence(self) -> Sequence:
        sequence = Sequence.objects.for_store(self.store).filter(pk=self.kwargs["pk"]).first()
        if sequence is None:
            raise NotFound("No such sequence.")
        return sequence

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Step.objects.none()
        # ``sequence__pk``, not ``sequence_id``: a pk lookup treats an id beyond the column's
        # range as matching nothing (404) where a foreign key value would overflow.
        return Step.objects.for_store(self.store).filter(sequence__pk=self.kwargs["pk"]).order_by("position")

    def get_object(self) -> Step:
        step = self.get_queryset().filter(pk=self.kwargs["step_id"]).select_related("sequence").first()
        if step is None:
            raise NotFound("No such step in this sequence.")
        return step


class SequenceStepListApi(_StepBase, generics.ListAPIView):
    def list(self, request, *args, **kwargs):
        self.sequence()  # another store's sequence: 404, not an empty list
        return super().list(request, *args, **kwargs)

    @extend_schema(request=StepSerializer, responses={201: StepSerializer})
    def post(self, request, pk: int):
        sequence = self.sequence()
        data = _step_fields(self.body(StepSerializer))
        step = services.step_create(store=self.store, sequence_id=sequence.pk, **data)
        return Response(StepSerializer(step).data, status=status.HTTP_201_CREATED)


class SequenceStepDetailApi(_StepBase):
    @extend_schema(responses=StepSerializer)
    def get(self, request, pk: int, step_id: int):
        return Response(StepSerializer(self.get_object()).data)

    @extend_schema(request=StepSerializer, responses=StepSerializer)
    def patch(self, request, pk: int, step_id: int):
        step = self.get_object()
        data = _step_fields(self.body(StepSerializer, partial=True))
        step = services.step_update(store=self.store, sequence_id=step.sequence_id, step_id=step.pk, **data)
        return Response(StepSerializer(step).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int, step_id: int):
        step = self.get_object()
        services.step_delete(store=self.store, sequence_id=step.sequence_id, step_id=step.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


# Preview and test send --------------------------------------------------------------------------


class StepPreviewQuery(serializers.Serializer):
    customer_id = serializers.IntegerField(
        required=False, min_value=1, max_value=2**62,
        help_text="a customer of the store (/customers); default: a sample from the catalogue")
    variant = serializers.CharField(required=False, max_length=40,
                                    help_text="a variant key of the step; default: the customer's")


class StepPreviewSerializer(serializers.Serializer):
    sequence_id = serializers.IntegerField()
    step_id = serializers.IntegerField()
    position = serializers.IntegerField()
    kind = serializers.CharField(help_text="the email kind sent (a fallback when the step's own "
                                           "has no content for this customer)")
    variant = serializers.CharField()
    customer_id = serializers.IntegerField(allow_null=True)
    source = serializers.ChoiceField(choices=["customer", "sample"],
                                     help_text="customer: this customer's real content; sample: "
                                               "the store's catalogue")
    would_skip = serializers.BooleanField(help_text="the step has no content for this customer")
    note = serializers.CharField(allow_blank=True)
    product_ids = serializers.ListField(child=serializers.CharField(),
                                        help_text="external ids of the products shown")
    subject = serializers.CharField()
    html = serializers.CharField()
    text = serializers.CharField()


def _variant_kind(step: Step, variant: str) -> str:
    for v in step.variants or ():
        if v.get("key") == variant and v.get("kind"):
            return v["kind"]
    return step.kind


def step_rendered(*, store, step: Step, customer_id: int | None, variant: str | None) -> dict[str, Any]:
    """A step rendered like its send would be (links untracked, nothing recorded)."""
    customer = None
    if customer_id is not None:
        customer = Customer.objects.for_store(store).filter(pk=customer_id).first()
        if customer is None:
            raise NotFound("No such customer.", extra={"customer_id": customer_id})
    if customer is not None:
        content = services.step_preview_content(store=store, step=step, customer=customer,
                                                variant=variant)
        kind, variant, note, product_ids = content.kind, content.variant, content.note, content.product_ids
        snapshot, source = content.context, "customer"
        would_skip = snapshot is None
        if snapshot is None:
            snapshot, source = sample_snapshot(store, kind), "sample"
    else:
        keys = services.step_variants(step)
        if variant is not None and variant not in keys:
            raise services.field_error("variant", f"This step's variants are {', '.join(keys)}.")
        variant = variant or keys[0]
        kind = _variant_kind(step, variant)
        snapshot, source, note, product_ids = sample_snapshot(store, kind), "sample", "", ()
        would_skip = False
    rendered = email_preview(store=store, kind=kind, snapshot=snapshot,
                             first_name=(customer.first_name if customer else "") or "Alex")
    return {"sequence_id": step.sequence_id, "step_id": step.pk, "position": step.position, "kind": kind,
            "variant": variant, "customer_id": customer.pk if customer else None, "source": source,
            "would_skip": would_skip, "note": note, "product_ids": list(product_ids),
            "subject": rendered.subject, "html": rendered.html, "text": rendered.text,
            "rendered": rendered}


class SequenceStepPreviewApi(_StepBase):
    @extend_schema(parameters=[StepPreviewQuery], responses=StepPreviewSerializer)
    def get(self, request, pk: int, step_id: int):
        step = self.get_object()
        q = self.query(StepPreviewQuery)
        out = step_rendered(store=self.store, step=step, customer_id=q.get("customer_id"),
                            variant=q.get("variant"))
        return Response(StepPreviewSerializer(out).data)


class SequenceStepSendTestApi(_StepBase):
    class StepTestInput(StepPreviewQuery):
        to = serializers.EmailField()

    class StepTestResult(MailerTestApi.MailerTestResult):
        to = serializers.EmailField()
        kind = serializers.CharField()
        variant = serializers.CharField()
        source = serializers.CharField()
        subject = serializers.CharField()

    @extend_schema(request=StepTestInput, responses=StepTestResult)
    def post(self, request, pk: int, step_id: int):
        step = self.get_object()
        data = self.body(self.StepTestInput)
        out = step_rendered(store=self.store, step=step, customer_id=data.get("customer_id"),
                            variant=data.get("variant"))
        result = services.step_test_send(store=self.store, to=data["to"], rendered=out["rendered"])
        return Response(self.StepTestResult({
            "ok": result.ok, "transport": result.transport, "message_id": result.message_id,
            "error": result.error, "to": data["to"], "kind": out["kind"], "variant": out["variant"],
            "source": out["source"], "subject": f"[Test] {out['subject']}"}).data)
