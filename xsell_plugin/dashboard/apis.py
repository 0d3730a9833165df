from __future__ import annotations

from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from xsell_plugin.stores import selectors


class HasStore(BasePermission):
    def has_permission(self, request, view) -> bool:
        return request.auth is not None


class StoreApi(APIView):
    """Base of every admin API: authenticated as one store (``request.auth``), scoped to it."""

    permission_classes = [HasStore]


class StoreSummaryApi(StoreApi):
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        domain = serializers.CharField()
        platform = serializers.CharField()
        currency = serializers.CharField()
        timezone = serializers.CharField()
        counts = serializers.DictField(child=serializers.IntegerField())

    serializer_class = OutputSerializer

    def get(self, request):
        store = request.auth
        data = {
            "id": store.pk, "name": store.name, "domain": store.domain,
            "platform": store.platform, "currency": store.currency, "timezone": store.timezone,
            "counts": selectors.store_counts(store=store),
        }
        return Response(self.OutputSerializer(data).data)
