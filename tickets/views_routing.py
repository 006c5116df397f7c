"""Console views of routing: transfer a ticket to an agent and/or team with a note.

The decision log itself is rendered on the ticket page by the ``routing_panel`` tag
(``tickets.templatetags.routing_tags``); ``panel`` serves it again when the ticket changes
(``static/console/routing.js`` refetches it after the ticket's controls were refreshed)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from omniservice.errors import DomainError
from omniservice.org.models import Team
from tickets.routing.services import MAX_NOTE_CHARS, transfer_ticket
from tickets.views import _done, _form_error, _refused, _visible_ticket, console_view


class TransferForm(forms.Form):
    """An agent, a team or both; an empty agent with a team sends the ticket to that
    team's queue, an empty team keeps the ticket's team."""

    assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True, staff_profile__isnull=False),
        required=False,
        label=gettext_lazy("Agent"),
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.all(), required=False, label=gettext_lazy("Team")
    )
    note = forms.CharField(max_length=MAX_NOTE_CHARS, required=False, label=gettext_lazy("Note"))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("assignee") and not data.get("team"):
            raise forms.ValidationError(_("Choose an agent or a team to transfer to."))
        return data

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "assignee": data["assignee"] if data["assignee"] else None,
            "team": data["team"] if data["team"] else False,
            "note": data["note"],
        }


@require_POST
@console_view
def transfer(request: HttpRequest, number: int) -> HttpResponse:
    ticket = _visible_ticket(request, number)
    form = TransferForm(request.POST)
    if not form.is_valid():
        return _refused(request, ticket, _form_error(form))
    try:
        transfer_ticket(ticket=ticket, actor=request.user, **form.changes())
    except DomainError as exc:
        return _refused(request, ticket, exc)
    return _done(request, ticket, _("Ticket transferred."))


@require_GET
@console_view
def panel(request: HttpRequest, number: int) -> HttpResponse:
    ticket = _visible_ticket(request, number)
    return render(request, "tickets/_routing_panel_fragment.html", {"ticket": ticket})
