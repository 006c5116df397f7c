"""Macros (canned replies): placeholders rendered without a template engine, and sending.

A macro's text is written in both languages; the customer's language picks one. The four
placeholders are replaced in ONE pass by a regular expression, so a customer called
``{{agent.name}}`` stays literally that (no template injection) and nothing but the
listed values is reachable. Where the result is HTML the text and values are escaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from omniservice.errors import DomainError, NotFoundError
from omniservice.org.models import Role
from tickets import services
from tickets.automation.actions import (
    MACRO_ACTIONS,
    ActionContext,
    apply_action,
    clean_action,
    describe_action,
)
from tickets.models import AuthorKind, Macro, Message, Ticket
from tickets.visibility import profile_of

PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}")
PLACEHOLDERS: dict[str, Any] = {
    "customer.name": gettext_lazy("the customer's name"),
    "ticket.number": gettext_lazy("the ticket number"),
    "agent.name": gettext_lazy("your name (the agent sending)"),
    "store.address": gettext_lazy("the address of the ticket's store"),
}
MANAGER_ROLES = frozenset({Role.MANAGER, Role.ADMIN})


def is_manager(user: AbstractBaseUser) -> bool:
    """Managers and administrators manage automation rules and shared macros."""
    profile = profile_of(user)
    return bool(user.is_superuser or (profile is not None and profile.role in MANAGER_ROLES))


def unknown_placeholders(text: str) -> list[str]:
    return sorted({name for name in PLACEHOLDER.findall(text or "") if name not in PLACEHOLDERS})


def render_placeholders(text: str, values: Mapping[str, str], *, html: bool = False) -> str:
    """Replace the known placeholders; with ``html`` the whole result is escaped."""
    if not html:
        return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text or "")
    pieces, last = [], 0
    for found in PLACEHOLDER.finditer(text or ""):
        pieces.append(escape(text[last : found.start()]))
        pieces.append(escape(values.get(found.group(1), found.group(0))))
        last = found.end()
    pieces.append(escape((text or "")[last:]))
    return "".join(pieces)


def agent_name(user: AbstractBaseUser | None) -> str:
    if user is None:
        return ""
    profile = profile_of(user)
    return (profile.display_name if profile else "") or user.get_full_name() or user.get_username()


def ticket_placeholders(ticket: Ticket, *, agent: AbstractBaseUser | None) -> dict[str, str]:
    """The values of the placeholders for this ticket; the agent defaults to the assignee."""
    customer = ticket.customer
    store = ticket.store or customer.home_store
    return {
        "customer.name": customer.name or "",
        "ticket.number": str(ticket.pk),
        "agent.name": agent_name(agent if agent is not None else ticket.assignee),
        "store.address": store.address if store else "",
    }


def macro_text(macro: Macro, language: str) -> str:
    """The text in ``language`` (the customer's), else the other one."""
    if language == "en":
        return macro.body_en or macro.body_zh
    return macro.body_zh or macro.body_en


def render_macro(
    macro: Macro, ticket: Ticket, *, agent: AbstractBaseUser | None, html: bool = False
) -> str:
    values = ticket_placeholders(ticket, agent=agent)
    return render_placeholders(macro_text(macro, ticket.customer.language), values, html=html)


def macros_for(user: AbstractBaseUser) -> QuerySet[Macro]:
    """The macros ``user`` may apply: every shared one and their own."""
    return Macro.objects.filter(Q(owner__isnull=True) | Q(owner=user), is_active=True)


def picker_items(user: AbstractBaseUser, ticket: Ticket, limit: int = 200) -> list[dict]:
    """The reply box's choices: each usable macro rendered for ``ticket`` by ``user``."""
    ticket = Ticket.objects.select_related("customer__home_store", "store", "assignee").get(
        pk=ticket.pk
    )
    values = ticket_placeholders(ticket, agent=user)
    language = ticket.customer.language
    labels: dict[str, dict] = {}
    return [
        {
            "id": macro.pk,
            "name": macro.name,
            "shared": macro.is_shared,
            "text": render_placeholders(macro_text(macro, language), values),
            "actions": [describe_action(row, labels) for row in macro.actions],
        }
        for macro in macros_for(user).order_by("name", "id")[:limit]
    ]


def macros_visible_to(user: AbstractBaseUser) -> QuerySet[Macro]:
    """For the macros page: the shared ones and the user's own, enabled or not."""
    return Macro.objects.filter(Q(owner__isnull=True) | Q(owner=user)).order_by("name", "id")


def usable_macro(user: AbstractBaseUser, macro_id: int | str | None) -> Macro:
    try:
        return macros_for(user).get(pk=int(macro_id or 0))
    except (Macro.DoesNotExist, ValueError, TypeError):
        raise NotFoundError(_("That macro does not exist."), code="macro_not_found") from None


# --- write side -------------------------------------------------------------------------


@transaction.atomic
def send_macro_reply(
    *,
    ticket: Ticket,
    macro: Macro,
    author: AbstractBaseUser | None,
    text: str | None = None,
    mode: str = "reply",
    channel: str | None = None,
    reason: str = "",
) -> Message:
    """Send ``text`` (default: the macro rendered for this ticket), then the macro's actions.

    An agent usually edits the rendered text before sending; automation sends it as is.
    """
    fresh = Ticket.objects.select_related("customer__home_store", "store", "assignee").get(
        pk=ticket.pk
    )
    body = render_macro(macro, fresh, agent=author) if text is None else text
    kind = AuthorKind.AGENT if author is not None else AuthorKind.SYSTEM
    if mode == "note":
        message = services.add_note(ticket=fresh, author=author, text=body, author_kind=kind)
    else:
        message = services.reply(
            ticket=fresh, author=author, text=body, channel=channel, author_kind=kind
        )
    ctx = ActionContext(actor=author)
    for row in macro.actions:
        apply_action(Ticket.objects.get(pk=ticket.pk), row, ctx)
    return message


def may_edit_macro(user: AbstractBaseUser, macro: Macro) -> bool:
    return macro.owner_id == user.pk or (macro.owner_id is None and is_manager(user))


def clean_macro_fields(
    *, user: AbstractBaseUser, name: str, body_zh: str, body_en: str, shared: bool, actions: list
) -> dict[str, Any]:
    """Validate a macro; raises DomainError with per-field messages."""
    fields: dict[str, list[str]] = {}
    if not name.strip():
        fields["name"] = [_("Give the macro a name.")]
    if not body_zh.strip() and not body_en.strip():
        fields["body_zh"] = [_("Write the text in at least one language.")]
    for field, body in (("body_zh", body_zh), ("body_en", body_en)):
        unknown = unknown_placeholders(body)
        if unknown:
            fields.setdefault(field, []).append(
                _("Unknown placeholder %(names)s; use %(known)s.")
                % {
                    "names": ", ".join("{{" + n + "}}" for n in unknown),
                    "known": ", ".join("{{" + n + "}}" for n in PLACEHOLDERS),
                }
            )
    if shared and not is_manager(user):
        fields["shared"] = [_("Only managers may share a macro with everyone.")]
    cleaned_actions = []
    for row in actions:
        try:
            cleaned_actions.append(clean_action(row, allowed=MACRO_ACTIONS))
        except ValueError as exc:
            fields.setdefault("actions", []).append(str(exc))
    if fields:
        raise DomainError(next(iter(fields.values()))[0], code="invalid_macro", fields=fields)
    return {
        "name": name.strip()[:120],
        "body_zh": body_zh.strip(),
        "body_en": body_en.strip(),
        "owner": None if shared else user,
        "actions": cleaned_actions,
    }


@transaction.atomic
def save_macro(
    *,
    user: AbstractBaseUser,
    macro: Macro | None,
    name: str,
    body_zh: str,
    body_en: str,
    shared: bool,
    actions: list[dict[str, Any]],
    is_active: bool = True,
) -> Macro:
    if macro is not None and not may_edit_macro(user, macro):
        raise DomainError(_("You may not change this macro."), code="forbidden")
    values = clean_macro_fields(
        user=user, name=name, body_zh=body_zh, body_en=body_en, shared=shared, actions=actions
    )
    if macro is not None and macro.owner_id not in (None, user.pk) and not shared:
        values["owner"] = macro.owner  # never take over someone else's personal macro
    macro = macro or Macro()
    for key, value in values.items():
        setattr(macro, key, value)
    macro.is_active = is_active
    macro.save()
    return macro


@transaction.atomic
def delete_macro(*, user: AbstractBaseUser, macro: Macro) -> None:
    if not may_edit_macro(user, macro):
        raise DomainError(_("You may not delete this macro."), code="forbidden")
    macro.delete()
