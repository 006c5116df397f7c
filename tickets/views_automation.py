"""Console pages for automation rules (managers) and macros (everyone, shared ones by
managers), and the reply-with-macro action of the ticket page. Thin: parse, authorise,
call ``tickets.automation.rules`` / ``tickets.macros``, render."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from omniservice.errors import DomainError
from tickets import macros
from tickets.automation import rules
from tickets.automation.actions import describe_action
from tickets.automation.conditions import describe_condition
from tickets.automation.forms import (
    ActionFormSet,
    ConditionFormSet,
    MacroForm,
    RuleForm,
    kept_rows,
    macro_initial,
    rule_initial,
    rule_schema,
)
from tickets.models import AutomationRule, AutomationRun, Channel, Macro
from tickets.selectors import ticket_for
from tickets.views import console_view

RUNS_SHOWN = 100
View = Callable[..., HttpResponse]


def manager_view(view: View) -> View:
    """A console page for managers and administrators only; agents get 403."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not macros.is_manager(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return console_view(guarded)


# --- rules ------------------------------------------------------------------------------


def _summaries(rule: AutomationRule, labels: dict[str, dict] | None = None) -> dict[str, list]:
    labels = {} if labels is None else labels
    return {
        "conditions": [describe_condition(row, labels) for row in rule.conditions],
        "actions": [describe_action(row, labels) for row in rule.actions],
    }


@require_http_methods(["GET"])
@manager_view
def rule_list(request: HttpRequest) -> HttpResponse:
    last_applied = (
        AutomationRun.objects.filter(rule=OuterRef("pk"), outcome="applied")
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    listed = list(
        AutomationRule.objects.order_by("position", "id").annotate(
            last_applied=Subquery(last_applied)
        )
    )
    labels: dict[str, dict] = {}
    for rule in listed:
        rule.summary = _summaries(rule, labels)
    return render(request, "tickets/automation/rule_list.html", {"rules": listed})


@require_http_methods(["GET"])
@manager_view
def rule_detail(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(AutomationRule, pk=rule_id)
    runs = list(rule.runs.select_related("ticket").order_by("-created_at", "-id")[:RUNS_SHOWN])
    return render(
        request,
        "tickets/automation/rule_detail.html",
        {"rule": rule, "summary": _summaries(rule), "runs": runs},
    )


@require_http_methods(["GET", "POST"])
@manager_view
def rule_create(request: HttpRequest) -> HttpResponse:
    return _rule_form(request, None)


@require_http_methods(["GET", "POST"])
@manager_view
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    return _rule_form(request, get_object_or_404(AutomationRule, pk=rule_id))


def _rule_form(request: HttpRequest, rule: AutomationRule | None) -> HttpResponse:
    if request.method == "POST":
        form = RuleForm(request.POST)
        conditions = ConditionFormSet(request.POST, prefix="conditions")
        actions = ActionFormSet(request.POST, prefix="actions")
        if form.is_valid() and conditions.is_valid() and actions.is_valid():
            condition_rows = kept_rows(conditions, "field")
            action_rows = kept_rows(actions, "action")
            try:
                saved = rules.save_rule(
                    actor=request.user,
                    rule=rule,
                    conditions=[row for _form, row in condition_rows],
                    actions=[row for _form, row in action_rows],
                    **form.cleaned_data,
                )
            except DomainError as exc:
                _attach_errors(exc, form, condition_rows, action_rows)
            else:
                messages.success(request, _("Rule “%(name)s” saved.") % {"name": saved.name})
                return redirect("console:automation-rule", rule_id=saved.pk)
        status = 400
    else:
        status = 200
        if rule is None:
            form = RuleForm(initial={"events": ["created"], "is_active": True})
            initial_conditions: list[dict] = [{}]
            initial_actions: list[dict] = [{}]
        else:
            base, initial_conditions, initial_actions = rule_initial(rule)
            form = RuleForm(initial=base)
        conditions = ConditionFormSet(initial=initial_conditions, prefix="conditions")
        actions = ActionFormSet(initial=initial_actions, prefix="actions")
    context = {
        "rule": rule,
        "form": form,
        "conditions": conditions,
        "actions": actions,
        "schema": rule_schema(),
    }
    return render(request, "tickets/automation/rule_form.html", context, status=status)


def _attach_errors(
    exc: DomainError, form: RuleForm, condition_rows: list, action_rows: list
) -> None:
    rows = {"conditions": condition_rows, "actions": action_rows}
    for key, errors in exc.fields.items():
        group, _sep, index = key.partition("-")
        for error in errors:
            if group in rows and index.isdigit():
                rows[group][int(index)][0].add_error(None, error)
            else:
                form.add_error(key if key in form.fields else None, error)


@require_POST
@manager_view
def rule_toggle(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(AutomationRule, pk=rule_id)
    rules.set_rule_active(actor=request.user, rule=rule, active=not rule.is_active)
    text = _("Rule “%(name)s” disabled.") if rule.is_active else _("Rule “%(name)s” enabled.")
    messages.success(request, text % {"name": rule.name})
    return redirect("console:automation-rules")


@require_POST
@manager_view
def rule_move(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(AutomationRule, pk=rule_id)
    step = {"up": -1, "down": 1}.get(request.POST.get("direction", ""))
    if step is None:
        return HttpResponse(_("Direction must be up or down."), status=400)
    rules.move_rule(actor=request.user, rule=rule, step=step)
    return redirect("console:automation-rules")


@require_http_methods(["GET", "POST"])
@manager_view
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(AutomationRule, pk=rule_id)
    if request.method == "POST":
        rules.delete_rule(actor=request.user, rule=rule)
        messages.success(request, _("Rule “%(name)s” deleted.") % {"name": rule.name})
        return redirect("console:automation-rules")
    return render(
        request,
        "tickets/automation/confirm_delete.html",
        {"object": rule, "cancel": "console:automation-rules"},
    )


# --- macros -----------------------------------------------------------------------------


@require_http_methods(["GET"])
@console_view
def macro_list(request: HttpRequest) -> HttpResponse:
    listed = list(macros.macros_visible_to(request.user))
    labels: dict[str, dict] = {}
    for macro in listed:
        macro.editable = macros.may_edit_macro(request.user, macro)
        macro.action_summary = [describe_action(row, labels) for row in macro.actions]
    context = {
        "macros": listed,
        "is_manager": macros.is_manager(request.user),
        "placeholders": macros.PLACEHOLDERS,
    }
    return render(request, "tickets/automation/macro_list.html", context)


@require_http_methods(["GET", "POST"])
@console_view
def macro_create(request: HttpRequest) -> HttpResponse:
    return _macro_form(request, None)


@require_http_methods(["GET", "POST"])
@console_view
def macro_edit(request: HttpRequest, macro_id: int) -> HttpResponse:
    return _macro_form(request, _editable_macro(request, macro_id))


def _editable_macro(request: HttpRequest, macro_id: int) -> Macro:
    macro = get_object_or_404(Macro, pk=macro_id)
    if macro.owner_id not in (None, request.user.pk):
        raise Http404  # someone else's personal macro does not exist for you
    if not macros.may_edit_macro(request.user, macro):
        raise PermissionDenied
    return macro


def _macro_form(request: HttpRequest, macro: Macro | None) -> HttpResponse:
    status = 200
    if request.method == "POST":
        form = MacroForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                saved = macros.save_macro(
                    user=request.user,
                    macro=macro,
                    name=data["name"],
                    body_zh=data["body_zh"],
                    body_en=data["body_en"],
                    shared=data["shared"],
                    actions=form.actions(),
                    is_active=data["is_active"],
                )
            except DomainError as exc:
                for field, errors in exc.fields.items():
                    for error in errors:
                        if field == "actions":
                            form.add_error(None, error)
                        else:
                            form.add_error(field if field in form.fields else None, error)
            else:
                messages.success(request, _("Macro “%(name)s” saved.") % {"name": saved.name})
                return redirect("console:macros")
        status = 400
    elif macro is None:
        form = MacroForm(initial={"is_active": True})
    else:
        form = MacroForm(initial=macro_initial(macro))
    if not macros.is_manager(request.user):
        form.fields["shared"].disabled = True
    context = {"form": form, "macro": macro, "placeholders": macros.PLACEHOLDERS}
    return render(request, "tickets/automation/macro_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@console_view
def macro_delete(request: HttpRequest, macro_id: int) -> HttpResponse:
    macro = _editable_macro(request, macro_id)
    if request.method == "POST":
        macros.delete_macro(user=request.user, macro=macro)
        messages.success(request, _("Macro “%(name)s” deleted.") % {"name": macro.name})
        return redirect("console:macros")
    return render(
        request,
        "tickets/automation/confirm_delete.html",
        {"object": macro, "cancel": "console:macros"},
    )


@require_http_methods(["GET"])
@console_view
def macro_options(request: HttpRequest, number: int) -> JsonResponse:
    """The picker's list: the agent's macros rendered for this ticket (JSON, shown as text)."""
    ticket = ticket_for(request.user, number)
    if ticket is None:
        raise Http404
    return JsonResponse({"macros": macros.picker_items(request.user, ticket)})


@require_POST
@console_view
def macro_reply(request: HttpRequest, number: int) -> HttpResponse:
    """The reply box's send when a macro was picked: the text, then the macro's actions."""
    ticket = ticket_for(request.user, number)
    if ticket is None:
        raise Http404
    mode = request.POST.get("mode") or "reply"
    channel = request.POST.get("channel") or None
    try:
        if mode not in ("reply", "note") or (channel and channel not in Channel.values):
            raise DomainError(_("Choose a reply or a note on a known channel."), code="invalid")
        macro = macros.usable_macro(request.user, request.POST.get("macro"))
        macros.send_macro_reply(
            ticket=ticket,
            macro=macro,
            author=request.user,
            text=request.POST.get("text", ""),
            mode=mode,
            channel=channel,
        )
    except DomainError as exc:
        body = {"error": {"code": exc.code, "message": exc.text, "fields": exc.fields}}
        return JsonResponse(body, status=exc.status)
    done = _("Note added.") if mode == "note" else _("Reply queued for delivery.")
    return JsonResponse({"ok": True, "message": done})
