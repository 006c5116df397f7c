from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, CustomerStatus, ValueTier


class CustomerFilter(django_filters.FilterSet):
    updated_since = django_filters.IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", label=_("updated at or after (ISO 8601)")
    )
    updated_before = django_filters.IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="lt", label=_("updated before (ISO 8601)")
    )
    tier = django_filters.MultipleChoiceFilter(choices=ValueTier.choices, label=_("value tier"))
    tag = django_filters.CharFilter(field_name="tags__name", label=_("tag"))
    store = django_filters.CharFilter(field_name="home_store__code", label=_("home store code"))
    status = django_filters.ChoiceFilter(
        choices=[*CustomerStatus.choices, ("all", _("All"))],
        method="filter_status",
        label=_("status (default: active)"),
    )

    class Meta:
        model = Customer
        fields: list[str] = []

    def filter_queryset(self, queryset: QuerySet[Customer]) -> QuerySet[Customer]:
        if not self.form.cleaned_data.get("status"):
            queryset = queryset.filter(status=CustomerStatus.ACTIVE)
        return super().filter_queryset(queryset)

    def filter_status(self, queryset: QuerySet[Customer], name: str, value: str):
        return queryset if value == "all" else queryset.filter(status=value)
