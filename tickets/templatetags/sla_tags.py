"""SLA parts of the console: ``{% sla_panel ticket %}``, ``{% sla_badge ticket %}`` and
``{% sla_assets %}`` (stylesheet + countdown script with its translated strings)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.templatetags.static import static
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _

from tickets.models import Ticket
from tickets.sla.display import ticket_badge, ticket_panel

register = template.Library()


@register.inclusion_tag("tickets/_sla_panel.html")
def sla_panel(ticket: Ticket) -> dict[str, Any]:
    return {
        "ticket": ticket,
        "sla": ticket_panel(ticket),
        "fragment_url": reverse("console:sla-panel", args=[ticket.pk]),
    }


@register.inclusion_tag("tickets/_sla_badge.html")
def sla_badge(ticket: Ticket) -> dict[str, Any]:
    return {"badge": ticket_badge(ticket)}


@register.filter
def business_duration(value: timedelta | None) -> str:
    """3 h 20 min of business time, in the reader's language."""
    if value is None:
        return ""
    minutes = max(0, int(value.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    if hours:
        return _("%(hours)sh %(minutes)sm") % {"hours": hours, "minutes": minutes}
    return _("%(minutes)sm") % {"minutes": minutes}


@register.filter
def sla_when(value: datetime | None) -> str:
    """A due instant in the reader's time zone: "15:41" today, "12-07 09:30" otherwise."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    return formats.date_format(local, "H:i" if local.date() == timezone.localdate() else "m-d H:i")


@register.simple_tag
def sla_assets() -> str:
    strings = {
        "days": _("%(d)sd %(h)sh"),
        "hours": _("%(h)sh %(m)sm"),
        "overdue": _("overdue %(time)s"),
        "left": _("%(time)s left"),
    }
    return format_html(
        '<link rel="stylesheet" href="{}"><script src="{}" defer data-strings="{}"></script>',
        static("console/sla.css"),
        static("console/sla.js"),
        json.dumps(strings, ensure_ascii=False),
    )
