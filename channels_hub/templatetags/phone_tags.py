"""Hotline parts of the console: ``{% call_panel ticket %}`` (the ticket's calls, call
notes, open call-backs) and ``{% screen_pop_assets %}`` (the screen pop script)."""

from __future__ import annotations

from typing import Any

from django import template
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import format_html, json_script
from django.utils.translation import gettext as _

from channels_hub.phone_models import CallbackStatus, CallRecord
from tickets.console_queries import may_use_console
from tickets.models import Ticket

register = template.Library()
CALLS_SHOWN = 5


@register.inclusion_tag("channels_hub/phone/_call_panel.html", takes_context=True)
def call_panel(context: dict[str, Any], ticket: Ticket) -> dict[str, Any]:
    calls = list(
        CallRecord.objects.filter(ticket=ticket)
        .select_related("callback")  # one query for the calls and their call-back tasks
        .order_by("-started_at")[:CALLS_SHOWN]
    )
    callbacks = [
        call.callback
        for call in calls
        if hasattr(call, "callback") and call.callback.status == CallbackStatus.OPEN
    ]
    return {
        "ticket": ticket,
        "calls": calls,
        "callbacks": callbacks,
        "csrf_token": context.get("csrf_token"),
    }


@register.simple_tag
def screen_pop_assets() -> str:
    """The screen pop script and its translated strings (console pages only)."""
    config = {
        "popUrl": reverse("phone:call-pop", args=[0]).replace("/0/", "/{id}/"),
        "ticketUrl": reverse("console:ticket", args=[0]).replace("/0/", "/{id}/"),
        "strings": {
            "ringing": _("Incoming call"),
            "answered": _("Call answered"),
            "open": _("Open ticket #%(number)s"),
            "close": _("Close"),
        },
    }
    return json_script(config, "screen-pop-config") + format_html(
        '<script src="{}" defer></script>', static("phone/screen_pop.js")
    )


@register.inclusion_tag("channels_hub/phone/_nav.html", takes_context=True)
def phone_nav(context: dict[str, Any]) -> dict[str, Any]:
    """Links to the call-backs and the store tablet, for console users."""
    user = context.get("user")
    console = bool(user is not None and may_use_console(user))
    return {"console": console}
