"""WhatsApp parts of the console: ``{% template_reply_form ticket reply %}`` under the
reply box (offered when the 24-hour window is closed) and the ``wa_language`` filter."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.urls import reverse

from channels_hub.connections import default_connection
from channels_hub.template_models import WhatsAppTemplate
from channels_hub.template_selectors import sendable_templates
from channels_hub.whatsapp_templates import (
    MAX_PARAMETER_CHARS,
    language_label,
    rendered_text,
    slot_label,
    template_slots,
    text_parts,
)
from tickets.models import Channel, Ticket
from tickets.reply_channels import ReplyChoice

register = template.Library()


@register.filter
def wa_language(code: str) -> str:
    return language_label(code)


@register.inclusion_tag("channels_hub/whatsapp/_template_reply.html", takes_context=True)
def template_reply_form(
    context: dict[str, Any], ticket: Ticket, reply: ReplyChoice
) -> dict[str, Any]:
    """Two queries, and only when WhatsApp's window is what keeps the channel closed."""
    option = next((o for o in reply.options if o.channel == Channel.WHATSAPP), None)
    if option is None or not option.window_closed:
        return {"show": False}
    connection = default_connection(Channel.WHATSAPP)
    if connection is None:
        return {"show": False}
    return {
        "show": True,
        # Open at once when no other channel could be proposed instead.
        "open": reply.proposed == Channel.WHATSAPP,
        "ticket": ticket,
        "templates": [_choice(t) for t in sendable_templates(connection)],
        "suggestions": _suggestions(context, ticket),
        "max_chars": MAX_PARAMETER_CHARS,
        "action": reverse("channels:template-reply", args=[ticket.pk]),
        "csrf_token": context.get("csrf_token"),
    }


def _choice(found: WhatsAppTemplate) -> dict[str, Any]:
    slots = [
        {"label": slot_label(slot), "part": slot.part, "key": slot.key}
        for slot in template_slots(found.components)
    ]
    return {
        "value": f"{found.name}:{found.language}",
        "label": f"{found.name} · {language_label(found.language)}",
        "category": found.get_category_display(),
        "preview": rendered_text(found, []),
        "texts": text_parts(found),  # the reply box fills these in as the agent types
        "slots": slots,
        "slots_json": json.dumps(slots, ensure_ascii=False),
    }


def _suggestions(context: dict[str, Any], ticket: Ticket) -> list[str]:
    """Values an agent often puts in a parameter: the customer's name, the ticket
    number, their own name."""
    values = [ticket.customer.name if ticket.customer_id else "", f"#{ticket.pk}"]
    user = context.get("user")
    profile = getattr(user, "staff_profile", None) if user is not None else None
    if profile is not None:
        values.append(str(profile))
    return [value for value in dict.fromkeys(values) if value]
