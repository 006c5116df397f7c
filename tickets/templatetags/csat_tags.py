"""``{% csat_panel ticket %}``: the satisfaction surveys of a ticket on its console page."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from tickets.models import Ticket
from tickets.surveys import services as surveys

register = template.Library()

PANEL_SURVEYS = 5


@register.inclusion_tag("tickets/_csat_panel.html")
def csat_panel(ticket: Ticket) -> dict[str, Any]:
    rows = list(surveys.surveys_of_ticket(ticket)[:PANEL_SURVEYS])
    return {"surveys": rows, "now": timezone.now()}
