"""Console forms for rules and macros: they parse rows; ``rules`` / ``macros`` validate.

A rule is one form plus two formsets of rows (condition: field / operator / value;
action: action / value). ``automation.js`` adds and removes rows and turns the value
box into a list when the field has choices; without JavaScript the rows still work
(values typed as their codes).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms import formset_factory
from django.utils.translation import gettext_lazy as _

from tickets.automation.actions import ACTIONS, MACRO_ACTIONS
from tickets.automation.conditions import FIELDS, OPERATOR_LABELS
from tickets.automation.rules import MAX_ROWS
from tickets.models import MatchMode, RuleEvent, RuleKind, TicketStatus


class RuleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    kind = forms.ChoiceField(
        label=_("Runs"), choices=RuleKind.choices, widget=forms.RadioSelect, initial="event"
    )
    events = forms.MultipleChoiceField(
        label=_("On"),
        choices=RuleEvent.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    match = forms.ChoiceField(
        label=_("Match"), choices=MatchMode.choices, widget=forms.RadioSelect, initial="all"
    )
    stop_processing = forms.BooleanField(label=_("Stop further rules"), required=False)
    is_active = forms.BooleanField(label=_("Enabled"), required=False, initial=True)


class ConditionRowForm(forms.Form):
    field = forms.ChoiceField(
        label=_("Field"),
        choices=[("", "—"), *((f.name, f.label) for f in FIELDS.values())],
        required=False,
    )
    operator = forms.ChoiceField(
        label=_("Operator"), choices=[("", "—"), *OPERATOR_LABELS.items()], required=False
    )
    value = forms.CharField(label=_("Value"), required=False, max_length=500)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _label_widgets(self)


def _label_widgets(form: forms.Form) -> None:
    for field in form.fields.values():
        field.widget.attrs.setdefault("aria-label", str(field.label))


class ActionRowForm(forms.Form):
    action = forms.ChoiceField(
        label=_("Action"),
        choices=[("", "—"), *((a.name, a.label) for a in ACTIONS.values())],
        required=False,
    )
    value = forms.CharField(
        label=_("Value"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 1}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _label_widgets(self)


ConditionFormSet = formset_factory(
    ConditionRowForm, extra=0, can_delete=True, max_num=MAX_ROWS, validate_max=True
)
ActionFormSet = formset_factory(
    ActionRowForm, extra=0, can_delete=True, max_num=MAX_ROWS, validate_max=True
)


def kept_rows(formset: Any, key: str) -> list[tuple[Any, dict[str, Any]]]:
    """(form, row) for each row that names a field/action and is not deleted."""
    rows = []
    for form in formset.forms:
        data = getattr(form, "cleaned_data", {}) or {}
        if data.get("DELETE") or not data.get(key):
            continue
        rows.append((form, {k: v for k, v in data.items() if k != "DELETE"}))
    return rows


def _row_value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def rule_initial(rule: Any) -> tuple[dict, list[dict], list[dict]]:
    base = {
        "name": rule.name,
        "description": rule.description,
        "kind": rule.kind,
        "events": rule.events,
        "match": rule.match,
        "stop_processing": rule.stop_processing,
        "is_active": rule.is_active,
    }
    conditions = [{**row, "value": _row_value(row.get("value"))} for row in rule.conditions]
    actions = [
        {"action": row["action"], "value": _row_value(row.get("value"))} for row in rule.actions
    ]
    return base, conditions, actions


def rule_schema() -> dict[str, Any]:
    """What automation.js needs to offer the right operators and values per row."""
    return {
        "fields": {
            f.name: {
                "kind": f.value_kind,
                "operators": [[op, str(OPERATOR_LABELS[op])] for op in f.operators],
                "choices": [[v, str(label)] for v, label in f.choices()] if f.choices else None,
            }
            for f in FIELDS.values()
        },
        "actions": {
            a.name: {
                "kind": a.value_kind,
                "choices": [[v, str(label)] for v, label in a.choices()] if a.choices else None,
            }
            for a in ACTIONS.values()
        },
    }


class MacroForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    body_zh = forms.CharField(
        label=_("Text in Chinese"), required=False, widget=forms.Textarea(attrs={"rows": 5})
    )
    body_en = forms.CharField(
        label=_("Text in English"), required=False, widget=forms.Textarea(attrs={"rows": 5})
    )
    shared = forms.BooleanField(label=_("Shared with everyone"), required=False)
    set_status = forms.ChoiceField(
        label=_("On send, set status"),
        required=False,
        choices=[("", _("(leave as is)"))]
        + [(v, label) for v, label in TicketStatus.choices if v != TicketStatus.NEW],
    )
    add_tags = forms.CharField(label=_("On send, add tags"), required=False, max_length=500)
    remove_tags = forms.CharField(label=_("On send, remove tags"), required=False, max_length=500)
    is_active = forms.BooleanField(label=_("Enabled"), required=False, initial=True)

    def actions(self) -> list[dict[str, str]]:
        return [
            {"action": name, "value": self.cleaned_data[name]}
            for name in MACRO_ACTIONS
            if self.cleaned_data.get(name)
        ]


def macro_initial(macro: Any) -> dict[str, Any]:
    initial = {
        "name": macro.name,
        "body_zh": macro.body_zh,
        "body_en": macro.body_en,
        "shared": macro.owner_id is None,
        "is_active": macro.is_active,
    }
    for row in macro.actions:
        initial[row["action"]] = _row_value(row["value"])
    return initial
