"""Each ticket's SLA clock, kept up to date inside the transaction of every ticket change.

Targets and when they run:

- first response: from creation until the first reply of an agent (a bot's does not
  count); met or breached is recorded when it comes;
- next response: from the first customer message left unanswered after an agent's
  reply, until the next agent reply (one cycle per exchange);
- resolution: from creation until solved, paused while pending on the customer (and on
  hold if the policy says so); business time already used is kept across pauses, so
  a resumed clock is due later by exactly the paused time. A reopened ticket resumes.

The due instants live on the ticket; ``TicketSla`` keeps the bookkeeping and
``next_check_at``, when the periodic job (``tickets.sla.jobs``) next has a warning or a
breach to look at. Everything is recomputed from that state, so a recompute is
idempotent and a policy, team or priority change applies to time already used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.dispatch import receiver
from django.utils import timezone

from tickets.models import (
    OPEN_STATUSES,
    AuthorKind,
    Direction,
    Message,
    Ticket,
    TicketStatus,
)
from tickets.models.sla import SlaEvent, SlaEventKind, SlaPolicy, SlaTarget, TicketSla
from tickets.signals import ticket_changed
from tickets.sla.calendar import NoBusinessHours, Schedule, add_business_time, business_time_between
from tickets.sla.policies import matching_policy, schedule_for

logger = logging.getLogger(__name__)

DUE_FIELDS = {
    SlaTarget.FIRST_RESPONSE: "first_response_due_at",
    SlaTarget.NEXT_RESPONSE: "next_response_due_at",
    SlaTarget.RESOLUTION: "resolution_due_at",
}
# A change of any other field (subject, tags, assignee...) leaves the clock alone.
# Ticket fields a new message moves; their change is followed by a message_added signal.
MESSAGE_FIELDS = frozenset(
    {"last_channel", "last_customer_message_at", "last_agent_message_at", "first_response_at"}
)
RELEVANT_FIELDS = frozenset(
    {
        "status",
        "priority",
        "team",
        "store",
        "customer",
        "last_channel",
        "last_customer_message_at",
        "last_agent_message_at",
        "first_response_at",
        "merged_into",
    }
)


@dataclass(frozen=True)
class Deadline:
    target: str
    due_at: datetime
    cycle: int


def cycle_of(state: TicketSla, target: str) -> int:
    return state.next_response_cycle if target == SlaTarget.NEXT_RESPONSE else 0


def resolution_paused(status: str, policy: SlaPolicy | None) -> bool:
    if status == TicketStatus.PENDING:
        return True
    return status == TicketStatus.ON_HOLD and bool(policy and policy.pause_on_hold)


def resolution_running(ticket: Ticket, policy: SlaPolicy | None) -> bool:
    return (
        ticket.status in OPEN_STATUSES
        and not ticket.merged_into_id
        and not resolution_paused(ticket.status, policy)
    )


def deadlines(ticket: Ticket, state: TicketSla) -> list[Deadline]:
    """The targets with a due time now, from the ticket's stored due fields."""
    found = []
    for target, field_name in DUE_FIELDS.items():
        due = getattr(ticket, field_name)
        if due is not None:
            found.append(Deadline(target, due, cycle_of(state, target)))
    return found


def recompute(
    ticket: Ticket, *, now: datetime | None = None, message: Message | None = None
) -> TicketSla:
    """Bring the clock of ``ticket`` up to date with its current fields (and ``message``).

    Called with the ticket row locked or just written by the caller's transaction.
    """
    now = now or timezone.now()
    state, created = TicketSla.objects.select_for_update().get_or_create(ticket=ticket)
    policy = matching_policy(ticket)
    schedule = schedule_for(ticket, policy)
    previous_due = {target: getattr(ticket, name) for target, name in DUE_FIELDS.items()}

    _reconcile_resolution(state, ticket, policy, schedule, now=now, created=created)
    if message is not None:
        _apply_message(state, ticket, message, policy, previous_due)
    if ticket.status in (TicketStatus.SOLVED, TicketStatus.CLOSED) and state.status in (
        OPEN_STATUSES
    ):
        due = previous_due[SlaTarget.RESOLUTION]
        if due is not None:
            record_outcome(ticket, SlaTarget.RESOLUTION, 0, due, now, policy)

    due_times = _due_times(state, ticket, policy, schedule)
    changed = [
        DUE_FIELDS[target]
        for target, value in due_times.items()
        if getattr(ticket, DUE_FIELDS[target]) != value
    ]
    for target, value in due_times.items():
        setattr(ticket, DUE_FIELDS[target], value)
    if changed:
        Ticket.objects.filter(pk=ticket.pk).update(
            **{name: getattr(ticket, name) for name in changed}
        )
    state.policy = policy
    state.status = ticket.status
    state.calendar_label = schedule.label[:120]
    state.next_check_at = next_check(ticket, state, policy)
    state.save()
    return state


def _reconcile_resolution(
    state: TicketSla,
    ticket: Ticket,
    policy: SlaPolicy | None,
    schedule: Schedule,
    *,
    now: datetime,
    created: bool,
) -> None:
    running = resolution_running(ticket, policy)
    if state.resolution_running_since is not None and not running:
        used = business_time_between(schedule, state.resolution_running_since, now)
        state.resolution_used_seconds += int(used.total_seconds())
        state.resolution_running_since = None
    elif state.resolution_running_since is None and running:
        started = ticket.created_at if created and ticket.created_at else now
        state.resolution_running_since = min(started, now)


def _apply_message(
    state: TicketSla,
    ticket: Ticket,
    message: Message,
    policy: SlaPolicy | None,
    previous_due: dict[str, datetime | None],
) -> None:
    at = message.created_at
    if message.direction == Direction.INBOUND:
        if state.first_responded_at is not None and state.next_response_since is None:
            state.next_response_since = at
            state.next_response_cycle += 1
    elif message.direction == Direction.OUTBOUND and message.author_kind == AuthorKind.AGENT:
        if state.first_responded_at is None:
            state.first_responded_at = at
            due = previous_due[SlaTarget.FIRST_RESPONSE]
            if due is not None:
                record_outcome(ticket, SlaTarget.FIRST_RESPONSE, 0, due, at, policy)
        if state.next_response_since is not None:
            due = previous_due[SlaTarget.NEXT_RESPONSE]
            if due is not None:
                record_outcome(
                    ticket, SlaTarget.NEXT_RESPONSE, state.next_response_cycle, due, at, policy
                )
            state.next_response_since = None


def _due_times(
    state: TicketSla, ticket: Ticket, policy: SlaPolicy | None, schedule: Schedule
) -> dict[str, datetime | None]:
    due: dict[str, datetime | None] = dict.fromkeys(DUE_FIELDS)
    if policy is None or ticket.status not in OPEN_STATUSES or ticket.merged_into_id:
        return due
    try:
        if policy.first_response_minutes and state.first_responded_at is None:
            due[SlaTarget.FIRST_RESPONSE] = add_business_time(
                schedule, ticket.created_at, timedelta(minutes=policy.first_response_minutes)
            )
        if policy.next_response_minutes and state.next_response_since is not None:
            due[SlaTarget.NEXT_RESPONSE] = add_business_time(
                schedule, state.next_response_since, timedelta(minutes=policy.next_response_minutes)
            )
        if policy.resolution_minutes and state.resolution_running_since is not None:
            left = timedelta(minutes=policy.resolution_minutes) - timedelta(
                seconds=state.resolution_used_seconds
            )
            due[SlaTarget.RESOLUTION] = add_business_time(
                schedule, state.resolution_running_since, left
            )
    except NoBusinessHours:
        logger.warning("sla: calendar %r has no open hours; no due times", schedule.label)
        return dict.fromkeys(DUE_FIELDS)
    return due


def resolution_left(state: TicketSla, policy: SlaPolicy | None) -> timedelta | None:
    """Business time left on a paused resolution clock (None without a target)."""
    if policy is None or not policy.resolution_minutes:
        return None
    return timedelta(minutes=policy.resolution_minutes) - timedelta(
        seconds=state.resolution_used_seconds
    )


def recorded_events(ticket: Ticket) -> set[tuple[str, str, int]]:
    return set(SlaEvent.objects.filter(ticket=ticket).values_list("target", "kind", "cycle"))


def next_check(
    ticket: Ticket,
    state: TicketSla,
    policy: SlaPolicy | None,
    recorded: set[tuple[str, str, int]] | None = None,
) -> datetime | None:
    """The earliest warning or breach not recorded yet, among the current due times."""
    if policy is None:
        return None
    found = deadlines(ticket, state)
    if not found:
        return None
    recorded = recorded_events(ticket) if recorded is None else recorded
    lead = timedelta(minutes=policy.warning_minutes)
    instants = []
    for deadline in found:
        if (deadline.target, SlaEventKind.BREACH, deadline.cycle) in recorded:
            continue
        instants.append(deadline.due_at)
        if lead and (deadline.target, SlaEventKind.WARNING, deadline.cycle) not in recorded:
            instants.append(deadline.due_at - lead)
    return min(instants, default=None)


def claim_event(
    ticket: Ticket,
    *,
    target: str,
    kind: str,
    cycle: int,
    due_at: datetime,
    at: datetime,
    policy: SlaPolicy | None,
) -> SlaEvent | None:
    """Insert the event row; None if it exists already (someone else did the work)."""
    try:
        with transaction.atomic():
            return SlaEvent.objects.create(
                ticket=ticket,
                target=target,
                kind=kind,
                cycle=cycle,
                due_at=due_at,
                at=at,
                policy=policy,
            )
    except IntegrityError:
        return None


def record_outcome(
    ticket: Ticket,
    target: str,
    cycle: int,
    due_at: datetime,
    at: datetime,
    policy: SlaPolicy | None,
) -> None:
    """A target was fulfilled at ``at``: met, or a (late) breach if the job missed it."""
    if at <= due_at:
        claim_event(
            ticket,
            target=target,
            kind=SlaEventKind.MET,
            cycle=cycle,
            due_at=due_at,
            at=at,
            policy=policy,
        )
        return
    event = claim_event(
        ticket,
        target=target,
        kind=SlaEventKind.BREACH,
        cycle=cycle,
        due_at=due_at,
        at=at,
        policy=policy,
    )
    if event is not None and ticket.sla_breached_at is None:
        ticket.sla_breached_at = due_at
        Ticket.objects.filter(pk=ticket.pk).update(sla_breached_at=due_at)


@receiver(ticket_changed, dispatch_uid="tickets.sla.update_sla_clock")
def update_sla_clock(
    sender: Any,
    ticket: Ticket,
    event: str,
    changed: list[str] | tuple[str, ...] = (),
    message: Message | None = None,
    **kwargs: Any,
) -> None:
    """tickets -> sla: recompute the due times in the transaction of the change."""
    if event == "created" and kwargs.get("message_follows"):
        return  # the first message's message_added recomputes, once, with the message
    relevant = RELEVANT_FIELDS.intersection(changed)
    if event == "updated" and (not relevant or relevant <= MESSAGE_FIELDS):
        # Nothing the clock reads, or only what a new message moved: the message_added
        # signal that follows in the same transaction recomputes once, with the message.
        return
    if event == "message_added" and (
        message is None or message.direction not in (Direction.INBOUND, Direction.OUTBOUND)
    ):
        return
    recompute(ticket, message=message if event == "message_added" else None)
