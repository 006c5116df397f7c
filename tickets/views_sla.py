"""Console pages of the SLA: the ticket panel fragment and the managers' policy list."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from tickets.selectors import ticket_for
from tickets.sla.display import policy_overview, ticket_panel
from tickets.views import console_view
from tickets.visibility import sees_everything


@require_GET
@console_view
def sla_panel(request: HttpRequest, number: int) -> HttpResponse:
    """The ticket page's SLA panel alone, refetched by sla.js after a live update."""
    ticket = ticket_for(request.user, number)
    if ticket is None:
        raise Http404
    return render(
        request,
        "tickets/_sla_panel.html",
        {
            "ticket": ticket,
            "sla": ticket_panel(ticket),
            "fragment_url": reverse("console:sla-panel", args=[ticket.pk]),
        },
    )


@require_GET
@console_view
def policies(request: HttpRequest) -> HttpResponse:
    """Managers see the policies in the order they are tried, calendars and holidays."""
    if not sees_everything(request.user):
        raise PermissionDenied
    return render(
        request,
        "tickets/sla/policies.html",
        {
            "overview": policy_overview(),
            "can_edit": request.user.has_perm("tickets.change_slapolicy"),
        },
    )
