"""The periodic SLA job: warn before a breach, record breaches, escalate as the policy says.

``check_sla_deadlines`` runs every minute (``CELERY_BEAT_SCHEDULE["sla-deadlines"]``). It
reads the indexed ``TicketSla.next_check_at`` to find only the tickets with something
due, and handles each in its own transaction with the ticket row locked. A warning or
breach is claimed by inserting its unique ``SlaEvent`` row, so repeated or concurrent
runs warn once and escalate once per target (and per next-response cycle).

Notifications are live events (``sla.warning`` / ``sla.breached``) to the assignee's and
the team lead's groups (and the managers' on a breach when the policy says so), plus a
system event message on the ticket. No email.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from omniservice import realtime
from omniservice.celery import TRANSIENT_RETRY
from omniservice.org.models import Team
from tickets import services
from tickets.models import (
    OPEN_STATUSES,
    PRIORITY_RANK,
    Message,
    Priority,
    Ticket,
)
from tickets.models.sla import (
    EscalationReassign,
    SlaEvent,
    SlaEventKind,
    SlaPolicy,
    SlaTarget,
    TicketSla,
)
from tickets.signals import ticket_changed
from tickets.sla.clock import Deadline, claim_event, deadlines, recompute, recorded_events
from tickets.visibility import GENERAL_QUEUE_GROUP, MANAGERS_GROUP, ticket_groups

logger = logging.getLogger(__name__)

BATCH_SIZE = 500


@shared_task(name="tickets.sla.check_sla_deadlines", **TRANSIENT_RETRY)
def check_sla_deadlines() -> int:
    """Handle every ticket whose next warning or breach is due; returns how many."""
    now = timezone.now()
    ids = list(
        TicketSla.objects.filter(next_check_at__lte=now)
        .order_by("next_check_at")
        .values_list("ticket_id", flat=True)[:BATCH_SIZE]
    )
    handled = 0
    for ticket_id in ids:
        try:
            handled += bool(process_ticket_deadlines(ticket_id=ticket_id, now=now))
        except Exception:  # one broken ticket must not stop the others
            logger.exception("sla: could not check ticket %s", ticket_id)
    return handled


@transaction.atomic
def process_ticket_deadlines(*, ticket_id: int, now: datetime | None = None) -> list[SlaEvent]:
    """Warn or breach what is due on one ticket; returns the events recorded now."""
    now = now or timezone.now()
    queryset = Ticket.objects.select_related("team", "customer", "store")
    if connection.features.has_select_for_update_skip_locked:
        queryset = queryset.select_for_update(skip_locked=True, of=("self",))
    else:
        queryset = queryset.select_for_update()
    ticket = queryset.filter(pk=ticket_id).first()
    if ticket is None:
        return []  # gone, or another worker holds it and will handle it
    state = recompute(ticket, now=now)
    policy = state.policy
    if policy is None or ticket.status not in OPEN_STATUSES:
        return []
    recorded = recorded_events(ticket)
    lead = timedelta(minutes=policy.warning_minutes)
    done: list[SlaEvent] = []
    for deadline in deadlines(ticket, state):
        if (deadline.target, SlaEventKind.BREACH, deadline.cycle) in recorded:
            continue
        if now >= deadline.due_at:
            kind = SlaEventKind.BREACH
        elif lead and now >= deadline.due_at - lead:
            if (deadline.target, SlaEventKind.WARNING, deadline.cycle) in recorded:
                continue
            kind = SlaEventKind.WARNING
        else:
            continue
        event = _claim(ticket, deadline, kind, now, policy)
        if event is not None:
            done.append(event)
    with translation.override(settings.LANGUAGE_CODE):
        for event in [e for e in done if e.kind == SlaEventKind.WARNING]:
            _warn(ticket, event)
        breaches = [e for e in done if e.kind == SlaEventKind.BREACH]
        for event in breaches:
            _breach(ticket, event, policy)
        if breaches:
            _escalate(ticket, breaches, policy)
    ticket.refresh_from_db()
    recompute(ticket, now=now)
    return done


def _claim(
    ticket: Ticket, deadline: Deadline, kind: str, now: datetime, policy: SlaPolicy
) -> SlaEvent | None:
    return claim_event(
        ticket,
        target=deadline.target,
        kind=kind,
        cycle=deadline.cycle,
        due_at=deadline.due_at,
        at=now,
        policy=policy,
    )


# --- notifications ----------------------------------------------------------------------


def people_to_warn(ticket: Ticket) -> set[str]:
    """The assignee and the team lead; the team (or general queue) when nobody is assigned."""
    groups = set()
    if ticket.assignee_id:
        groups.add(f"agent.{ticket.assignee_id}")
    elif ticket.team_id:
        groups.add(f"team.{ticket.team_id}")
    elif not ticket.store_id:
        groups.add(GENERAL_QUEUE_GROUP)
    else:
        groups.add(f"store.{ticket.store_id}")
    if ticket.team_id and ticket.team.lead_id:
        groups.add(f"agent.{ticket.team.lead_id}")
    return groups


def _payload(ticket: Ticket, event: SlaEvent) -> dict:
    return {
        "ticket_id": ticket.pk,
        "target": event.target,
        "due_at": event.due_at.isoformat(),
        "priority": ticket.priority,
        "team_id": ticket.team_id,
        "assignee_id": ticket.assignee_id,
    }


def _warn(ticket: Ticket, event: SlaEvent) -> None:
    realtime.publish(people_to_warn(ticket), "sla.warning", _payload(ticket, event))
    _system_message(
        ticket,
        _("SLA warning: %(target)s is due at %(due)s.")
        % {"target": SlaTarget(event.target).label, "due": _when(event.due_at)},
    )


def _breach(ticket: Ticket, event: SlaEvent, policy: SlaPolicy) -> None:
    groups = people_to_warn(ticket)
    if policy.escalate_notify_managers:
        groups.add(MANAGERS_GROUP)
        event.escalation = [*event.escalation, "notify_managers"]
        event.save(update_fields=["escalation"])
    realtime.publish(groups, "sla.breached", _payload(ticket, event))
    _system_message(
        ticket,
        _("SLA breached: %(target)s was due at %(due)s.")
        % {"target": SlaTarget(event.target).label, "due": _when(event.due_at)},
    )
    if ticket.sla_breached_at is None:
        ticket.sla_breached_at = event.due_at
        Ticket.objects.filter(pk=ticket.pk).update(sla_breached_at=event.due_at)
        realtime.publish(
            ticket_groups(ticket),
            "ticket.updated",
            {
                "ticket_id": ticket.pk,
                "changed": ["sla_breached_at"],
                "status": ticket.status,
                "priority": ticket.priority,
                "team_id": ticket.team_id,
                "assignee_id": ticket.assignee_id,
                "store_id": ticket.store_id,
            },
        )
        ticket_changed.send(
            Ticket, ticket=ticket, event="updated", changed=["sla_breached_at"], message=None
        )


def _escalate(ticket: Ticket, breaches: list[SlaEvent], policy: SlaPolicy) -> None:
    """Raise the priority one step, move to the policy's team, reassign: once per breach."""
    actions: list[str] = []
    if policy.escalate_raise_priority:
        rank = PRIORITY_RANK[ticket.priority]
        if rank + 1 < len(Priority.values):
            higher = Priority.values[rank + 1]
            ticket = services.update_ticket(ticket=ticket, actor=None, priority=higher)
            actions.append(f"priority:{higher}")
    team = policy.escalate_to_team
    if team is not None and team.pk != ticket.team_id:
        keeps_assignee = (
            ticket.assignee_id
            and get_user_model()
            .objects.filter(pk=ticket.assignee_id, staff_profile__teams=team)
            .exists()
        )
        ticket = services.assign(
            ticket=ticket, actor=None, team=team, assignee=False if keeps_assignee else None
        )
        actions.append(f"team:{team.pk}")
    actions.extend(_reassign(ticket, policy.escalate_reassign))
    if not actions:
        return
    for event in breaches:
        event.escalation = [*event.escalation, *actions]
        event.save(update_fields=["escalation"])
    _system_message(
        ticket,
        _("Escalated by the SLA policy %(policy)s: %(actions)s.")
        % {"policy": policy.name, "actions": ", ".join(_describe(a) for a in actions)},
    )


def _reassign(ticket: Ticket, how: str) -> list[str]:
    """Take the ticket from its assignee: back to the team's queue (routing picks another
    agent) or to the team lead; nothing when it already is where the policy sends it."""
    if how == EscalationReassign.QUEUE and ticket.assignee_id:
        services.assign(ticket=ticket, actor=None, assignee=None)
        return ["unassigned"]
    if how == EscalationReassign.LEAD and ticket.team_id and ticket.team.lead_id:
        lead = ticket.team.lead
        is_staff = hasattr(lead, "staff_profile") or lead.is_superuser
        if is_staff and lead.pk != ticket.assignee_id:
            services.assign(ticket=ticket, actor=None, assignee=lead)
            return [f"assignee:{lead.pk}"]
    return []


def _describe(action: str) -> str:
    kind, _sep, value = action.partition(":")
    if kind == "priority":
        return _("priority raised to %(priority)s") % {"priority": Priority(value).label}
    if kind == "unassigned":
        return _("returned to the team's queue for another agent")
    if kind == "assignee":
        user = get_user_model().objects.filter(pk=int(value)).first()
        name = (user.get_full_name() or user.get_username()) if user else value
        return _("reassigned to %(name)s") % {"name": name}
    name = Team.objects.filter(pk=int(value)).values_list("name", flat=True).first()
    return _("moved to team %(team)s") % {"team": name or value}


def _when(instant: datetime) -> str:
    return formats.date_format(timezone.localtime(instant), "Y-m-d H:i")


def _system_message(ticket: Ticket, text: str) -> Message:
    return services.add_timeline_event(ticket=ticket, text=text, signal=False)


@shared_task(name="tickets.sla.recompute_open_tickets", **TRANSIENT_RETRY)
def recompute_open_tickets(after_id: int = 0, chunk: int = 200, store_id: int | None = None) -> int:
    """Apply edited policies or calendars to every open ticket (or those of one store),
    a chunk per transaction."""
    done = 0
    scope = Ticket.objects.filter(status__in=OPEN_STATUSES, merged_into__isnull=True)
    if store_id is not None:
        scope = scope.filter(store_id=store_id)
    while True:
        ids = list(
            scope.filter(pk__gt=after_id).order_by("pk").values_list("pk", flat=True)[:chunk]
        )
        if not ids:
            return done
        with transaction.atomic():
            for ticket in Ticket.objects.select_for_update().filter(pk__in=ids).order_by("pk"):
                recompute(ticket)
                done += 1
        after_id = ids[-1]
