"""tickets -> automation: schedule the event rules of every ticket change after commit."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import transaction
from django.dispatch import receiver

from tickets.automation.engine import active_event_triggers, automation_chain
from tickets.automation.tasks import apply_event_rules
from tickets.models import Direction, Message, RunTrigger, Ticket
from tickets.signals import ticket_changed

logger = logging.getLogger(__name__)

# Fields a message moves on its own; a change of only these is not a "ticket updated"
# event (the message has its own event), so an update rule does not fire on every reply.
MESSAGE_BOOKKEEPING = frozenset(
    {"last_customer_message_at", "last_channel", "last_agent_message_at", "first_response_at"}
)


@receiver(ticket_changed, dispatch_uid="tickets.automation.schedule_event_rules")
def schedule_event_rules(
    sender: Any,
    ticket: Ticket,
    event: str,
    changed: list[str],
    message: Message | None,
    **kwargs: Any,
) -> None:
    if event == "message_added":
        if message is None or message.direction != Direction.INBOUND:
            return
        trigger, event_key = RunTrigger.INBOUND_MESSAGE, f"msg:{message.pk}"
    elif event == "created":
        trigger, event_key = RunTrigger.CREATED, "created"
    else:
        if changed and set(changed) <= MESSAGE_BOOKKEEPING:
            return
        trigger, event_key = RunTrigger.UPDATED, uuid.uuid4().hex
    if trigger not in active_event_triggers():
        return
    args = (ticket.pk, str(trigger), event_key, message.pk if message else None)
    chain = list(automation_chain.get())  # the rules whose actions made this change
    transaction.on_commit(lambda: _request(*args, chain))


def _request(
    ticket_id: int, trigger: str, event_key: str, message_id: int | None, chain: list[int]
) -> None:
    try:
        apply_event_rules.apply_async(
            args=[ticket_id, trigger, event_key, message_id, chain], retry=False
        )
    except Exception:  # after commit: automation must never fail the change that fired it
        logger.exception("automation: rules for ticket %s (%s) did not run", ticket_id, trigger)
