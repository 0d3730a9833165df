"""The catalogue and customers as the admin's pickers see them (bundle builder, preview customer),
and the merchant's recommendation rules: durable / consumable product types and per-product
overrides (pin a product first with another, or exclude it)."""

from __future__ import annotations

import django_filters
from django.db.models import Count, Exists, F, Max, OuterRef, Q
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from xsell_plugin.catalog.models import Product, Variant
from xsell_plugin.customers.models import ConsentState, Customer
from xsell_plugin.dashboard.apis import StoreGenericApi, StrictSerializer
from xsell_plugin.dashboard.sequence_apis import InlineChoiceField
from xsell_plugin.recommendations import services
from xsell_plugin.recommendations.models import ProductOverride, ProductTypeRule

# A variant that can be bought now (``catalog.Variant.available``, as a query).
AVAILABLE = ~Q(stock_status=Variant.StockStatus.OUT_OF_STOCK) & (
    Q(inventory_quantity__isnull=True) | Q(inventory_quantity__gt=0)
    | Q(stock_status=Variant.StockStatus.BACKORDER))


# Products ---------------------------------------------------------------------------------------


class ProductFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", label="title, SKU, vendor or external id")
    in_stock = django_filters.BooleanFilter(method="filter_in_stock",
                                            label="active with a variant that can be bought")
    product_type = django_filters.CharFilter(field_name="product_type", lookup_expr="iexact")
    status = django_filters.ChoiceFilter(choices=Product.Status.choices,
                                         label="default: every status but deleted")

    class Meta:
        model = Product
        fields = ["search", "in_stock", "product_type", "status"]

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        skus = Variant.objects.filter(product=OuterRef("pk"), sku__icontains=value)
        return queryset.filter(Q(title__icontains=value) | Q(vendor__icontains=value)
                               | Q(external_id=value) | Exists(skus))

    def filter_in_stock(self, queryset, name, value):
        if value is None:
            return queryset
        buyable = Q(status=Product.Status.ACTIVE) & Exists(
            Variant.objects.filter(AVAILABLE, product=OuterRef("pk")))
        return queryset.filter(buyable if value else ~buyable)

    def filter_queryset(self, queryset):
        if not self.form.cleaned_data.get("status"):
            queryset = queryset.exclude(status=Product.Status.DELETED)
        return super().filter_queryset(queryset)


class ProductSerializer(serializers.ModelSerializer):
    price = serializers.SerializerMethodField()
    compare_at_price = serializers.SerializerMethodField()
    cost = serializers.SerializerMethodField()
    inventory = serializers.SerializerMethodField()
    in_stock = serializers.SerializerMethodField()
    variant_count = serializers.SerializerMethodField()
    status = InlineChoiceField(choices=Product.Status.choices, read_only=True)

    class Meta:
        model = Product
        fields = ["id", "external_id", "title", "product_type", "vendor", "status", "image_url", "url",
                  "price", "compare_at_price", "cost", "inventory", "in_stock", "variant_count"]
        read_only_fields = fields

    def _variant(self, obj) -> Variant | None:
        """The one the offers price by: the cheapest that can be bought (else the cheapest)."""
        variants = list(obj.variants.all())
        if not variants:
            return None
        available = [v for v in variants if v.available]
        return min(available or variants, key=lambda v: (v.price, v.position, v.pk))

    @extend_schema_field(serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True))
    def get_price(self, obj) -> str | None:
        v = self._variant(obj)
        return None if v is None else str(v.price)

    @extend_schema_field(serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True))
    def get_compare_at_price(self, obj) -> str | None:
        v = self._variant(obj)
        return None if v is None or v.compare_at_price is None else str(v.compare_at_price)

    @extend_schema_field(serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True))
    def get_cost(self, obj) -> str | None:
        v = self._variant(obj)
        return None if v is None or v.cost is None else str(v.cost)

    @extend_schema_field(serializers.IntegerField(allow_null=True,
                                                  help_text="summed over variants; null: untracked"))
    def get_inventory(self, obj) -> int | None:
        counts = [v.inventory_quantity for v in obj.variants.all() if v.inventory_quantity is not None]
        return sum(max(c, 0) for c in counts) if counts else None

    def get_in_stock(self, obj) -> bool:
        return obj.status == Product.Status.ACTIVE and any(v.available for v in obj.variants.all())

    def get_variant_count(self, obj) -> int:
        return len(obj.variants.all())


class ProductListApi(StoreGenericApi, generics.ListAPIView):
    """The store's products (paginated), for pickers: ``search``, ``in_stock``, ``product_type``,
    ``status``. ``price``/``cost`` are those of the variant offers are priced by."""

    serializer_class = ProductSerializer
    filterset_class = ProductFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Product.objects.none()
        return (Product.objects.for_store(self.store).prefetch_related("variants")
                .order_by("title", "pk"))


# Customers --------------------------------------------------------------------------------------


class CustomerFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", label="email, name or external id")
    consent_state = django_filters.ChoiceFilter(choices=ConsentState.choices)

    class Meta:
        model = Customer
        fields = ["search", "consent_state"]

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        q = Q(email__icontains=value) | Q(external_id=value)
        for word in value.split()[:3]:
            q |= Q(first_name__icontains=word) | Q(last_name__icontains=word)
        return queryset.filter(q)


class CustomerSerializer(serializers.ModelSerializer):
    orders_count = serializers.IntegerField(read_only=True)
    last_order_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = Customer
        fields = ["id", "external_id", "email", "first_name", "last_name", "consent_state",
                  "orders_count", "last_order_at"]
        read_only_fields = fields


class CustomerListApi(StoreGenericApi, generics.ListAPIView):
    """The store's customers (paginated), latest buyers first: ``search``, ``consent_state``."""

    serializer_class = CustomerSerializer
    filterset_class = CustomerFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Customer.objects.none()
        orders = Q(orders__cancelled_at__isnull=True)
        return (Customer.objects.for_store(self.store)
                .annotate(orders_count=Count("orders", filter=orders),
                          last_order_at=Max("orders__placed_at", filter=orders))
                .order_by(F("last_order_at").desc(nulls_last=True), "-pk"))


# Recommendation rules ---------------------------------------------------------------------------


class ProductTypeRuleSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    product_type = serializers.CharField(max_length=255)
    durable = serializers.BooleanField(
        allow_null=True, help_text="true: bought once (never another of the type to an owner); "
                                   "false: consumable; null: our heuristic decides")
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class _RuleBase(StoreGenericApi):
    serializer_class = ProductTypeRuleSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ProductTypeRule.objects.none()
        return ProductTypeRule.objects.for_store(self.store).order_by("product_type", "pk")


class ProductTypeRuleListApi(_RuleBase, generics.ListAPIView):
    filterset_fields = ["durable"]

    @extend_schema(request=ProductTypeRuleSerializer, responses={201: ProductTypeRuleSerializer})
    def post(self, request):
        data = self.body(ProductTypeRuleSerializer)
        rule = services.product_type_rule_create(store=self.store, **data)
        return Response(ProductTypeRuleSerializer(rule).data, status=status.HTTP_201_CREATED)


class ProductTypeRuleDetailApi(_RuleBase, generics.RetrieveAPIView):
    @extend_schema(request=ProductTypeRuleSerializer, responses=ProductTypeRuleSerializer)
    def patch(self, request, pk: int):
        rule = self.get_object()
        data = self.body(ProductTypeRuleSerializer, partial=True)
        rule = services.product_type_rule_update(store=self.store, rule_id=rule.pk, **data)
        return Response(ProductTypeRuleSerializer(rule).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        rule = self.get_object()
        services.product_type_rule_delete(store=self.store, rule_id=rule.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProductOverrideSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    product_id = serializers.IntegerField(min_value=1, max_value=2**62,
                                          help_text="the product the email is about")
    recommended_product_id = serializers.IntegerField(min_value=1, max_value=2**62)
    action = serializers.ChoiceField(choices=ProductOverride.Action.choices,
                                     help_text="pin: shown first when it can be bought; "
                                               "exclude: never shown")
    product_title = serializers.CharField(source="product.title", read_only=True)
    recommended_product_title = serializers.CharField(source="recommended_product.title",
                                                      read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class _OverrideBase(StoreGenericApi):
    serializer_class = ProductOverrideSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ProductOverride.objects.none()
        return (ProductOverride.objects.for_store(self.store)
                .select_related("product", "recommended_product").order_by("product_id", "pk"))


class ProductOverrideListApi(_OverrideBase, generics.ListAPIView):
    filterset_fields = ["product_id", "recommended_product_id", "action"]

    @extend_schema(request=ProductOverrideSerializer,
                   responses={201: ProductOverrideSerializer, 200: ProductOverrideSerializer},
                   description="One override per pair: posting a pair again changes its action "
                               "(200); a new pair answers 201.")
    def post(self, request):
        data = self.body(ProductOverrideSerializer)
        row, created = services.product_override_set(store=self.store, **data)
        return Response(ProductOverrideSerializer(self.get_queryset().get(pk=row.pk)).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ProductOverrideDetailApi(_OverrideBase, generics.RetrieveAPIView):
    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        row = self.get_object()
        services.product_override_delete(store=self.store, override_id=row.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)
