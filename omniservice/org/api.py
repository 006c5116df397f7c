"""Partner API: the brand's stores (reference data for events and tickets)."""

from __future__ import annotations

import django_filters
from rest_framework import serializers

from omniservice.api.pagination import IdCursorPagination
from omniservice.api.views import ApiListView
from omniservice.org.models import Store


class StoreSerializer(serializers.ModelSerializer):
    class Meta:
        model = Store
        fields = [
            "code",
            "name",
            "name_en",
            "city",
            "address",
            "phone",
            "timezone",
            "opening_hours",
            "is_active",
            "updated_at",
        ]


class StoreFilter(django_filters.FilterSet):
    updated_since = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    city = django_filters.CharFilter(field_name="city")
    is_active = django_filters.BooleanFilter(field_name="is_active")

    class Meta:
        model = Store
        fields: list[str] = []


class StoreCursorPagination(IdCursorPagination):
    ordering = "code"


class StoreListView(ApiListView):
    """Every store; any valid API key or console user may read them."""

    serializer_class = StoreSerializer
    filterset_class = StoreFilter
    pagination_class = StoreCursorPagination
    queryset = Store.objects.all()
    scopes: dict[str, str] = {}
    any_authenticated_client = True
