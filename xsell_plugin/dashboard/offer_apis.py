"""Offers the merchant sets: bundles (with a live quote) and incentives (with a margin preview).

Bundles are refused when an item cannot be bought or the discount breaks the store's margin floor
(``offers.rules``); ``POST /bundles/quote`` prices a bundle without saving it, so the builder can
show the total, the saving and those checks as the merchant edits.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Count
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from xsell_plugin.catalog.models import Product
from xsell_plugin.core.exceptions import NotFound
from xsell_plugin.dashboard.apis import StoreApi, StoreGenericApi, StrictSerializer
from xsell_plugin.dashboard.sequence_apis import InlineChoiceField
from xsell_plugin.offers import rules, selectors, services
from xsell_plugin.offers.models import Bundle, BundleItem, Incentive, OfferStatus

MONEY = {"max_digits": 12, "decimal_places": 2}
RATIO = {"max_digits": 12, "decimal_places": 4}
PERCENT = {"max_digits": 5, "decimal_places": 2, "min_value": Decimal("0.01"), "max_value": Decimal("100")}
AMOUNT = {"max_digits": 12, "decimal_places": 2, "min_value": Decimal("0.01")}
SETTABLE_STATUS = [OfferStatus.ACTIVE, OfferStatus.PAUSED]


def _unknown_products(store, ids: list[int]) -> str:
    """A message naming the ids that are not this store's products ("" when all are)."""
    found = set(Product.objects.for_store(store).filter(pk__in=ids).values_list("pk", flat=True))
    missing = sorted(set(ids) - found)
    return f"Unknown product for this store: {', '.join(map(str, missing))}." if missing else ""


def _store_products(store, ids: list[int], field: str) -> None:
    message = _unknown_products(store, ids)
    if message:
        raise serializers.ValidationError({field: [message]})


# Bundles ----------------------------------------------------------------------------------------


class BundleInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=255)
    kind = InlineChoiceField(choices=Bundle.Kind.choices, default=Bundle.Kind.FIXED)
    percent_off = serializers.DecimalField(**PERCENT, allow_null=True, required=False)
    amount_off = serializers.DecimalField(**AMOUNT, allow_null=True, required=False)
    min_addons = serializers.IntegerField(
        min_value=1, max_value=selectors.MAX_ADDONS, default=1,
        help_text="adjustable: add-ons to choose for the discount")
    status = InlineChoiceField(choices=SETTABLE_STATUS, default=OfferStatus.ACTIVE)
    core_product_id = serializers.IntegerField(min_value=1, max_value=2**62)
    addon_product_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**62), min_length=1,
        max_length=selectors.MAX_ADDONS)

    def validate(self, attrs):
        store = self.context["store"]
        if "core_product_id" in attrs:
            _store_products(store, [attrs["core_product_id"]], "core_product_id")
        if "addon_product_ids" in attrs:
            _store_products(store, attrs["addon_product_ids"], "addon_product_ids")
        if attrs.get("percent_off") is not None and attrs.get("amount_off") is not None:
            raise serializers.ValidationError(
                {"amount_off": ["A discount is a percentage or an amount, not both."]})
        return attrs


class QuoteLineSerializer(serializers.Serializer):
    product_id = serializers.IntegerField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(**MONEY)
    line_total = serializers.DecimalField(**MONEY, help_text="before the bundle discount")
    discounted_line_total = serializers.DecimalField(**MONEY, help_text="its share of the bundle price")
    saving = serializers.DecimalField(**MONEY)


class BundleQuoteSerializer(serializers.Serializer):
    """The full set (core + every add-on) at today's prices."""

    currency = serializers.CharField()
    total = serializers.DecimalField(**MONEY, help_text="the items bought separately")
    discounted_total = serializers.DecimalField(**MONEY, help_text="the bundle price")
    saving = serializers.DecimalField(**MONEY)
    saving_percent = serializers.DecimalField(max_digits=5, decimal_places=1)
    cost_total = serializers.DecimalField(**MONEY, allow_null=True)
    margin = serializers.DecimalField(**RATIO, allow_null=True, help_text="after the discount, 0.25 = 25 %")
    worst_margin = serializers.DecimalField(
        **RATIO, allow_null=True, help_text="lowest over every discounted choice of add-ons")
    margin_floor = serializers.DecimalField(max_digits=4, decimal_places=3)
    margin_ok = serializers.BooleanField(help_text="every discounted choice keeps the floor")
    in_stock = serializers.BooleanField()
    out_of_stock_product_ids = serializers.ListField(child=serializers.IntegerField())
    missing_cost_product_ids = serializers.ListField(child=serializers.IntegerField())
    lines = QuoteLineSerializer(many=True)


def quote_data(store, check: selectors.BundleCheck) -> dict[str, Any]:
    quote = check.quote
    zero = Decimal("0.00")
    return {
        "currency": store.currency,
        "total": quote.regular_total if quote else zero,
        "discounted_total": quote.total if quote else zero,
        "saving": quote.saving if quote else zero,
        "saving_percent": quote.saving_percent if quote else Decimal("0"),
        "cost_total": check.cost_total,
        "margin": check.margin,
        "worst_margin": check.worst_margin,
        "margin_floor": check.floor,
        "margin_ok": check.margin_ok,
        "in_stock": check.in_stock,
        "out_of_stock_product_ids": list(check.out_of_stock),
        "missing_cost_product_ids": list(check.missing_cost),
        "lines": [{"product_id": line.key, "quantity": line.quantity, "unit_price": line.unit_price,
                   "line_total": line.line_regular, "discounted_line_total": line.line_price,
                   "saving": line.saving} for line in (quote.lines if quote else ())],
    }


class BundleItemSerializer(serializers.Serializer):
    product_id = serializers.IntegerField()
    role = serializers.ChoiceField(choices=BundleItem.Role.choices)
    quantity = serializers.IntegerField()
    title = serializers.CharField()
    external_id = serializers.CharField()
    image_url = serializers.CharField(allow_blank=True)
    price = serializers.DecimalField(**MONEY, allow_null=True, help_text="today's unit price")
    in_stock = serializers.BooleanField()


class BundleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = InlineChoiceField(choices=Bundle.Kind.choices)
    percent_off = serializers.DecimalField(max_digits=5, decimal_places=2, allow_null=True)
    amount_off = serializers.DecimalField(**MONEY, allow_null=True)
    min_addons = serializers.IntegerField()
    status = InlineChoiceField(choices=OfferStatus.choices)
    core_product_id = serializers.IntegerField(allow_null=True)
    addon_product_ids = serializers.ListField(child=serializers.IntegerField())
    items = BundleItemSerializer(many=True)
    quote = BundleQuoteSerializer()
    sends = serializers.IntegerField()
    conversions = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def bundle_data(store, bundle: Bundle) -> dict[str, Any]:
    check = selectors.bundle_check_for(store=store, bundle=bundle)
    items = list(BundleItem.objects.for_store(store).filter(bundle=bundle)
                 .select_related("product").order_by("position", "pk"))
    prices = {line.key: line.unit_price for line in (check.quote.lines if check.quote else ())}
    return {
        "id": bundle.pk, "name": bundle.name, "kind": bundle.kind, "percent_off": bundle.percent_off,
        "amount_off": bundle.amount_off, "min_addons": bundle.min_addons, "status": bundle.status,
        "core_product_id": next((i.product_id for i in items if i.role == BundleItem.Role.CORE), None),
        "addon_product_ids": [i.product_id for i in items if i.role == BundleItem.Role.ADDON],
        "items": [{"product_id": i.product_id, "role": i.role, "quantity": i.quantity,
                   "title": i.product.title, "external_id": i.product.external_id,
                   "image_url": i.product.image_url, "price": prices.get(i.product_id),
                   "in_stock": i.product_id not in check.out_of_stock} for i in items],
        "quote": quote_data(store, check),
        "sends": bundle.sends, "conversions": bundle.conversions,
        "created_at": bundle.created_at, "updated_at": bundle.updated_at,
    }


class _BundleBase(StoreGenericApi):
    serializer_class = BundleSerializer
    filterset_fields = ["status", "kind"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Bundle.objects.none()
        return Bundle.objects.for_store(self.store).order_by("name", "pk")

    def body_for_store(self, *, partial: bool = False) -> dict[str, Any]:
        serializer = BundleInputSerializer(data=self.request.data, partial=partial,
                                           context={"store": self.store})
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


class BundleListApi(_BundleBase, generics.ListAPIView):
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(
            BundleSerializer([bundle_data(self.store, b) for b in page], many=True).data)

    @extend_schema(request=BundleInputSerializer, responses={201: BundleSerializer})
    def post(self, request):
        data = self.body_for_store()
        bundle = services.bundle_create(store=self.store, **data)
        return Response(BundleSerializer(bundle_data(self.store, bundle)).data,
                        status=status.HTTP_201_CREATED)


class BundleDetailApi(_BundleBase):
    @extend_schema(responses=BundleSerializer)
    def get(self, request, pk: int):
        return Response(BundleSerializer(bundle_data(self.store, self.get_object())).data)

    @extend_schema(request=BundleInputSerializer, responses=BundleSerializer)
    def patch(self, request, pk: int):
        bundle = self.get_object()
        data = self.body_for_store(partial=True)
        bundle = services.bundle_update(store=self.store, bundle_id=bundle.pk, **data)
        return Response(BundleSerializer(bundle_data(self.store, bundle)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        bundle = self.get_object()
        services.bundle_delete(store=self.store, bundle_id=bundle.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BundleQuoteApi(StoreApi):
    """The quote of a bundle as the builder has it (the create input), nothing saved. Stock and
    the margin floor come back as flags (``in_stock``, ``margin_ok``) rather than errors."""

    @extend_schema(request=BundleInputSerializer, responses=BundleQuoteSerializer)
    def post(self, request):
        serializer = BundleInputSerializer(data=self.request.data, context={"store": self.store})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if len({data["core_product_id"], *data["addon_product_ids"]}) != 1 + len(data["addon_product_ids"]):
            raise services.field_error("addon_product_ids", "Each add-on once, not the core product.")
        check = selectors.bundle_check(
            store=self.store, kind=data["kind"], core_product_id=data["core_product_id"],
            addon_product_ids=data["addon_product_ids"], percent_off=data.get("percent_off"),
            amount_off=data.get("amount_off"), min_addons=data["min_addons"])
        return Response(BundleQuoteSerializer(quote_data(self.store, check)).data)


# Incentives -------------------------------------------------------------------------------------


class IncentiveSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=255)
    kind = InlineChoiceField(choices=Incentive.Kind.choices)
    percent_off = serializers.DecimalField(**PERCENT, allow_null=True, required=False,
                                           help_text="percent_off: required")
    amount_off = serializers.DecimalField(**AMOUNT, allow_null=True, required=False,
                                          help_text="amount_off, loyalty_credit: required")
    addon_product_id = serializers.IntegerField(min_value=1, max_value=2**62, allow_null=True,
                                                required=False, help_text="free_addon: required")
    addon_product_title = serializers.CharField(source="addon_product.title", read_only=True,
                                                default="")
    level = serializers.IntegerField(min_value=0, max_value=10, default=0,
                                     help_text="0: the first email may carry it; n: from step n+1 "
                                               "without a purchase")
    segments = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(services.INCENTIVE_SEGMENTS)), default=list,
        help_text="empty or [\"any\"]: every segment")
    starts_at = serializers.DateTimeField(allow_null=True, required=False)
    ends_at = serializers.DateTimeField(allow_null=True, required=False)
    code_valid_hours = serializers.IntegerField(min_value=1, max_value=24 * 90, default=72)
    code_prefix = serializers.RegexField(r"^[A-Za-z0-9]{1,12}$", max_length=12, default="XS")
    per_customer_cap = serializers.IntegerField(min_value=1, max_value=10**6, allow_null=True,
                                                required=False)
    per_store_daily_cap = serializers.IntegerField(min_value=1, max_value=10**7, allow_null=True,
                                                   required=False)
    status = InlineChoiceField(choices=OfferStatus.choices, default=OfferStatus.ACTIVE,
                                     help_text="set active or paused; flagged comes from pruning")
    issuable = serializers.SerializerMethodField(help_text="can be issued as a platform code")
    codes_issued = serializers.IntegerField(read_only=True)
    sends = serializers.IntegerField(read_only=True)
    conversions = serializers.IntegerField(read_only=True)
    flagged_at = serializers.DateTimeField(read_only=True)
    paused_at = serializers.DateTimeField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_issuable(self, obj) -> bool:
        return obj.kind != rules.IncentiveKind.FREE_ADDON or obj.addon_product_id is not None

    def validate_status(self, value):
        if value == OfferStatus.FLAGGED:
            raise serializers.ValidationError("Set active or paused.")
        return value

    def validate_addon_product_id(self, value):
        message = _unknown_products(self.context["store"], [value]) if value is not None else ""
        if message:
            raise serializers.ValidationError(message)
        return value


class _IncentiveBase(StoreGenericApi):
    serializer_class = IncentiveSerializer
    filterset_fields = ["status", "kind"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Incentive.objects.none()
        return (Incentive.objects.for_store(self.store).select_related("addon_product")
                .annotate(codes_issued=Count("codes")).order_by("level", "name", "pk"))

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "store": self.request.auth}

    def body_for_store(self, *, partial: bool = False) -> dict[str, Any]:
        serializer = IncentiveSerializer(data=self.request.data, partial=partial,
                                         context={"store": self.store})
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def out(self, pk: int) -> dict[str, Any]:
        return IncentiveSerializer(self.get_queryset().get(pk=pk)).data


class IncentiveListApi(_IncentiveBase, generics.ListAPIView):
    @extend_schema(request=IncentiveSerializer, responses={201: IncentiveSerializer})
    def post(self, request):
        data = self.body_for_store()
        incentive = services.incentive_create(store=self.store, **data)
        return Response(self.out(incentive.pk), status=status.HTTP_201_CREATED)


class IncentiveDetailApi(_IncentiveBase, generics.RetrieveAPIView):
    @extend_schema(request=IncentiveSerializer, responses=IncentiveSerializer)
    def patch(self, request, pk: int):
        incentive = self.get_object()
        data = self.body_for_store(partial=True)
        services.incentive_update(store=self.store, incentive_id=incentive.pk, **data)
        return Response(self.out(incentive.pk))

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        incentive = self.get_object()
        services.incentive_delete(store=self.store, incentive_id=incentive.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MarginRowSerializer(serializers.Serializer):
    product_id = serializers.IntegerField()
    external_id = serializers.CharField()
    title = serializers.CharField(allow_blank=True)
    price = serializers.DecimalField(**MONEY)
    cost = serializers.DecimalField(**MONEY, allow_null=True)
    discounted_price = serializers.DecimalField(**MONEY)
    margin_before = serializers.DecimalField(**RATIO, allow_null=True)
    margin_after = serializers.DecimalField(**RATIO, allow_null=True)
    breaks_floor = serializers.BooleanField()
    reason = serializers.ChoiceField(choices=["", "below_floor", "no_cost", "free_item"])
    max_percent_off = serializers.DecimalField(max_digits=5, decimal_places=2)
    max_amount_off = serializers.DecimalField(**MONEY)

class IncentivePreviewSerializer(serializers.Serializer):
    kind = serializers.CharField()
    currency = serializers.CharField()
    margin_floor = serializers.DecimalField(max_digits=4, decimal_places=3)
    count = serializers.IntegerField()
    breaking = serializers.IntegerField(help_text="products whose margin would break the floor")
    note = serializers.CharField(allow_blank=True)
    products = MarginRowSerializer(many=True)


class IncentivePreviewApi(StoreApi):
    """Margins before and after a proposed incentive, product by product, against the store's
    floor: the same rules its codes are issued under."""

    class IncentivePreviewInput(StrictSerializer):
        incentive_id = serializers.IntegerField(
            required=False, min_value=1, max_value=2**62,
            help_text="preview a saved incentive's terms (the fields below then override them)")
        kind = InlineChoiceField(choices=Incentive.Kind.choices, required=False)
        percent_off = serializers.DecimalField(**PERCENT, allow_null=True, required=False)
        amount_off = serializers.DecimalField(**AMOUNT, allow_null=True, required=False)
        addon_product_id = serializers.IntegerField(min_value=1, max_value=2**62, allow_null=True,
                                                    required=False)
        product_ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=2**62), required=False,
            max_length=100, help_text="default: a sample (best sellers that can be bought)")
        limit = serializers.IntegerField(min_value=1, max_value=100, default=selectors.PREVIEW_LIMIT)

    @extend_schema(request=IncentivePreviewInput, responses=IncentivePreviewSerializer)
    def post(self, request):
        data = self.body(self.IncentivePreviewInput)
        terms: dict[str, Any] = {}
        if data.get("incentive_id"):
            saved = Incentive.objects.for_store(self.store).filter(pk=data["incentive_id"]).first()
            if saved is None:
                raise NotFound("No such incentive.", extra={"incentive_id": data["incentive_id"]})
            terms = {"kind": saved.kind, "percent_off": saved.percent_off,
                     "amount_off": saved.amount_off, "addon_product_id": saved.addon_product_id}
        terms.update({k: data[k] for k in ("kind", "percent_off", "amount_off", "addon_product_id")
                      if k in data})
        kind = terms.get("kind")
        if kind is None:
            raise services.field_error("kind", "Give the incentive's kind (or a saved incentive_id).")
        needs = {rules.IncentiveKind.PERCENT_OFF: "percent_off", rules.IncentiveKind.AMOUNT_OFF: "amount_off",
                 rules.IncentiveKind.LOYALTY_CREDIT: "amount_off",
                 rules.IncentiveKind.FREE_ADDON: "addon_product_id"}.get(kind)
        if needs and terms.get(needs) is None:
            raise services.field_error(needs, f"A {kind} incentive needs its {needs}.")
        preview = selectors.incentive_margin_preview(
            store=self.store, kind=kind, percent_off=terms.get("percent_off"),
            amount_off=terms.get("amount_off"), addon_product_id=terms.get("addon_product_id"),
            product_ids=data.get("product_ids"), limit=data["limit"])
        return Response(IncentivePreviewSerializer({
            "kind": preview.kind, "currency": self.store.currency, "margin_floor": preview.floor,
            "count": len(preview.rows), "breaking": preview.breaking, "note": preview.note,
            "products": preview.rows}).data)
