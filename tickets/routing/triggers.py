"""When routing runs: Celery tasks and the receivers that schedule them.

- a ticket starts needing an assignee (created, unassigned, reopened, moved to another
  team…): the ``ticket_changed`` receiver updates its queue entry in the same transaction
  and, on commit, routes that team's queue;
- capacity frees (a ticket solved, closed, merged or reassigned): the queues of the
  agent (or, for a reassignment, of the ticket's team) are made ready again and routed;
- an agent's presence changes (``omniservice.org.signals.presence_changed``): coming
  online routes their queues; going offline re-queues their unanswered chats;
- the periodic sweep (``CELERY_BEAT_SCHEDULE["routing-sweep"]``) repairs the queue,
  overflows store tickets and routes everything that is ready.

Tasks take ids, are idempotent (a second run finds nothing to do) and safe to run in
any number of workers at once (see ``tickets.routing.engine``).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from omniservice import config_cache
from omniservice.celery import TRANSIENT_RETRY, queue_or_run, queue_task, queue_unless_waiting
from omniservice.org.models import Presence, Role, StaffProfile, Team
from omniservice.org.signals import presence_changed
from tickets import services
from tickets.models import DecisionKind, DefaultTeamRule, RoutingDecision, Ticket
from tickets.routing import engine, queue
from tickets.routing.guard import routing_is_writing, routing_writes
from tickets.signals import ticket_changed

RELEVANT_FIELDS = frozenset(
    {"status", "assignee", "team", "store", "priority", "merged_into", "last_channel", "language"}
)
FREEING_FIELDS = frozenset({"status", "assignee", "merged_into"})


def forget_default_team_rules(sender: Any, **kwargs: Any) -> None:
    config_cache.invalidate(queue.DEFAULT_TEAM_RULES)


for _model in (DefaultTeamRule, Team):
    post_save.connect(
        forget_default_team_rules, sender=_model, dispatch_uid=f"routing-rules-{_model}"
    )
    post_delete.connect(
        forget_default_team_rules, sender=_model, dispatch_uid=f"routing-rules-d-{_model}"
    )


# A run of these queues is waiting for a worker: changes until it starts ride on it
# instead of queueing another run each (a busy team gets hundreds of tickets a minute).
# The run clears the marker when it starts; the timeout bounds what a lost task holds up.
SCHEDULED_MARKER = "routing-scheduled:{}"
SCHEDULED_MARKER_SECONDS = 60


def _schedule(team_keys: list[int] | None) -> None:
    keys = sorted(set(team_keys)) if team_keys is not None else None
    transaction.on_commit(lambda: _enqueue_routing(keys))


def _enqueue_routing(keys: list[int] | None) -> None:
    marker = SCHEDULED_MARKER.format("all" if keys is None else ",".join(map(str, keys)))
    queue_unless_waiting(
        route_waiting_tickets,
        waiting_marker=marker,
        marker_seconds=SCHEDULED_MARKER_SECONDS,
        team_keys=keys,
        marker=marker,
    )


def _agent_queues(profile: StaffProfile) -> tuple[list[int], list[int]]:
    team_ids = list(profile.teams.values_list("pk", flat=True))
    store_ids = list(profile.teams.filter(store__isnull=False).values_list("store_id", flat=True))
    if profile.home_store_id:
        store_ids.append(profile.home_store_id)
    return team_ids, store_ids


def reopen_agent_queues(user_id: int) -> list[int] | None:
    """Make the queues an agent serves ready again; their team keys (None: all)."""
    profile = StaffProfile.objects.filter(user_id=user_id).first()
    if profile is None or profile.role not in {Role.AGENT, Role.STORE_STAFF}:
        return []
    team_ids, store_ids = _agent_queues(profile)
    queue.reopen_for(team_ids=team_ids, store_ids=store_ids, general=True)
    # store queues live in other teams: route everything rather than guess which.
    return None if store_ids else [*team_ids, engine.GENERAL]


@receiver(ticket_changed, dispatch_uid="tickets.routing.on_ticket_changed")
def on_ticket_changed(
    sender: Any, ticket: Ticket, event: str, changed: list[str], **kwargs: Any
) -> None:
    if routing_is_writing() or event == "message_added":
        return
    if event != "created" and not RELEVANT_FIELDS.intersection(changed):
        return
    with routing_writes():
        waits, fixed = queue.sync_ticket(ticket)
        if "team" in fixed:  # it enters a team's inbox; a language alone shows nowhere
            services.publish_ticket_change(ticket, fixed)
    keys: set[int] | None = set()
    if waits:
        keys.add(ticket.team_id or engine.GENERAL)
    if event == "updated" and FREEING_FIELDS.intersection(changed):
        if "assignee" in changed and not routing_is_writing():
            _log_manual(ticket)
        if ticket.assignee_id and "status" in changed and not ticket.is_open:
            agent_keys = reopen_agent_queues(ticket.assignee_id)
            keys = None if agent_keys is None else keys | set(agent_keys)
        elif keys is not None and ("assignee" in changed or ticket.assignee_id):
            # Someone's capacity may be free (an assignee left or the assigned ticket
            # moved); an unassigned ticket changing status or merging frees nobody's, and
            # reopening the whole queue for it would re-scan every waiting ticket.
            queue.reopen_for(team_ids=[ticket.team_id] if ticket.team_id else [], general=True)
            keys.add(ticket.team_id or engine.GENERAL)
    if keys is None or keys:
        _schedule(None if keys is None else list(keys))


def _log_manual(ticket: Ticket) -> None:
    """An assignment made outside routing (console control, API) is a decision too."""
    from tickets.routing.services import manual_change_is_logged

    if manual_change_is_logged():
        return
    RoutingDecision.objects.create(
        ticket=ticket,
        kind=DecisionKind.MANUAL,
        reason="assigned" if ticket.assignee_id else "unassigned",
        team_id=ticket.team_id,
        assignee_id=ticket.assignee_id,
    )


@receiver(presence_changed, dispatch_uid="tickets.routing.on_presence_changed")
def on_presence_changed(
    sender: Any, profile: StaffProfile, presence: str, previous: str = "", **kwargs: Any
) -> None:
    user_id = profile.user_id
    if presence == Presence.ONLINE:  # without a broker the routing sweep gets to it
        transaction.on_commit(lambda: queue_task(route_for_agent, user_id=user_id))
    elif presence == Presence.OFFLINE:
        transaction.on_commit(lambda: queue_or_run(requeue_unanswered_chats, user_id=user_id))


@shared_task(**TRANSIENT_RETRY)
def route_waiting_tickets(team_keys: list[int] | None = None, marker: str = "") -> int:
    """Assign what is ready in these queues (all when None); the number assigned."""
    if marker:  # from now on a change schedules a run of its own: this one may miss it
        cache.delete(marker)
    return engine.route_waiting_tickets(team_keys=team_keys).assigned


@shared_task(**TRANSIENT_RETRY)
def route_for_agent(user_id: int) -> int:
    """An agent came online or freed capacity: their queues get another try."""
    keys = reopen_agent_queues(user_id)
    if keys == []:
        return 0
    return engine.route_waiting_tickets(team_keys=keys).assigned


@shared_task(**TRANSIENT_RETRY)
def requeue_unanswered_chats(user_id: int) -> int:
    from tickets.routing.services import requeue_unanswered_chats as requeue

    requeued = requeue(user_id=user_id)
    if requeued:
        engine.route_waiting_tickets()
    return requeued


@shared_task(**TRANSIENT_RETRY)
def sweep_routing_queue() -> dict[str, int]:
    """Periodic: repair the queue, overflow store tickets, route what is ready."""
    from tickets.routing.services import overflow_store_tickets

    counts = queue.reconcile_queue()
    counts["overflowed"] = overflow_store_tickets()
    counts["assigned"] = engine.route_waiting_tickets().assigned
    return counts
