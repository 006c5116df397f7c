"""Template tags of automation: the managers' nav links and the ticket page's macro picker."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse
from django.utils.translation import gettext as _

from tickets import macros
from tickets.console_queries import may_use_console

register = template.Library()


@register.inclusion_tag("tickets/_automation_nav.html", takes_context=True)
def automation_nav(context: dict[str, Any]) -> dict[str, Any]:
    user = context.get("user")
    console = bool(user is not None and may_use_console(user))
    return {"console": console, "manager": console and macros.is_manager(user)}


@register.inclusion_tag("tickets/_automation_macro_picker.html", takes_context=True)
def macro_picker(context: dict[str, Any]) -> dict[str, Any]:
    """The picker's shell; its macros are fetched when it first opens (no query here)."""
    ticket = context["ticket"]
    return {
        "data": {
            "optionsUrl": reverse("console:macro-options", args=[ticket.pk]),
            "sendUrl": reverse("console:macro-reply", args=[ticket.pk]),
            "strings": {
                "failed": _("That did not work. Check your connection and try again."),
                "sent": _("Reply queued for delivery."),
                "none": _("No macro matches."),
                "loading": _("Loading…"),
                "shared": _("shared"),
                "personal": _("personal"),
            },
        },
    }
