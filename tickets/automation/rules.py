"""The write side of rule management: validation, saving, order, enabling, deleting.

Only managers and administrators manage rules (``tickets.macros.is_manager``). Errors
name the row they concern: ``conditions-2`` is the third condition row.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from omniservice.errors import DomainError
from tickets.automation.actions import clean_action
from tickets.automation.conditions import FIELDS, clean_condition
from tickets.automation.engine import forget_active_triggers
from tickets.macros import is_manager
from tickets.models import AutomationRule, MatchMode, RuleEvent, RuleKind

MAX_ROWS = 30
EVENT_ONLY_FIELDS = frozenset({"message_text", "message_language"})
WAITING_FIELDS = frozenset({"hours_since_update", "hours_in_status"})


def _require_manager(user: AbstractBaseUser) -> None:
    if not is_manager(user):
        raise DomainError(_("Only managers may manage automation rules."), code="forbidden")


def clean_rule(
    *,
    name: str,
    kind: str,
    events: list[str],
    match: str,
    conditions: list[dict[str, Any]],
    actions: list[dict[str, Any]],
) -> dict[str, Any]:
    """Validated rule fields; raises DomainError whose ``fields`` name each bad row."""
    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors["name"] = [_("Give the rule a name.")]
    if kind not in RuleKind.values:
        errors["kind"] = [_("Choose when the rule runs.")]
    if match not in MatchMode.values:
        errors["match"] = [_("Choose how conditions combine.")]
    events = [e for e in dict.fromkeys(events) if e]
    if kind == RuleKind.EVENT:
        if not events or any(e not in RuleEvent.values for e in events):
            errors["events"] = [_("Choose at least one event that runs the rule.")]
    else:
        events = []
    if len(conditions) > MAX_ROWS or len(actions) > MAX_ROWS:
        errors["__all__"] = [_("A rule has at most 30 conditions and 30 actions.")]
    cleaned_conditions = []
    for index, row in enumerate(conditions):
        try:
            cleaned = clean_condition(row)
        except ValueError as exc:
            errors[f"conditions-{index}"] = [str(exc)]
            continue
        if kind == RuleKind.TIME and cleaned["field"] in EVENT_ONLY_FIELDS:
            errors[f"conditions-{index}"] = [
                _("%(field)s only applies to rules run by a customer message.")
                % {"field": FIELDS[cleaned["field"]].label}
            ]
        cleaned_conditions.append(cleaned)
    if kind == RuleKind.TIME and not any(
        c["field"] in WAITING_FIELDS and c["operator"] == "gt" for c in cleaned_conditions
    ):
        errors.setdefault("conditions", []).append(
            _(
                "A scheduled rule needs a waiting time: “Hours since last update” or "
                "“Hours in the current status” more than some hours."
            )
        )
    cleaned_actions = []
    for index, row in enumerate(actions):
        try:
            cleaned_actions.append(clean_action(row))
        except ValueError as exc:
            errors[f"actions-{index}"] = [str(exc)]
    if not actions:
        errors.setdefault("actions", []).append(_("Add at least one action."))
    if errors:
        first = next(iter(errors.values()))[0]
        raise DomainError(first, code="invalid_rule", fields=errors)
    return {
        "name": name.strip()[:120],
        "kind": kind,
        "events": events,
        "match": match,
        "conditions": cleaned_conditions,
        "actions": cleaned_actions,
    }


@transaction.atomic
def save_rule(
    *,
    actor: AbstractBaseUser,
    rule: AutomationRule | None,
    name: str,
    description: str = "",
    kind: str,
    events: list[str],
    match: str,
    conditions: list[dict[str, Any]],
    actions: list[dict[str, Any]],
    stop_processing: bool = False,
    is_active: bool = True,
) -> AutomationRule:
    _require_manager(actor)
    values = clean_rule(
        name=name, kind=kind, events=events, match=match, conditions=conditions, actions=actions
    )
    if rule is None:
        top = AutomationRule.objects.aggregate(top=Max("position"))["top"]
        rule = AutomationRule(created_by=actor, position=0 if top is None else top + 1)
    for key, value in values.items():
        setattr(rule, key, value)
    rule.description = description.strip()
    rule.stop_processing = stop_processing
    rule.is_active = is_active
    rule.save()
    transaction.on_commit(forget_active_triggers)
    return rule


@transaction.atomic
def set_rule_active(*, actor: AbstractBaseUser, rule: AutomationRule, active: bool) -> None:
    _require_manager(actor)
    AutomationRule.objects.filter(pk=rule.pk).update(is_active=active)
    transaction.on_commit(forget_active_triggers)


@transaction.atomic
def delete_rule(*, actor: AbstractBaseUser, rule: AutomationRule) -> None:
    _require_manager(actor)
    rule.delete()
    transaction.on_commit(forget_active_triggers)


@transaction.atomic
def move_rule(*, actor: AbstractBaseUser, rule: AutomationRule, step: int) -> None:
    """Move a rule one place up (-1) or down (+1); positions are renumbered 0..n-1."""
    _require_manager(actor)
    ordered = list(AutomationRule.objects.select_for_update().order_by("position", "id"))
    index = next(i for i, r in enumerate(ordered) if r.pk == rule.pk)
    target = max(0, min(len(ordered) - 1, index + step))
    ordered.insert(target, ordered.pop(index))
    for position, item in enumerate(ordered):
        if item.position != position:
            AutomationRule.objects.filter(pk=item.pk).update(position=position)
