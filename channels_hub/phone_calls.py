"""Store hotline call events: the call, its entry on the customer's ticket, the screen pop
to the agent who takes it, and a call-back task when nobody did.

An event is claimed once per (connection, call id, event) by a unique row, in the same
transaction as everything it writes, so a PBX retry (or the same event twice at once)
is a no-op. Inbound calls become a message on the customer's ticket (channel phone)
through ``tickets.services.thread_inbound_message``: the customer is found by the
normalised number, or created; the message text is rewritten as the call goes on
(state, agent, duration, recording, notes). Outbound calls (an agent calling back) are
written as a note on the customer's open ticket, if there is one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from channels_hub.adapters.base import claim
from channels_hub.adapters.phone import CallEvent, extension_map
from channels_hub.models import ChannelConnection
from channels_hub.phone_models import (
    CALL_STATE_RANK,
    CallbackStatus,
    CallbackTask,
    CallDirection,
    CallEventReceipt,
    CallRecord,
    CallState,
)
from customers.models import Identity, IdentityKind
from omniservice import realtime
from omniservice.celery import TRANSIENT_RETRY, queue_or_run, tasks_run_in_process
from omniservice.errors import DomainError
from tickets import services as tickets
from tickets.models import OPEN_STATUSES, Channel, Priority, Ticket, TicketStatus
from tickets.visibility import profile_of, ticket_groups

logger = logging.getLogger(__name__)

CALLBACK_TAG = "callback"
SCREEN_POP_EVENTS = {"ringing": "call.ringing", "answered": "call.answered"}


@dataclass
class CallOutcome:
    call: CallRecord | None
    duplicate: bool = False


def record_call_event(*, connection: ChannelConnection, event: CallEvent) -> CallOutcome:
    """Apply one verified call event; the same event again returns ``duplicate``."""
    for attempt in range(3):
        if CallEventReceipt.objects.filter(
            connection=connection, call_id=event.call_id, event=event.event
        ).exists():
            return CallOutcome(call=_call_of(connection, event.call_id), duplicate=True)
        try:
            with transaction.atomic():
                return CallOutcome(call=_apply(connection, event))
        except IntegrityError:
            # The same event, or the first event of the same call, was stored meanwhile.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _call_of(connection: ChannelConnection, call_id: str) -> CallRecord | None:
    return CallRecord.objects.filter(connection=connection, call_id=call_id).first()


def _apply(connection: ChannelConnection, event: CallEvent) -> CallRecord | None:
    CallEventReceipt.objects.create(connection=connection, call_id=event.call_id, event=event.event)
    call = CallRecord.objects.select_for_update().filter(
        connection=connection, call_id=event.call_id
    ).first() or CallRecord.objects.create(
        connection=connection,
        call_id=event.call_id,
        direction=event.direction,
        customer_number=event.customer_number,
        line_number=event.line_number[:40],
    )
    now = event.occurred_at or timezone.now()
    agent = _agent_of(connection, event)
    if agent is not None and (call.agent_id is None or event.event == "answered"):
        call.agent = agent
    if CALL_STATE_RANK[event.event] >= CALL_STATE_RANK[call.state]:
        call.state = event.event
    if event.event == "answered":
        call.answered_at = call.answered_at or now
    if event.event in ("ended", "missed", "voicemail"):
        call.ended_at = call.ended_at or now
    if event.duration_seconds is not None:
        call.duration_seconds = event.duration_seconds
    if event.recording_url:
        call.recording_url = event.recording_url
    if not call.customer_number:
        logger.info("phone: call %s has no usable number; nothing on a ticket", call.pk)
        call.save()
        return call
    if event.event not in SCREEN_POP_EVENTS and not tasks_run_in_process():
        # Nobody waits on the line: the ticket work leaves the PBX's request.
        call.save()
        call_id, name = call.pk, event.event
        transaction.on_commit(
            lambda: queue_or_run(write_call_to_ticket, call_id=call_id, event=name)
        )
        return call
    _to_ticket(call, event.event)
    return call


@shared_task(**TRANSIENT_RETRY)
def write_call_to_ticket(call_id: int, event: str) -> None:
    """The ticket side of an event that pops no screen (ended, missed, voicemail)."""
    with transaction.atomic():
        call = CallRecord.objects.select_for_update().filter(pk=call_id).first()
        if call is not None:
            _to_ticket(call, event)


def _to_ticket(call: CallRecord, event: str) -> None:
    """The call's entry on the customer's ticket, the screen pop, the call-back task."""
    _write_to_ticket(call)
    call.save()
    if call.ticket_id is None:
        return
    if event in SCREEN_POP_EVENTS and call.agent_id and call.direction == "inbound":
        if event == "answered":
            _give_ticket_to(call, call.agent)
        realtime.publish(
            [f"agent.{call.agent_id}"],
            SCREEN_POP_EVENTS[event],
            {"call_id": call.pk, "ticket_id": call.ticket_id, "customer_id": call.customer_id},
        )
    if event in ("missed", "voicemail") and call.direction == "inbound":
        _open_callback(call)


def _agent_of(connection: ChannelConnection, event: CallEvent) -> AbstractBaseUser | None:
    """The staff user named by the event: a username, or an extension mapped in the
    connection's ``extensions`` setting. Unknown names are logged and ignored."""
    username = event.agent_username
    if not username and event.agent_extension:
        extensions = extension_map(connection.settings.get("extensions"))
        username = extensions.get(event.agent_extension, "")
    if not username:
        return None
    user = (
        get_user_model()
        .objects.select_related("staff_profile")
        .filter(username=username, is_active=True)
        .first()
    )
    if user is None or (profile_of(user) is None and not user.is_superuser):
        logger.warning("phone: call agent %r is not an active staff user", username)
        return None
    return user


def _write_to_ticket(call: CallRecord) -> None:
    text = call_summary(call)
    if call.message_id is not None:
        tickets.revise_message_text(message=call.message, text=text)
        return
    if call.direction == CallDirection.OUTBOUND:
        ticket = _open_ticket_of_number(call.customer_number)
        if ticket is None:
            logger.info("phone: outbound call %s: the customer has no open ticket", call.pk)
            return
        call.message = tickets.add_note(ticket=ticket, author=call.agent, text=text)
        call.ticket, call.customer_id = ticket, ticket.customer_id
        return
    result = tickets.thread_inbound_message(
        channel=Channel.PHONE,
        external_id=f"call:{call.connection_id}:{call.call_id}",
        identities=[claim(IdentityKind.PHONE, call.customer_number)],
        text=text,
        subject=_("Phone call from %(number)s") % {"number": call.customer_number},
    )
    call.message, call.ticket, call.customer_id = (
        result.message,
        result.ticket,
        result.ticket.customer_id,
    )


def _open_ticket_of_number(number: str) -> Ticket | None:
    customer_id = (
        Identity.objects.filter(kind=IdentityKind.PHONE, value=number)
        .values_list("customer_id", flat=True)
        .first()
    )
    if customer_id is None:
        return None
    return (
        Ticket.objects.filter(
            customer_id=customer_id, status__in=OPEN_STATUSES, merged_into__isnull=True
        )
        .order_by("-updated_at")
        .first()
    )


def call_summary(call: CallRecord) -> str:
    """The call's line on the ticket, in the site's language (like other system text)."""
    with override(settings.LANGUAGE_CODE):
        return _summary(call)


def _summary(call: CallRecord) -> str:
    if call.direction == CallDirection.OUTBOUND:
        head = _("Outbound call to %(number)s") % {"number": call.customer_number}
    else:
        head = _("Inbound call from %(number)s") % {"number": call.customer_number}
    parts = [head, CallState(call.state).label]
    if call.agent is not None:
        name = getattr(profile_of(call.agent), "display_name", "") or call.agent.get_username()
        parts.append(_("agent: %(name)s") % {"name": name})
    if call.duration_seconds is not None:
        minutes, seconds = divmod(call.duration_seconds, 60)
        parts.append(_("duration: %(min)d min %(sec)02d s") % {"min": minutes, "sec": seconds})
    lines = [" · ".join(str(p) for p in parts)]
    if call.recording_url:
        lines.append(_("Voicemail recording: %(url)s") % {"url": call.recording_url})
    if call.notes:
        lines.append(_("Notes: %(notes)s") % {"notes": call.notes})
    return "\n".join(lines)


def _give_ticket_to(call: CallRecord, agent: AbstractBaseUser) -> None:
    """The agent who answers owns the conversation (and so may open the screen pop)."""
    ticket = Ticket.objects.get(pk=call.ticket_id)
    if ticket.assignee_id is None:
        tickets.assign(ticket=ticket, actor=None, assignee=agent)


def _open_callback(call: CallRecord) -> None:
    """One call-back task per call; the ticket is tagged and raised so the inbox shows it."""
    task, created = CallbackTask.objects.get_or_create(call=call, defaults={"ticket": call.ticket})
    if not created:
        return
    ticket = Ticket.objects.get(pk=call.ticket_id)
    names = [*ticket.tags.values_list("name", flat=True), CALLBACK_TAG]
    priority = Priority.HIGH if ticket.priority in (Priority.LOW, Priority.NORMAL) else None
    tickets.update_ticket(ticket=ticket, actor=None, tags=names, priority=priority)
    if ticket.status == TicketStatus.NEW:
        tickets.change_status(ticket=ticket, status=TicketStatus.OPEN, actor=None)
    realtime.publish(
        _callback_groups(ticket),
        "callback.created",
        {"callback_id": task.pk, "ticket_id": ticket.pk},
    )


def _callback_groups(ticket: Ticket) -> set[str]:
    return ticket_groups(Ticket.objects.get(pk=ticket.pk))


# --- console actions ----------------------------------------------------------------------


@transaction.atomic
def add_call_notes(*, call: CallRecord, author: AbstractBaseUser, text: str) -> CallRecord:
    """The agent's notes join the call's entry on the ticket."""
    text = text.strip()
    if not text:
        raise DomainError(_("Write the call notes first."), code="empty_notes")
    call = CallRecord.objects.select_for_update().get(pk=call.pk)
    call.notes = f"{call.notes}\n{text}".strip() if call.notes else text
    if len(call.notes) > 5000:
        raise DomainError(_("Call notes are limited to 5,000 characters."), code="notes_too_long")
    call.save(update_fields=["notes"])
    if call.message_id:
        tickets.revise_message_text(message=call.message, text=call_summary(call))
    return call


@transaction.atomic
def complete_callback(*, task: CallbackTask, actor: AbstractBaseUser) -> CallbackTask:
    task = CallbackTask.objects.select_for_update().get(pk=task.pk)
    if task.status == CallbackStatus.DONE:
        return task
    task.status, task.done_at, task.done_by = CallbackStatus.DONE, timezone.now(), actor
    task.save(update_fields=["status", "done_at", "done_by"])
    ticket = Ticket.objects.get(pk=task.ticket_id)
    if not CallbackTask.objects.filter(ticket=ticket, status=CallbackStatus.OPEN).exists():
        names = [n for n in ticket.tags.values_list("name", flat=True) if n != CALLBACK_TAG]
        tickets.update_ticket(ticket=ticket, actor=actor, tags=names)
    realtime.publish(
        _callback_groups(ticket), "callback.done", {"callback_id": task.pk, "ticket_id": ticket.pk}
    )
    return task
