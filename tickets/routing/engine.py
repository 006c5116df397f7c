"""The routing engine: claim a batch of a team's queue, match it to agents, assign.

One batch is one transaction, whatever the number of workers running it:

1. **lease the team** (PostgreSQL ``pg_try_advisory_xact_lock``; a worker that cannot
   get it moves on to another team), so one team's queue is matched by one worker at a
   time and least-loaded / round robin see the whole team;
2. **claim** the best ``ROUTING_BATCH_SIZE`` ready entries with their tickets,
   ``SELECT … FOR NO KEY UPDATE SKIP LOCKED`` (a ticket being changed by hand is left for
   the next batch);
3. **lock the online candidates' staff rows** with ``SKIP LOCKED`` (an agent that
   another worker is filling for another team is *busy* for this batch), then count
   their open assigned tickets per capacity kind (the truth, read after the lock, so no
   worker can push an agent over capacity);
4. match in queue order, then write everything in a handful of statements (tickets,
   queue, agent states, decisions) and publish the same ``ticket.updated`` events and
   ``ticket_changed`` signal as ``tickets.services.assign``.

On SQLite (embedded mode) there are no row locks nor advisory locks; every transaction
starts with ``BEGIN IMMEDIATE`` (settings), so batches simply run one after another.
"""

from __future__ import annotations

import heapq
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from customers.models import ValueTier
from omniservice.org.models import Presence, StaffProfile
from tickets import services
from tickets.models import (
    OPEN_STATUSES,
    AgentRoutingState,
    DecisionKind,
    QueueEntry,
    RoutingDecision,
    RoutingPolicy,
    RoutingStrategy,
    Ticket,
)
from tickets.routing import rules
from tickets.routing.guard import routing_writes
from tickets.routing.queue import needs_routing

LEASE_CLASS = 5_820_301  # advisory-lock namespace of the team leases
GENERAL = 0  # team key of the general queue (tickets without a team)
EXAMPLES_PER_REASON = 3
CANDIDATES_SHOWN = 4


@dataclass
class BatchResult:
    leased: bool = True
    claimed: int = 0
    assigned: int = 0
    waiting: int = 0  # no eligible agent with room: backed off until capacity frees
    busy: int = 0  # an eligible agent was held by another worker: retried at once
    stale: int = 0

    @property
    def progressed(self) -> bool:
        return bool(self.assigned or self.waiting or self.stale)


@dataclass
class TeamPolicy:
    strategy: str
    reservation: rules.Reservation
    enabled: bool = True


def policy_for(team_key: int) -> TeamPolicy:
    policy = RoutingPolicy.objects.filter(team_id=team_key).first() if team_key else None
    if policy is None:
        return TeamPolicy(
            strategy=settings.ROUTING_DEFAULT_STRATEGY,
            reservation=rules.Reservation(frozenset(), 0),
        )
    return TeamPolicy(
        strategy=policy.strategy,
        reservation=rules.Reservation(
            frozenset(policy.reserved_tiers), policy.reserved_min_seniority
        ),
        enabled=policy.enabled,
    )


def _ready(now: datetime) -> Q:
    return Q(retry_at__isnull=True) | Q(retry_at__lte=now)


def ready_team_keys(only: list[int] | None = None) -> list[int]:
    """Teams (``GENERAL`` for no team) with entries ready to be tried, automatic ones only."""
    entries = QueueEntry.objects.filter(_ready(timezone.now()))
    if only is not None:
        condition = Q(team_id__in=[k for k in only if k != GENERAL])
        if GENERAL in only:
            condition |= Q(team__isnull=True)
        entries = entries.filter(condition)
    keys = {team_id or GENERAL for team_id in entries.values_list("team_id", flat=True).distinct()}
    manual = set(RoutingPolicy.objects.filter(enabled=False).values_list("team_id", flat=True))
    return sorted(keys - manual)


def _lease(team_key: int) -> bool:
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [LEASE_CLASS, team_key])
        return bool(cursor.fetchone()[0])


# --- agents -----------------------------------------------------------------------------


def load_agents(team_key: int, store_ids: set[int]) -> list[rules.Agent]:
    """The candidates of a batch: team members (everyone for the general queue) and the
    staff of its stores, the online ones locked, with their current load."""
    scope = Q(role__in=rules.ROUTABLE_ROLES)
    reach = Q() if team_key == GENERAL else Q(teams=team_key)
    if store_ids:
        reach |= Q(home_store_id__in=store_ids) | Q(teams__store_id__in=store_ids)
    ids = set(StaffProfile.objects.filter(scope & reach).values_list("pk", flat=True))
    if not ids:
        return []
    rows = list(
        StaffProfile.objects.filter(pk__in=ids).values_list(
            "pk",
            "user_id",
            "display_name",
            "user__username",
            "role",
            "presence",
            "presence_changed_at",
            "languages",
            "capacity",
            "seniority",
            "home_store_id",
        )
    )
    skills: dict[int, set[int]] = {}
    for profile_id, skill_id in StaffProfile.skills.through.objects.filter(
        staffprofile_id__in=ids
    ).values_list("staffprofile_id", "skill_id"):
        skills.setdefault(profile_id, set()).add(skill_id)
    teams: dict[int, set[int]] = {}
    stores: dict[int, set[int]] = {}
    for profile_id, team_id, store_id in StaffProfile.teams.through.objects.filter(
        staffprofile_id__in=ids
    ).values_list("staffprofile_id", "team_id", "team__store_id"):
        teams.setdefault(profile_id, set()).add(team_id)
        if store_id is not None:
            stores.setdefault(profile_id, set()).add(store_id)
    online = [row[0] for row in rows if row[5] == Presence.ONLINE]
    locked = dict(
        StaffProfile.objects.select_for_update(skip_locked=True, no_key=True)
        .filter(pk__in=online)
        .values_list("pk", "presence")
    )
    agents = []
    for pk, user_id, name, username, role, presence, since, langs, capacity, seniority, home in rows:
        is_locked = pk in locked
        if is_locked:
            presence = locked[pk]
        agents.append(
            rules.Agent(
                profile_id=pk,
                user_id=user_id,
                name=name or username,
                role=role,
                presence=presence,
                languages=frozenset(langs or ()),
                skills=frozenset(skills.get(pk, ())),
                capacity={k: v for k, v in (capacity or {}).items() if isinstance(v, int)},
                seniority=seniority,
                team_ids=frozenset(teams.get(pk, ())),
                store_ids=frozenset(stores.get(pk, set()) | ({home} if home else set())),
                online_since=since if presence == Presence.ONLINE else None,
                locked=is_locked or presence != Presence.ONLINE,
            )
        )
    counted = [a.user_id for a in agents if a.presence == Presence.ONLINE and a.locked]
    by_user = {a.user_id: a for a in agents}
    for user_id, last_channel, origin_channel, n in (
        Ticket.objects.filter(assignee_id__in=counted, status__in=OPEN_STATUSES)
        .values_list("assignee_id", "last_channel", "origin_channel")
        .annotate(n=Count("id"))
        .order_by()
    ):
        kind = rules.ticket_kind(last_channel, origin_channel)
        agent = by_user[user_id]
        agent.load[kind] = agent.load.get(kind, 0) + n
    for user_id, last in AgentRoutingState.objects.filter(user_id__in=by_user).values_list(
        "user_id", "last_assigned_at"
    ):
        by_user[user_id].last_assigned_at = last
    return agents


# --- one batch --------------------------------------------------------------------------


@dataclass
class _Pool:
    eligible: list[rules.Agent]
    ruled_out: Counter
    examples: dict[str, list[str]]


def _pool(agents: list[rules.Agent], work: rules.Work, policy: TeamPolicy) -> _Pool:
    eligible, ruled_out, examples = [], Counter(), {}
    for agent in agents:
        if not rules.is_candidate(agent, work):
            continue
        reason = rules.static_rejection(agent, work, policy.reservation)
        if reason is None:
            eligible.append(agent)
            continue
        ruled_out[reason] += 1
        names = examples.setdefault(reason, [])
        if len(names) < EXAMPLES_PER_REASON:
            names.append(agent.name)
    return _Pool(eligible, ruled_out, examples)


def _evidence(pool: _Pool, work: rules.Work, strategy: str, chosen: rules.Agent | None) -> dict:
    ruled_out = dict(pool.ruled_out)
    examples = {k: list(v) for k, v in pool.examples.items()}
    for agent in pool.eligible:
        if agent is chosen:
            continue
        reason = rules.BUSY if not agent.locked else rules.FULL if agent.free(work.kind) <= 0 else None
        if reason:
            ruled_out[reason] = ruled_out.get(reason, 0) + 1
            names = examples.setdefault(reason, [])
            if len(names) < EXAMPLES_PER_REASON:
                names.append(agent.name)
    shown = heapq.nsmallest(
        CANDIDATES_SHOWN,
        [a for a in pool.eligible if a.locked and (a is chosen or a.free(work.kind) > 0)],
        key=lambda a: rules.ranking_key(a, work.kind, strategy),
    )
    return {
        "kind": work.kind,
        "candidates": [
            {
                "id": a.user_id,
                "name": a.name,
                "load": a.load.get(work.kind, 0) - (1 if a is chosen else 0),
                "capacity": a.capacity.get(work.kind, 0),
                "idle_since": a.idle_since.isoformat() if a.idle_since.year > 1970 else None,
                "chosen": a is chosen,
            }
            for a in shown
        ],
        "ruled_out": ruled_out,
        "examples": examples,
    }


def route_team_batch(team_key: int, *, batch_size: int | None = None) -> BatchResult:
    """Route one batch of one team's queue (its own transaction)."""
    size = batch_size or settings.ROUTING_BATCH_SIZE
    with transaction.atomic(), routing_writes():
        if not _lease(team_key):
            return BatchResult(leased=False)
        now = timezone.now()
        entries = list(
            QueueEntry.objects.select_related("ticket")
            .select_for_update(skip_locked=True, no_key=True, of=("self", "ticket"))
            .filter(_ready(now), **({"team__isnull": True} if team_key == GENERAL else {"team_id": team_key}))
            .order_by("-priority_rank", "-tier_rank", "waiting_since", "ticket_id")[:size]
        )
        result = BatchResult(claimed=len(entries))
        if not entries:
            return result
        stale = [e.pk for e in entries if not needs_routing(e.ticket)]
        if stale:
            QueueEntry.objects.filter(pk__in=stale).delete()
            result.stale = len(stale)
        entries = [e for e in entries if needs_routing(e.ticket)]
        policy = policy_for(team_key)
        agents = load_agents(team_key, {e.store_id for e in entries if e.store_id})
        pools: dict[tuple, _Pool] = {}
        assigned: list[tuple[QueueEntry, rules.Agent]] = []
        decisions: list[RoutingDecision] = []
        backoff: list[int] = []
        sequence = 0
        for entry in entries:
            work = rules.Work(
                ticket_id=entry.pk,
                team_id=entry.team_id,
                store_id=entry.store_id,
                kind=entry.kind,
                language=entry.language,
                skill_ids=frozenset(entry.skill_ids or ()),
                tier=entry.tier or ValueTier.STANDARD,
                store_only=entry.store_only_until is not None and entry.store_only_until > now,
            )
            signature = work.signature()
            pool = pools.get(signature)
            if pool is None:
                pool = pools[signature] = _pool(agents, work, policy)
            chosen = rules.choose(pool.eligible, work, policy.strategy)
            if chosen is not None:
                chosen.load[work.kind] = chosen.load.get(work.kind, 0) + 1
                sequence += 1
                chosen.last_assigned_at = now + timedelta(microseconds=sequence)
                assigned.append((entry, chosen))
                decisions.append(
                    RoutingDecision(
                        ticket_id=entry.pk,
                        created_at=now,
                        kind=DecisionKind.ASSIGNED,
                        reason=_reason(pool, work, policy, chosen),
                        strategy=policy.strategy,
                        team_id=entry.team_id,
                        assignee_id=chosen.user_id,
                        details=_evidence(pool, work, policy.strategy, chosen),
                    )
                )
            elif any(not agent.locked for agent in pool.eligible):
                result.busy += 1
            else:
                backoff.append(entry.pk)
                if entry.attempts == 0:
                    decisions.append(
                        RoutingDecision(
                            ticket_id=entry.pk,
                            created_at=now,
                            kind=DecisionKind.WAITING,
                            reason="all_full" if pool.eligible else "no_eligible",
                            strategy=policy.strategy,
                            team_id=entry.team_id,
                            details=_evidence(pool, work, policy.strategy, None),
                        )
                    )
        _write(assigned, backoff, decisions, now)
        result.assigned, result.waiting = len(assigned), len(backoff)
        return result


def _reason(pool: _Pool, work: rules.Work, policy: TeamPolicy, chosen: rules.Agent) -> str:
    if work.store_only:
        return "store_staff"
    if not any(a is not chosen and a.locked and a.free(work.kind) > 0 for a in pool.eligible):
        return "only_candidate"
    return policy.strategy


def _write(
    assigned: list[tuple[QueueEntry, rules.Agent]],
    backoff: list[int],
    decisions: list[RoutingDecision],
    now: datetime,
) -> None:
    tickets = []
    for entry, agent in assigned:
        ticket = entry.ticket
        ticket.assignee_id = agent.user_id
        ticket.updated_at = now
        tickets.append(ticket)
    if tickets:
        Ticket.objects.bulk_update(tickets, ["assignee", "updated_at"])
        QueueEntry.objects.filter(pk__in=[t.pk for t in tickets]).delete()
        states = {agent.user_id: agent.last_assigned_at for _entry, agent in assigned}
        AgentRoutingState.objects.bulk_create(
            [AgentRoutingState(user_id=u, last_assigned_at=t) for u, t in states.items()],
            update_conflicts=True,
            unique_fields=["user"],
            update_fields=["last_assigned_at"],
        )
    if backoff:
        QueueEntry.objects.filter(pk__in=backoff).update(
            retry_at=now + timedelta(seconds=settings.ROUTING_RETRY_SECONDS),
            attempts=F("attempts") + 1,
        )
    RoutingDecision.objects.bulk_create(decisions)
    for ticket in tickets:
        services.publish_ticket_change(ticket, ["assignee"])


# --- runs -------------------------------------------------------------------------------


@dataclass
class RunResult:
    assigned: int = 0
    batches: int = 0
    waiting: int = 0
    contended: int = 0


def route_waiting_tickets(
    *,
    team_keys: list[int] | None = None,
    batch_size: int | None = None,
    time_budget: float | None = None,
) -> RunResult:
    """Route batches over the ready teams until nothing moves (or the time is up)."""
    deadline = time.monotonic() + (time_budget or settings.ROUTING_RUN_SECONDS)
    run = RunResult()
    while time.monotonic() < deadline:
        keys = ready_team_keys(team_keys)
        if not keys:
            break
        random.shuffle(keys)
        progressed = False
        for key in keys:
            batch = route_team_batch(key, batch_size=batch_size)
            if not batch.leased:
                run.contended += 1
                continue
            run.batches += 1
            run.assigned += batch.assigned
            run.waiting += batch.waiting
            progressed = progressed or batch.progressed
        if not progressed:
            break
    return run
