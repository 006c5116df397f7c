from __future__ import annotations

from typing import Any

from django import template

from tickets.console_queries import may_use_console
from tickets.macros import is_manager

register = template.Library()


@register.inclusion_tag("channels_hub/_nav.html", takes_context=True)
def channels_nav(context: dict[str, Any]) -> dict[str, Any]:
    user = context.get("user")
    return {"manager": bool(user is not None and may_use_console(user) and is_manager(user))}
