"""``{% routing_panel ticket %}``: the routing decisions of a ticket, its place in the
queue and the transfer form, on the console's ticket page."""

from __future__ import annotations

from typing import Any

from django import template

from omniservice.org.models import Team
from tickets.models import Ticket
from tickets.routing.selectors import routing_panel as panel_of
from tickets.routing.selectors import transfer_targets

register = template.Library()


def _teams(context: dict[str, Any]) -> list[Team]:
    controls = context.get("controls")  # the ticket page already lists the teams
    if controls is not None:
        return list(controls.teams)
    return list(Team.objects.order_by("name")[:300])


@register.inclusion_tag("tickets/_routing_panel.html", takes_context=True)
def routing_panel(context: dict[str, Any], ticket: Ticket) -> dict[str, Any]:
    return {
        "ticket": ticket,
        "routing": panel_of(ticket),
        "transfer_agents": transfer_targets(),
        "transfer_teams": _teams(context),
        "csrf_token": context.get("csrf_token"),
        "user": context.get("user"),
    }
