"""The admin API's base classes, and the store, settings, email and segment endpoints.

Every view authenticates one store (``request.auth``) and starts every read from it: an id of
another store's row answers 404, and lists never include another store's rows. Errors leave as
``{"code", "message", "extra"}``; lists are paginated (``?limit=&offset=``).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from emails import services as email_services
from emails.kinds import KINDS
from emails.models import MailerAccount, StoreEmailSettings, TemplateCopy, Testimonial
from emails.selectors import mailer_account_get
from xsell_plugin.core.exceptions import NotFound
from xsell_plugin.dashboard.previews import email_preview
from xsell_plugin.experiments.selectors import holdout_share_get
from xsell_plugin.experiments.services import holdout_policy_set
from xsell_plugin.reporting import selectors as reports
from xsell_plugin.reporting.services import report_settings_set
from xsell_plugin.sequences import selectors as sequence_selectors
from xsell_plugin.sequences.services import sequence_settings_set
from xsell_plugin.stores import selectors
from xsell_plugin.stores.services import store_details_set, store_margin_floor_set


class HasStore(BasePermission):
    def has_permission(self, request, view) -> bool:
        return request.auth is not None


class StoreApi(APIView):
    """Base of every admin API: authenticated as one store (``request.auth``), scoped to it."""

    permission_classes = [HasStore]

    @property
    def store(self):
        return self.request.auth

    def query(self, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
        """Validated query parameters (400 in the one error shape when invalid)."""
        serializer = serializer_class(data=self.request.query_params)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def body(
        self, serializer_class: type[serializers.Serializer], *, partial: bool = False
    ) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class StrictSerializer(serializers.Serializer):
    """Unknown keys are a field error rather than silently dropped (a typo, or a field that
    cannot be set here, is said so next to it)."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({k: ["Unknown field."] for k in unknown})
        return super().to_internal_value(data)


class StoreGenericApi(StoreApi, generics.GenericAPIView):
    """Generic views (lists, filters, pagination) over a queryset that starts from the store."""

    filter_backends = [DjangoFilterBackend]

    def get_object(self):
        obj = self.get_queryset().filter(pk=self.kwargs["pk"]).first()
        if obj is None:
            raise NotFound()
        return obj


class PeriodQuery(serializers.Serializer):
    """A period in the store's local dates: ``start`` inclusive, ``end`` inclusive."""

    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)

    def validate(self, attrs):
        if attrs.get("start") and attrs.get("end") and attrs["end"] < attrs["start"]:
            raise serializers.ValidationError({"end": "The end is before the start."})
        return attrs


def period_bounds(store, data: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    tz = zoneinfo.ZoneInfo(store.timezone)
    start = datetime.combine(data["start"], time.min, tzinfo=tz) if data.get("start") else None
    end = (
        datetime.combine(data["end"] + timedelta(days=1), time.min, tzinfo=tz) if data.get("end") else None
    )
    return start, end


class StoreSummaryApi(StoreApi):
    """The store. ``PATCH`` sets what the merchant owns here: the postal address every marketing
    email must show (CAN-SPAM, and the footer of every template) and the sender address used
    when no mailer is connected."""

    class OutputSerializer(serializers.Serializer):
        """The store (component StoreSummary)."""

        id = serializers.IntegerField()
        name = serializers.CharField()
        domain = serializers.CharField()
        platform = serializers.CharField()
        currency = serializers.CharField()
        timezone = serializers.CharField()
        postal_address = serializers.CharField(allow_blank=True)
        email_from = serializers.EmailField(allow_blank=True)
        counts = serializers.DictField(child=serializers.IntegerField())

    class InputSerializer(StrictSerializer):
        postal_address = serializers.CharField(max_length=500, allow_blank=True, required=False,
                                               trim_whitespace=True)
        email_from = serializers.EmailField(allow_blank=True, required=False)

    serializer_class = OutputSerializer

    def _data(self, store) -> dict[str, Any]:
        return {
            "id": store.pk,
            "name": store.name,
            "domain": store.domain,
            "platform": store.platform,
            "currency": store.currency,
            "timezone": store.timezone,
            "postal_address": store.postal_address,
            "email_from": store.email_from,
            "counts": selectors.store_counts(store=store),
        }

    def get(self, request):
        return Response(self.OutputSerializer(self._data(request.auth)).data)

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def patch(self, request):
        data = self.body(self.InputSerializer)
        store_details_set(store=request.auth, **data)
        request.auth.refresh_from_db()
        return Response(self.OutputSerializer(self._data(request.auth)).data)


# Guardrails and measurement settings --------------------------------------------------------------


SENDING_FIELDS = (
    "soft_opt_in", "soft_opt_in_policy", "max_per_window", "window_days", "min_spacing_hours",
    "offer_gap_hours", "frequent_buyer_orders", "frequent_buyer_days",
    "frequent_buyer_max_per_window", "daily_cap", "quiet_start_hour", "quiet_end_hour",
    "freshness_hours",
)
MEASUREMENT_FIELDS = (
    "attribution_window_days", "horizon_days", "pre_period_days", "complaint_alarm_rate",
    "review_after_days",
)


class GuardrailSettingsApi(StoreApi):
    """The store-wide guardrails: the margin floor every offer keeps, the default holdout share,
    the sending policy across all sequences (frequency caps, spacing, frequent-buyer cap, daily
    cap, quiet hours in the customer's local time, freshness, soft opt-in and its documented
    policy) and the measurement settings (attribution window, outcome horizon, CUPED pre-period,
    complaint alarm, review age). ``PUT`` takes any subset."""

    class GuardrailSettings(serializers.Serializer):
        margin_floor = serializers.DecimalField(
            max_digits=4, decimal_places=3, min_value=Decimal("0"), max_value=Decimal("0.999")
        )
        holdout_share = serializers.DecimalField(
            max_digits=4, decimal_places=3, min_value=Decimal("0"), max_value=Decimal("0.5")
        )
        # Sending policy (sequences.SequenceSettings)
        soft_opt_in = serializers.BooleanField(
            help_text="Email customers with unknown consent who bought (WooCommerce has no "
            "consent field), under the store's documented policy."
        )
        soft_opt_in_policy = serializers.CharField(max_length=500, allow_blank=True)
        max_per_window = serializers.IntegerField(min_value=1, max_value=20)
        window_days = serializers.IntegerField(min_value=1, max_value=60)
        min_spacing_hours = serializers.IntegerField(min_value=0, max_value=168)
        offer_gap_hours = serializers.IntegerField(min_value=0, max_value=720)
        frequent_buyer_orders = serializers.IntegerField(min_value=1, max_value=100)
        frequent_buyer_days = serializers.IntegerField(min_value=1, max_value=365)
        frequent_buyer_max_per_window = serializers.IntegerField(min_value=0, max_value=20)
        daily_cap = serializers.IntegerField(min_value=0, max_value=10_000_000, help_text="0: none")
        quiet_start_hour = serializers.IntegerField(min_value=0, max_value=23)
        quiet_end_hour = serializers.IntegerField(min_value=0, max_value=23)
        freshness_hours = serializers.IntegerField(min_value=1, max_value=720)
        # Measurement (reporting.ReportSettings)
        attribution_window_days = serializers.IntegerField(min_value=1, max_value=90)
        horizon_days = serializers.IntegerField(min_value=1, max_value=365)
        pre_period_days = serializers.IntegerField(min_value=1, max_value=730)
        complaint_alarm_rate = serializers.DecimalField(
            max_digits=5, decimal_places=4, min_value=Decimal("0.0001"), max_value=Decimal("0.5")
        )
        review_after_days = serializers.IntegerField(min_value=1, max_value=730)

    serializer_class = GuardrailSettings

    def _current(self) -> dict[str, Any]:
        rs = reports.report_settings_get(store=self.store)
        sending = sequence_selectors.sequence_settings_get(store=self.store)
        return {
            "margin_floor": self.store.margin_floor,
            "holdout_share": holdout_share_get(store_id=self.store.pk, sequence_id=None),
            **{f: getattr(sending, f) for f in SENDING_FIELDS},
            **{f: getattr(rs, f) for f in MEASUREMENT_FIELDS},
        }

    @extend_schema(responses=GuardrailSettings)
    def get(self, request):
        return Response(self.GuardrailSettings(self._current()).data)

    @extend_schema(request=GuardrailSettings, responses=GuardrailSettings)
    def put(self, request):
        data = self.body(self.GuardrailSettings, partial=True)
        sending = {f: data.pop(f) for f in SENDING_FIELDS if f in data}
        measurement = {f: data.pop(f) for f in MEASUREMENT_FIELDS if f in data}
        with transaction.atomic():  # all of it or none of it
            if "margin_floor" in data:
                store_margin_floor_set(store=self.store, margin_floor=data["margin_floor"])
            if "holdout_share" in data:
                holdout_policy_set(store=self.store, share=data["holdout_share"])
            if sending:
                sequence_settings_set(store=self.store, **sending)
            if measurement:
                report_settings_set(store=self.store, **measurement)
        self.store.refresh_from_db()
        return Response(self.GuardrailSettings(self._current()).data)


# Segments ---------------------------------------------------------------------------------------


class SegmentsApi(StoreApi):
    """How many ordering customers are in each lifecycle stage and RFM group (customers.segments)."""

    @extend_schema(
        responses=inline_serializer(
            "SegmentCounts",
            {
                "lifecycle": serializers.DictField(child=serializers.IntegerField()),
                "rfm": serializers.DictField(child=serializers.IntegerField()),
            },
        )
    )
    def get(self, request):
        return Response(reports.segment_counts(store=self.store))


# Email preview ----------------------------------------------------------------------------------


class EmailPreviewApi(StoreApi):
    class EmailPreviewInput(serializers.Serializer):
        kind = serializers.ChoiceField(choices=KINDS)
        context = serializers.DictField(
            required=False,
            help_text="a snapshot (docs/emails.md); default: a sample from the store's catalogue",
        )
        first_name = serializers.CharField(required=False, max_length=100, default="Alex")

    class EmailPreview(serializers.Serializer):
        kind = serializers.CharField()
        subject = serializers.CharField()
        html = serializers.CharField()
        text = serializers.CharField()

    @extend_schema(request=EmailPreviewInput, responses={200: EmailPreview})
    def post(self, request):
        data = self.body(self.EmailPreviewInput)
        rendered = email_preview(
            store=self.store, kind=data["kind"], snapshot=data.get("context"), first_name=data["first_name"]
        )
        return Response(
            self.EmailPreview(
                {
                    "kind": data["kind"],
                    "subject": rendered.subject,
                    "html": rendered.html,
                    "text": rendered.text,
                }
            ).data
        )


# Mailer -----------------------------------------------------------------------------------------


class MailerSerializer(serializers.ModelSerializer):
    """The store's mailer, secrets never shown (``has_*`` say whether one is stored)."""

    has_smtp_password = serializers.SerializerMethodField()
    has_esp_credentials = serializers.SerializerMethodField()

    class Meta:
        model = MailerAccount
        fields = [
            "transport",
            "smtp_host",
            "smtp_port",
            "smtp_security",
            "smtp_username",
            "esp",
            "from_email",
            "from_name",
            "reply_to",
            "last_test_at",
            "last_test_ok",
            "last_test_error",
            "has_smtp_password",
            "has_esp_credentials",
        ]
        read_only_fields = fields

    def get_has_smtp_password(self, obj) -> bool:
        return bool(obj.smtp_password)

    def get_has_esp_credentials(self, obj) -> bool:
        return bool(obj.esp_credentials)


class MailerApi(StoreApi):
    class MailerInput(serializers.Serializer):
        transport = serializers.ChoiceField(choices=MailerAccount.Transport.choices)
        from_email = serializers.EmailField()
        from_name = serializers.CharField(required=False, allow_blank=True, max_length=120, default="")
        reply_to = serializers.EmailField(required=False, allow_blank=True, default="")
        smtp_host = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
        smtp_port = serializers.IntegerField(required=False, min_value=1, max_value=65535, default=587)
        smtp_security = serializers.ChoiceField(
            choices=MailerAccount.Security.choices, required=False, default=MailerAccount.Security.STARTTLS
        )
        smtp_username = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
        smtp_password = serializers.CharField(required=False, write_only=True, max_length=500)
        esp = serializers.CharField(required=False, allow_blank=True, max_length=20, default="")
        esp_credentials = serializers.DictField(required=False, write_only=True)
        webhook_secret = serializers.CharField(required=False, write_only=True, max_length=500)

    @extend_schema(responses={200: MailerSerializer, 404: OpenApiResponse(description="no mailer yet")})
    def get(self, request):
        account = mailer_account_get(store=self.store)
        if account is None:
            raise NotFound("No mailer is connected: emails stay in the local outbox.")
        return Response(MailerSerializer(account).data)

    @extend_schema(request=MailerInput, responses=MailerSerializer)
    def put(self, request):
        data = self.body(self.MailerInput)
        account = email_services.mailer_account_set(store=self.store, **data)
        return Response(MailerSerializer(account).data)


class MailerTestApi(StoreApi):
    class MailerTestInput(serializers.Serializer):
        to = serializers.EmailField()

    class MailerTestResult(serializers.Serializer):
        ok = serializers.BooleanField()
        transport = serializers.CharField()
        message_id = serializers.CharField()
        error = serializers.CharField(allow_blank=True)

    @extend_schema(request=MailerTestInput, responses=MailerTestResult)
    def post(self, request):
        data = self.body(self.MailerTestInput)
        result = email_services.mailer_test_send(store=self.store, to=data["to"])
        return Response(self.MailerTestResult(result).data)


# Branding, copy, testimonials ------------------------------------------------------------------


class EmailSettingsSerializer(serializers.ModelSerializer):
    class Meta:
        model = StoreEmailSettings
        fields = [
            "logo_url",
            "logo_alt",
            "logo_width",
            "primary_color",
            "accent_color",
            "text_color",
            "background_color",
            "font_family",
            "feedback_url",
            "support_url",
            "footer_note",
        ]


class EmailSettingsApi(StoreApi):
    @extend_schema(responses=EmailSettingsSerializer)
    def get(self, request):
        row = StoreEmailSettings.objects.for_store(self.store).first() or StoreEmailSettings(
            store=self.store
        )
        return Response(EmailSettingsSerializer(row).data)

    @extend_schema(request=EmailSettingsSerializer, responses=EmailSettingsSerializer)
    def put(self, request):
        data = self.body(EmailSettingsSerializer, partial=True)
        row = email_services.store_email_settings_set(store=self.store, **data)
        return Response(EmailSettingsSerializer(row).data)


class TemplateCopySerializer(serializers.ModelSerializer):
    class Meta:
        model = TemplateCopy
        fields = ["kind", "subject", "preheader", "heading", "body", "cta_label"]
        read_only_fields = ["kind"]


class TemplateCopyListApi(StoreApi):
    @extend_schema(responses=TemplateCopySerializer(many=True))
    def get(self, request):
        rows = {r.kind: r for r in TemplateCopy.objects.for_store(self.store)}
        data = [
            TemplateCopySerializer(rows.get(k) or TemplateCopy(store=self.store, kind=k)).data
            for k in KINDS
        ]
        return Response(data)


class TemplateCopyApi(StoreApi):
    def _kind(self, kind: str) -> str:
        if kind not in KINDS:
            raise NotFound("No such email kind.", extra={"kind": kind})
        return kind

    @extend_schema(responses=TemplateCopySerializer)
    def get(self, request, kind: str):
        kind = self._kind(kind)
        row = TemplateCopy.objects.for_store(self.store).filter(kind=kind).first()
        return Response(TemplateCopySerializer(row or TemplateCopy(store=self.store, kind=kind)).data)

    @extend_schema(request=TemplateCopySerializer, responses=TemplateCopySerializer)
    def put(self, request, kind: str):
        kind = self._kind(kind)
        data = self.body(TemplateCopySerializer, partial=True)
        row = email_services.template_copy_set(store=self.store, kind=kind, **data)
        return Response(TemplateCopySerializer(row).data)


class TestimonialSerializer(serializers.ModelSerializer):
    needs_review = serializers.SerializerMethodField(
        help_text="not refreshed in the review period (90 days)"
    )

    class Meta:
        model = Testimonial
        fields = ["id", "author", "body", "rating", "position", "active", "updated_at", "needs_review"]
        read_only_fields = ["id", "updated_at", "needs_review"]
        extra_kwargs = {"rating": {"min_value": 1, "max_value": 5}}

    def get_needs_review(self, obj) -> bool:
        cutoff = self.context.get("review_cutoff")
        return bool(cutoff and obj.updated_at and obj.updated_at < cutoff)


class _TestimonialBase(StoreGenericApi):
    serializer_class = TestimonialSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Testimonial.objects.none()
        return Testimonial.objects.for_store(self.store).order_by("position", "pk")

    def get_serializer_context(self):
        ctx = super().get_serializer_context()
        if self.request is not None and self.request.auth is not None:
            ctx["review_cutoff"] = reports.stale_cutoff(store=self.request.auth)
        return ctx


class TestimonialListApi(_TestimonialBase, generics.ListCreateAPIView):
    filterset_fields = ["active"]

    def perform_create(self, serializer):
        now = timezone.now()
        serializer.save(store=self.store, created_at=now, updated_at=now)


class TestimonialDetailApi(_TestimonialBase, generics.RetrieveUpdateDestroyAPIView):
    def perform_update(self, serializer):
        serializer.save(updated_at=timezone.now())


class QuarterlyReviewApi(StoreApi):
    """Offers and testimonials not refreshed in the review period (default 90 days)."""

    @extend_schema(
        responses=inline_serializer(
            "QuarterlyReview",
            {
                "review_after_days": serializers.IntegerField(),
                "cutoff": serializers.DateTimeField(),
                "items": inline_serializer(
                    "ReviewItem",
                    {
                        "type": serializers.CharField(),
                        "id": serializers.IntegerField(),
                        "title": serializers.CharField(),
                        "updated_at": serializers.DateTimeField(),
                    },
                    many=True,
                ),
            },
        )
    )
    def get(self, request):
        return Response(reports.quarterly_review(store=self.store), status=status.HTTP_200_OK)
