"""Hotline views: the PBX's webhook, and the console's call notes and call-back list."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from channels_hub.adapters import WebhookRefused, adapter_for
from channels_hub.adapters.phone import PhoneAdapter
from channels_hub.connections import webhook_connection
from channels_hub.phone_calls import add_call_notes, complete_callback, record_call_event
from channels_hub.phone_models import CallbackStatus, CallbackTask, CallRecord
from omniservice.errors import DomainError
from tickets.models import Channel
from tickets.views import console_view
from tickets.visibility import can_see, tickets_visible_to, visibility_filter

logger = logging.getLogger(__name__)
CALLBACKS_SHOWN = 100


def _refusal(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


@csrf_exempt
def phone_webhook(request: HttpRequest, key: str) -> HttpResponse:
    """``POST /hooks/phone/<key>/``: one signed call event (docs/channels.md)."""
    connection = webhook_connection(Channel.PHONE, key)
    adapter = adapter_for(Channel.PHONE)
    if connection is None or not isinstance(adapter, PhoneAdapter):
        logger.warning("phone webhook dropped: no active connection with this key")
        return _refusal("unknown_connection", _("No active connection has this URL."), 404)
    if request.method != "POST":
        return _refusal("method_not_allowed", _("Use POST."), 405)
    try:
        adapter.verify(request, connection)
        event = adapter.parse_call_event(request, connection)
    except WebhookRefused as refusal:
        logger.warning("phone webhook refused: connection=%s code=%s", connection.pk, refusal.code)
        return _refusal(refusal.code, str(refusal), refusal.status)
    try:
        outcome = record_call_event(connection=connection, event=event)
    except DomainError as exc:  # e.g. a number the customers app refuses: do not retry
        logger.warning("phone call %s/%s dropped: %s", connection.pk, event.call_id, exc.code)
        return JsonResponse({"ok": True, "stored": False})
    call = outcome.call
    logger.info(
        "phone webhook %s: call %s %s%s",
        connection.pk,
        event.call_id,
        event.event,
        " (duplicate)" if outcome.duplicate else "",
    )
    return JsonResponse(
        {
            "ok": True,
            "duplicate": outcome.duplicate,
            "call": call.pk if call else None,
            "ticket": call.ticket_id if call else None,
        }
    )


def _visible_call(request: HttpRequest, call_id: int) -> CallRecord:
    call = CallRecord.objects.select_related("ticket").filter(pk=call_id).first()
    if call is None or call.ticket is None:
        raise Http404
    if call.agent_id != request.user.pk and not can_see(request.user, call.ticket):
        raise Http404
    return call


@require_GET
@console_view
def call_pop(request: HttpRequest, call_id: int) -> HttpResponse:
    """The screen pop's content (the live event carries ids only): who is calling."""
    call = _visible_call(request, call_id)
    customer = call.ticket.customer
    return JsonResponse(
        {
            "call": call.pk,
            "state": call.state,
            "state_label": call.get_state_display(),
            "number": call.customer_number,
            "customer": customer.name or customer.public_id,
            "tier": customer.get_tier_display(),
            "ticket": call.ticket_id,
            "subject": call.ticket.subject,
        }
    )


@require_POST
@console_view
def call_notes(request: HttpRequest, call_id: int) -> HttpResponse:
    call = _visible_call(request, call_id)
    try:
        add_call_notes(call=call, author=request.user, text=request.POST.get("notes", ""))
    except DomainError as exc:
        return _answer(request, call.ticket_id, exc.text, ok=False, code=exc.code)
    return _answer(request, call.ticket_id, _("Call notes saved."))


@require_GET
@console_view
def callback_list(request: HttpRequest) -> HttpResponse:
    tasks = CallbackTask.objects.filter(status=CallbackStatus.OPEN).select_related(
        "call", "ticket__customer"
    )
    condition = visibility_filter(request.user)
    if condition is not None:
        tasks = tasks.filter(ticket__in=tickets_visible_to(request.user).values("pk"))
    return render(
        request,
        "channels_hub/phone/callbacks.html",
        {"tasks": tasks.order_by("created_at")[:CALLBACKS_SHOWN]},
    )


@require_POST
@console_view
def callback_done(request: HttpRequest, task_id: int) -> HttpResponse:
    task = CallbackTask.objects.select_related("ticket").filter(pk=task_id).first()
    if task is None or not can_see(request.user, task.ticket):
        raise Http404
    complete_callback(task=task, actor=request.user)
    if request.POST.get("next") == "ticket":
        return _answer(request, task.ticket_id, _("Call-back done."))
    messages.success(request, _("Call-back done."))
    return redirect("phone:callbacks")


def _answer(
    request: HttpRequest, ticket_id: int, text: str, *, ok: bool = True, code: str = ""
) -> HttpResponse:
    if "application/json" in request.headers.get("Accept", ""):
        if ok:
            return JsonResponse({"ok": True, "message": text})
        return JsonResponse({"error": {"code": code, "message": text}}, status=400)
    (messages.success if ok else messages.error)(request, text)
    return redirect("console:ticket", number=ticket_id)
