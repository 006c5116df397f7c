"""What a rule (or a macro) can do to a ticket; every change goes through tickets.services.

Each ``ActionSpec`` validates its stored value (``clean``) and applies it (``apply``),
returning a short description for the run log. Live events and ``ticket_changed`` keep
working because nothing here writes a ticket row itself.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from omniservice import realtime
from omniservice.org.models import StaffProfile, Team
from omniservice.outbox.services import enqueue
from tickets import services
from tickets.models import (
    AuthorKind,
    AutomationWebhook,
    Macro,
    Priority,
    Ticket,
    TicketStatus,
)

if TYPE_CHECKING:
    from tickets.models import AutomationRule, AutomationRun

WEBHOOK_TOPIC = "automation.webhook"
TAG_SEPARATORS = re.compile("[,\uff0c\u3001]")
NOTIFICATION_EVENT = "automation.notification"
MAX_NOTE_CHARS = 5000


@dataclass
class ActionContext:
    """Who is acting: a rule (with its run, for webhooks) or an agent applying a macro."""

    rule: AutomationRule | None = None
    run: AutomationRun | None = None
    actor: Any = None

    @property
    def reason(self) -> str:
        if self.rule is not None:
            return _("Automation rule: %(name)s") % {"name": self.rule.name}
        return ""


@dataclass(frozen=True)
class ActionSpec:
    name: str
    label: Any
    value_kind: str  # "choice", "text", "longtext", "model"
    clean: Callable[[str], Any]
    apply: Callable[[Ticket, Any, ActionContext], str]
    choices: Callable[[], list[tuple[str, Any]]] | None = None


def _choice_cleaner(choices: Callable[[], list[tuple[str, Any]]]) -> Callable[[str], Any]:
    def clean(raw: str) -> Any:
        if raw not in {value for value, _label in choices()}:
            raise ValueError(_("Choose one of the listed values."))
        return raw

    return clean


def tag_names(value: str | list[str]) -> list[str]:
    """Tag names from a comma-separated text (also Chinese commas) or a list, case kept."""
    items = value if isinstance(value, list) else TAG_SEPARATORS.split(value or "")
    return list(dict.fromkeys(name.strip()[:50] for name in items if name and name.strip()))


def _tags_cleaner(raw: str) -> list[str]:
    names = tag_names(raw)
    if not names:
        raise ValueError(_("Enter at least one tag."))
    return names


def _text_cleaner(raw: str) -> str:
    if not raw.strip():
        raise ValueError(_("Enter the text of the note."))
    if len(raw) > MAX_NOTE_CHARS:
        raise ValueError(_("Keep the note under 5,000 characters."))
    return raw.strip()


# --- choices ----------------------------------------------------------------------------


def status_choices() -> list[tuple[str, Any]]:
    return [(v, label) for v, label in TicketStatus.choices if v != TicketStatus.NEW]


def team_choices() -> list[tuple[str, Any]]:
    none = [("", pgettext_lazy("rule value", "(none)"))]
    return none + [(str(t.pk), t.name) for t in Team.objects.order_by("name")[:500]]


def staff_choices() -> list[tuple[str, Any]]:
    profiles = StaffProfile.objects.select_related("user").filter(user__is_active=True)
    none = [("", pgettext_lazy("assignee", "(unassigned)"))]
    return none + [
        (str(p.user_id), p.display_name or p.user.get_username())
        for p in profiles.order_by("display_name", "user__username")[:500]
    ]


def macro_choices() -> list[tuple[str, Any]]:
    shared = Macro.objects.filter(owner__isnull=True, is_active=True).order_by("name")
    return [(str(m.pk), m.name) for m in shared[:500]]


def webhook_choices() -> list[tuple[str, Any]]:
    return [(str(w.pk), w.name) for w in AutomationWebhook.objects.order_by("name")[:200]]


def notify_choices() -> list[tuple[str, Any]]:
    fixed = [
        ("assignee", gettext_lazy("The assignee")),
        ("ticket_team", gettext_lazy("The ticket's team")),
        ("managers", gettext_lazy("Managers")),
    ]
    teams = [(f"team:{t.pk}", f"{_('Team')}: {t.name}") for t in Team.objects.order_by("name")]
    people = [(f"user:{pk}", name) for pk, name in staff_choices() if pk]
    return fixed + teams[:200] + people


# --- appliers ---------------------------------------------------------------------------


def _set_priority(ticket: Ticket, value: str, ctx: ActionContext) -> str:
    services.update_ticket(ticket=ticket, actor=ctx.actor, priority=value)
    return f"priority={value}"


def _set_status(ticket: Ticket, value: str, ctx: ActionContext) -> str:
    services.change_status(ticket=ticket, status=value, actor=ctx.actor, reason=ctx.reason)
    return f"status={value}"


def _set_team(ticket: Ticket, value: str, ctx: ActionContext) -> str:
    team = Team.objects.get(pk=int(value)) if value else None
    services.assign(ticket=ticket, actor=ctx.actor, team=team)
    return f"team={value or '-'}"


def _set_assignee(ticket: Ticket, value: str, ctx: ActionContext) -> str:
    user = get_user_model().objects.get(pk=int(value), is_active=True) if value else None
    services.assign(ticket=ticket, actor=ctx.actor, assignee=user)
    return f"assignee={value or '-'}"


def _change_tags(ticket: Ticket, add: list[str], remove: list[str], ctx: ActionContext) -> bool:
    current = list(ticket.tags.values_list("name", flat=True))
    lowered = {name.lower() for name in remove}
    wanted = [name for name in current if name.lower() not in lowered]
    present = {name.lower() for name in wanted}
    wanted += [name for name in add if name.lower() not in present]
    if sorted(wanted) == sorted(current):
        return False  # no change, so no ticket_changed: a rule cannot spin on its own tags
    services.update_ticket(ticket=ticket, actor=ctx.actor, tags=wanted)
    return True


def _add_tags(ticket: Ticket, value: list[str], ctx: ActionContext) -> str:
    names = tag_names(value)
    _change_tags(ticket, names, [], ctx)
    return "tags+=" + ",".join(names)


def _remove_tags(ticket: Ticket, value: list[str], ctx: ActionContext) -> str:
    names = tag_names(value)
    _change_tags(ticket, [], names, ctx)
    return "tags-=" + ",".join(names)


def _add_note(ticket: Ticket, value: str, ctx: ActionContext) -> str:
    from tickets.macros import render_placeholders, ticket_placeholders

    text = render_placeholders(value, ticket_placeholders(ticket, agent=ctx.actor))
    services.add_note(
        ticket=ticket,
        author=ctx.actor,
        text=text,
        author_kind=AuthorKind.SYSTEM if ctx.actor is None else AuthorKind.AGENT,
    )
    return "note"


def _send_macro(ticket: Ticket, value: str, ctx: ActionContext) -> str:
    from tickets.macros import send_macro_reply

    macro = Macro.objects.get(pk=int(value), owner__isnull=True, is_active=True)
    send_macro_reply(ticket=ticket, macro=macro, author=ctx.actor, reason=ctx.reason)
    return f"macro={macro.pk}"


def notification_groups(ticket: Ticket, target: str) -> list[str]:
    if target == "assignee":
        return [f"agent.{ticket.assignee_id}"] if ticket.assignee_id else []
    if target == "ticket_team":
        return [f"team.{ticket.team_id}"] if ticket.team_id else []
    if target == "managers":
        return ["managers"]
    kind, _sep, pk = target.partition(":")
    return [f"{'agent' if kind == 'user' else 'team'}.{int(pk)}"]


def _notify(ticket: Ticket, value: str, ctx: ActionContext) -> str:
    groups = notification_groups(ticket, value)
    if groups:
        realtime.publish(
            groups,
            NOTIFICATION_EVENT,
            {
                "ticket_id": ticket.pk,
                "rule_id": ctx.rule.pk if ctx.rule else None,
                "rule_name": ctx.rule.name if ctx.rule else "",
            },
        )
    return f"notify={','.join(groups) or '-'}"


def webhook_body(ticket: Ticket, ctx: ActionContext) -> dict[str, Any]:
    """What the partner receives: ids and ticket state, no message text or contact data."""
    return {
        "event": "automation.rule_matched",
        "delivery_id": uuid.uuid4().hex,
        "occurred_at": timezone.now().isoformat(),
        "rule": {"id": ctx.rule.pk, "name": ctx.rule.name} if ctx.rule else None,
        "ticket": {
            "number": ticket.pk,
            "status": ticket.status,
            "priority": ticket.priority,
            "channel": ticket.last_channel or ticket.origin_channel,
            "team_id": ticket.team_id,
            "assignee_id": ticket.assignee_id,
            "store_code": ticket.store.code if ticket.store_id else None,
            "customer_id": ticket.customer.public_id,
            "customer_tier": ticket.customer.tier,
            "tags": sorted(ticket.tags.values_list("name", flat=True)),
        },
    }


def _call_webhook(ticket: Ticket, value: str, ctx: ActionContext) -> str:
    hook = AutomationWebhook.objects.get(pk=int(value))
    if not hook.is_active:
        raise ValueError(_("The webhook %(name)s is disabled.") % {"name": hook.name})
    run_key = ctx.run.pk if ctx.run else uuid.uuid4().hex
    enqueue(
        WEBHOOK_TOPIC,
        {"webhook_id": hook.pk, "body": webhook_body(ticket, ctx)},
        dedupe_key=f"automation-webhook:{run_key}:{hook.pk}",
    )
    return f"webhook={hook.pk}"


ACTIONS: dict[str, ActionSpec] = {
    a.name: a
    for a in [
        ActionSpec(
            "set_priority",
            gettext_lazy("Set priority"),
            "choice",
            _choice_cleaner(lambda: Priority.choices),
            _set_priority,
            choices=lambda: Priority.choices,
        ),
        ActionSpec(
            "set_status",
            gettext_lazy("Set status"),
            "choice",
            _choice_cleaner(status_choices),
            _set_status,
            choices=status_choices,
        ),
        ActionSpec(
            "set_team",
            gettext_lazy("Set team"),
            "model",
            _choice_cleaner(team_choices),
            _set_team,
            choices=team_choices,
        ),
        ActionSpec(
            "set_assignee",
            gettext_lazy("Set assignee"),
            "model",
            _choice_cleaner(staff_choices),
            _set_assignee,
            choices=staff_choices,
        ),
        ActionSpec("add_tags", gettext_lazy("Add tags"), "text", _tags_cleaner, _add_tags),
        ActionSpec("remove_tags", gettext_lazy("Remove tags"), "text", _tags_cleaner, _remove_tags),
        ActionSpec(
            "add_note", gettext_lazy("Add an internal note"), "longtext", _text_cleaner, _add_note
        ),
        ActionSpec(
            "send_macro",
            gettext_lazy("Reply with a shared macro"),
            "model",
            _choice_cleaner(macro_choices),
            _send_macro,
            choices=macro_choices,
        ),
        ActionSpec(
            "notify",
            gettext_lazy("Notify"),
            "choice",
            _choice_cleaner(notify_choices),
            _notify,
            choices=notify_choices,
        ),
        ActionSpec(
            "call_webhook",
            gettext_lazy("Call a partner webhook"),
            "model",
            _choice_cleaner(webhook_choices),
            _call_webhook,
            choices=webhook_choices,
        ),
    ]
}

# What a macro may do besides filling the reply box.
MACRO_ACTIONS = ("set_status", "add_tags", "remove_tags")


def clean_action(row: dict[str, Any], *, allowed: tuple[str, ...] | None = None) -> dict:
    spec = ACTIONS.get(row.get("action", ""))
    if spec is None or (allowed is not None and spec.name not in allowed):
        raise ValueError(_("Choose an action."))
    raw = row.get("value")
    raw = "" if raw is None else str(raw).strip()
    return {"action": spec.name, "value": spec.clean(raw)}


def describe_action(row: dict[str, Any], labels: dict[str, dict] | None = None) -> str:
    """ "Set team: VIP"; ``labels`` caches choices across calls (see describe_condition)."""
    spec = ACTIONS.get(row.get("action", ""))
    if spec is None:
        return str(row)
    value = row.get("value")
    if spec.choices is not None:
        cache = {} if labels is None else labels
        key = f"action:{spec.name}"
        if key not in cache:
            cache[key] = {str(v): label for v, label in spec.choices()}
        value = cache[key].get("" if value is None else str(value), value)
    elif isinstance(value, list):
        value = ", ".join(value)
    if value in ("", None):
        value = "—"
    return f"{spec.label}: {value}"


def apply_action(ticket: Ticket, row: dict[str, Any], ctx: ActionContext) -> str:
    """Apply one stored action to the (fresh) ticket; returns its log description."""
    spec = ACTIONS[row["action"]]
    return spec.apply(ticket, row["value"], ctx)
