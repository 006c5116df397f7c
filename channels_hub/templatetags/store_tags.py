"""Store parts of the console: ``{% handover_form ticket %}`` on the ticket page."""

from __future__ import annotations

from typing import Any

from django import template

from omniservice.org.models import Store
from tickets.models import Ticket

register = template.Library()


@register.inclusion_tag("channels_hub/store/_handover_form.html", takes_context=True)
def handover_form(context: dict[str, Any], ticket: Ticket) -> dict[str, Any]:
    stores = Store.objects.filter(is_active=True).order_by("code")
    return {"ticket": ticket, "stores": stores, "csrf_token": context.get("csrf_token")}
