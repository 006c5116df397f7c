"""Routing's write side besides the engine: assignment and transfer by hand with a note,
the routing needs of a ticket, re-queuing an agent's chats, store overflow."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from omniservice.errors import ConflictError, DomainError
from omniservice.org.models import Skill, StaffProfile, Team
from tickets import services
from tickets.models import (
    OPEN_STATUSES,
    CapacityKind,
    DecisionKind,
    QueueEntry,
    RoutingDecision,
    RoutingPolicy,
    Ticket,
    TicketStatus,
)
from tickets.routing import queue, rules

MAX_NOTE_CHARS = 2000
_LOGGING_BY_HAND: ContextVar[bool] = ContextVar("routing_manual_logged", default=False)


@contextlib.contextmanager
def _logged_here() -> Iterator[None]:
    token = _LOGGING_BY_HAND.set(True)
    try:
        yield
    finally:
        _LOGGING_BY_HAND.reset(token)


def manual_change_is_logged() -> bool:
    return _LOGGING_BY_HAND.get()


def _load_of(user_id: int) -> dict[str, int]:
    load: dict[str, int] = {}
    for last, origin in Ticket.objects.filter(
        assignee_id=user_id, status__in=OPEN_STATUSES
    ).values_list("last_channel", "origin_channel"):
        kind = rules.ticket_kind(last, origin)
        load[kind] = load.get(kind, 0) + 1
    return load


@transaction.atomic
def transfer_ticket(
    *,
    ticket: Ticket,
    actor: AbstractBaseUser | None,
    assignee: AbstractBaseUser | bool | None = False,
    team: Team | bool | None = False,
    note: str = "",
) -> Ticket:
    """Assign or transfer a ticket by hand (to an agent and/or a team), with a note.

    ``False`` leaves a field as it is, None clears it. The target's presence and load are
    recorded with the decision: a person may knowingly go past an agent's capacity.
    """
    note = (note or "").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise DomainError(
            _("A transfer note is limited to 2,000 characters."),
            code="note_too_long",
            fields={"note": [_("A transfer note is limited to 2,000 characters.")]},
        )
    if assignee is False and team is False:
        raise DomainError(
            _("Choose an agent or a team to transfer to."),
            code="transfer_target_missing",
            fields={"assignee": [_("Choose an agent or a team to transfer to.")]},
        )
    locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if locked.status == TicketStatus.CLOSED or locked.merged_into_id:
        raise ConflictError(_("A closed ticket cannot be transferred."), code="ticket_closed")
    before_assignee, before_team = locked.assignee_id, locked.team_id
    details: dict = {"from_assignee": before_assignee, "from_team": before_team}
    if assignee:
        profile = StaffProfile.objects.filter(user_id=assignee.pk).first()
        if profile is not None:
            kind = rules.ticket_kind(locked.last_channel, locked.origin_channel)
            details.update(
                presence=profile.presence,
                kind=kind,
                load=_load_of(assignee.pk).get(kind, 0),
                capacity=(profile.capacity or {}).get(kind, 0),
            )
    with _logged_here():
        ticket = services.assign(ticket=locked, actor=actor, assignee=assignee, team=team)
        if note:
            services.add_note(ticket=ticket, author=actor, text=note)
    moved = before_assignee is not None and ticket.assignee_id != before_assignee
    moved = moved or (
        team is not False and before_team is not None and ticket.team_id != before_team
    )
    RoutingDecision.objects.create(
        ticket=ticket,
        kind=DecisionKind.TRANSFERRED if moved else DecisionKind.MANUAL,
        reason="to_agent" if ticket.assignee_id else "to_team",
        team_id=ticket.team_id,
        assignee_id=ticket.assignee_id,
        actor=actor,
        note=note,
        details=details,
    )
    return ticket


@transaction.atomic
def set_routing_needs(
    *, ticket: Ticket, skills: Iterable[Skill] | None = None, language: str | None = None
) -> Ticket:
    """The skills and language an agent needs for this ticket (automation may call it)."""
    from django.conf import settings

    locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
    changed = []
    if language is not None and language != locked.language:
        if language and language not in {code for code, _name in settings.LANGUAGES}:
            raise DomainError(_("Unknown language."), code="invalid_language")
        locked.language = language
        locked.save(update_fields=["language", "updated_at"])
        changed.append("language")
    if skills is not None:
        locked.required_skills.set(list(skills))
        changed.append("required_skills")
    if changed:
        if queue.needs_routing(locked):
            queue.sync_ticket(locked)
        services.publish_ticket_change(locked, changed)
    return locked


def requeue_unanswered_chats(*, user_id: int) -> int:
    """An agent went offline: their open chats still waiting for an answer go back to the
    queue (with their place kept: waiting time counts from the customer's message)."""
    profile = StaffProfile.objects.filter(user_id=user_id).first()
    if profile is None or profile.presence != "offline":
        return 0
    chat_channels = [c for c, kind in rules.CHANNEL_KIND.items() if kind == CapacityKind.CHAT]
    unanswered = Q(last_agent_message_at__isnull=True) | Q(
        last_customer_message_at__gt=F("last_agent_message_at")
    )
    channel = Q(last_channel__in=chat_channels) | Q(
        last_channel="", origin_channel__in=chat_channels
    )
    ids = list(
        Ticket.objects.filter(
            unanswered,
            channel,
            assignee_id=user_id,
            status__in=queue.ROUTABLE_STATUSES,
            merged_into__isnull=True,
        ).values_list("pk", flat=True)
    )
    count = 0
    for ticket_id in ids:
        with transaction.atomic():
            ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
            if ticket.assignee_id != user_id:
                continue
            RoutingDecision.objects.create(
                ticket=ticket,
                kind=DecisionKind.REQUEUED,
                reason="agent_offline",
                team_id=ticket.team_id,
                assignee_id=user_id,
            )
            with _logged_here():
                services.assign(ticket=ticket, actor=None, assignee=None)
            count += 1
    return count


def overflow_store_tickets() -> int:
    """Store tickets whose store-first window passed while they wait in a store's team
    move to the overflow team (the policy's, else the default rules' team)."""
    now = timezone.now()
    due = list(
        QueueEntry.objects.filter(store_only_until__lte=now, team__store__isnull=False).values_list(
            "pk", "team_id"
        )
    )
    if not due:
        return 0
    targets = dict(
        RoutingPolicy.objects.filter(
            team_id__in={team for _pk, team in due}, overflow_team__isnull=False
        ).values_list("team_id", "overflow_team_id")
    )
    resolver = queue.TeamResolver()
    teams = {t.pk: t for t in Team.objects.filter(pk__in=set(targets.values()))}
    moved = 0
    for ticket_id, team_id in due:
        with transaction.atomic():
            ticket = Ticket.objects.select_for_update().filter(pk=ticket_id).first()
            if ticket is None or not queue.needs_routing(ticket) or ticket.team_id != team_id:
                continue
            target = teams.get(targets.get(team_id, 0))
            if target is None:
                target = resolver.default_team(
                    ticket.last_channel or ticket.origin_channel, ticket.language
                )
            if target is None or target.pk == team_id:
                continue
            RoutingDecision.objects.create(
                ticket=ticket,
                kind=DecisionKind.OVERFLOWED,
                reason="store_wait_over",
                team=target,
                details={"from_team": team_id},
            )
            with _logged_here():
                services.assign(ticket=ticket, actor=None, team=target)
            moved += 1
    return moved
