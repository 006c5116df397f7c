"""Parsing of the console's query strings and small action forms (no business rules here:
the services decide what is allowed, these only turn text into typed values)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from omniservice.org.models import Team
from tickets.models import Channel, Priority, TicketStatus
from tickets.selectors import INBOX_VIEWS, InboxFilters

OPEN_ANY = ""
ANY_STATUS = "any"
TAG_SEPARATORS = re.compile("[,\uff0c\u3001]")  # also the Chinese comma and enumeration comma
MAX_QUERY_CHARS = 200


def status_filter_choices() -> list[tuple[str, Any]]:
    return [
        (OPEN_ANY, _("Open (any)")),
        (ANY_STATUS, _("Any status")),
        *TicketStatus.choices,
    ]


class InboxFilterForm(forms.Form):
    """The inbox query string; an unknown value falls back to its default, never a 500."""

    view = forms.ChoiceField(choices=[(v, v) for v in INBOX_VIEWS], required=False)
    status = forms.ChoiceField(choices=status_filter_choices, required=False)
    channel = forms.ChoiceField(
        choices=[("", pgettext_lazy("channel filter", "Any")), *Channel.choices], required=False
    )
    priority = forms.ChoiceField(
        choices=[("", pgettext_lazy("priority filter", "Any")), *Priority.choices], required=False
    )
    tag = forms.CharField(max_length=50, required=False)
    store = forms.CharField(max_length=32, required=False)
    q = forms.CharField(max_length=MAX_QUERY_CHARS, required=False)

    def filters(self) -> InboxFilters:
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        values = {name: data.get(name) or "" for name in self.fields}
        values["view"] = values["view"] or "mine"
        return InboxFilters(**values)


class MessageForm(forms.Form):
    MODES = [("reply", _("Reply")), ("note", _("Internal note"))]

    mode = forms.ChoiceField(choices=MODES, required=False)
    channel = forms.ChoiceField(choices=[("", ""), *Channel.choices], required=False)
    text = forms.CharField(required=False, strip=True)


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=TicketStatus.choices)


class PropertiesForm(forms.Form):
    """Priority and/or tags: a field left out of the POST is left unchanged."""

    priority = forms.ChoiceField(choices=Priority.choices, required=False)
    tags = forms.CharField(max_length=1000, required=False)

    def changes(self, posted: Any) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if "priority" in posted and self.cleaned_data["priority"]:
            changes["priority"] = self.cleaned_data["priority"]
        if "tags" in posted:
            changes["tags"] = [t.strip() for t in TAG_SEPARATORS.split(self.cleaned_data["tags"])]
        return changes


class AssignForm(forms.Form):
    """Assignee and/or team: empty means none, a field left out is left unchanged."""

    assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True), required=False
    )
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False)

    def changes(self, posted: Any) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in ("assignee", "team") if name in posted}
