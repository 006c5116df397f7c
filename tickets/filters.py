"""The allow-list of filters of the partner ticket list (the ordering is fixed by the cursor)."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _

from tickets.models import Channel, Priority, Ticket, TicketStatus


class TicketFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=TicketStatus.choices, label=_("status (repeat for several)")
    )
    priority = django_filters.ChoiceFilter(choices=Priority.choices, label=_("priority"))
    channel = django_filters.ChoiceFilter(
        field_name="last_channel",
        choices=Channel.choices,
        label=_("the channel the customer used last"),
    )
    team = django_filters.CharFilter(field_name="team__slug", label=_("team slug"))
    store = django_filters.CharFilter(field_name="store__code", label=_("store code"))
    customer = django_filters.CharFilter(
        field_name="customer__public_id", label=_("customer public id")
    )
    assignee = django_filters.CharFilter(
        field_name="assignee__username", label=_("assignee username")
    )
    updated_since = django_filters.IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", label=_("updated at or after (ISO 8601)")
    )

    class Meta:
        model = Ticket
        fields: list[str] = []
