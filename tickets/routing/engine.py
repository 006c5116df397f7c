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
from omniservice.org.models import Presence, Role, StaffProfile
from tickets import services
from tickets.models import (
    OPEN_STATUSES,
    AgentRoutingState,
    DecisionKind,
    QueueEntry,
    RoutingDecision,
    RoutingPolicy,
    Ticket,
)
from tickets.routing import rules
from tickets.routing.guard import routing_writes
from tickets.routing.queue import ROUTABLE_STATUSES, routable_tickets

LEASE_CLASS = 5_820_301  # advisory-lock namespace of the team leases
GENERAL = 0  # team key of the general queue (tickets without a team)
EXAMPLES_PER_REASON = 3
CLAIMED_FIELDS = (
    "ticket_id",
    "team_id",
    "store_id",
    "kind",
    "language",
    "skill_ids",
    "tier",
    "store_only_until",
    "attempts",
)
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


def release_due_retries() -> int:
    """Entries whose back-off is over become ready again (kept out of the claim index
    while backed off, so a long queue of waiting tickets costs a claim nothing)."""
    return QueueEntry.objects.filter(retry_at__lte=timezone.now()).update(retry_at=None)


def ready_team_keys(only: list[int] | None = None) -> list[int]:
    """Teams (``GENERAL`` for no team) with entries ready to be tried, automatic ones only."""
    entries = QueueEntry.objects.filter(retry_at__isnull=True)
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
    reach = ~Q(role=Role.STORE_STAFF) if team_key == GENERAL else Q(teams=team_key)
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
    for (
        pk,
        user_id,
        name,
        username,
        role,
        presence,
        since,
        langs,
        capacity,
        seniority,
        home,
    ) in rows:
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
    exhausted: dict | None = None  # the evidence once nobody in the pool has room
    heap: list | None = None

    def take(self, kind: str, strategy: str) -> rules.Agent | None:
        """``rules.choose`` over the pool in O(log n): ranking keys only grow while a batch
        assigns (load and last assignment go up), so a stale heap entry is re-keyed when it
        reaches the top, and an agent without room leaves the heap for good."""
        if self.heap is None:
            self.heap = [
                (rules.ranking_key(a, kind, strategy), n, a)
                for n, a in enumerate(self.eligible)
                if a.locked and a.free(kind) > 0
            ]
            heapq.heapify(self.heap)
        heap = self.heap
        while heap:
            key, n, agent = heap[0]
            if agent.free(kind) <= 0:
                heapq.heappop(heap)
                continue
            current = rules.ranking_key(agent, kind, strategy)
            if current != key:
                heapq.heapreplace(heap, (current, n, agent))
                continue
            return agent
        return None


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
        reason = (
            rules.BUSY if not agent.locked else rules.FULL if agent.free(work.kind) <= 0 else None
        )
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


def _claim(team_key: int, size: int) -> list[dict]:
    """The best ready entries of the team whose ticket still needs routing, locked."""
    scope = {"team__isnull": True} if team_key == GENERAL else {"team_id": team_key}
    return list(
        QueueEntry.objects.select_for_update(skip_locked=True, no_key=True, of=("self",))
        .filter(
            retry_at__isnull=True,
            ticket__status__in=ROUTABLE_STATUSES,
            ticket__assignee__isnull=True,
            ticket__merged_into__isnull=True,
            **scope,
        )
        .order_by("-priority_rank", "-tier_rank", "waiting_since", "ticket_id")
        .values(*CLAIMED_FIELDS)[:size]
    )


def route_team_batch(team_key: int, *, batch_size: int | None = None) -> BatchResult:
    """Route one batch of one team's queue (its own transaction)."""
    size = batch_size or settings.ROUTING_BATCH_SIZE
    with transaction.atomic(), routing_writes():
        if not _lease(team_key):
            return BatchResult(leased=False)
        now = timezone.now()
        entries = _claim(team_key, size)
        result = BatchResult(claimed=len(entries))
        if not entries:
            return result
        policy = policy_for(team_key)
        agents = load_agents(team_key, {e["store_id"] for e in entries if e["store_id"]})
        pools: dict[tuple, _Pool] = {}
        assigned: dict[int, tuple[rules.Agent, dict]] = {}
        waiting: list[tuple[int, dict, _Pool]] = []
        backoff: list[int] = []
        sequence = 0
        for entry in entries:
            until = entry["store_only_until"]
            work = rules.Work(
                ticket_id=entry["ticket_id"],
                team_id=entry["team_id"],
                store_id=entry["store_id"],
                kind=entry["kind"],
                language=entry["language"],
                skill_ids=frozenset(entry["skill_ids"] or ()),
                tier=entry["tier"] or ValueTier.STANDARD,
                store_only=until is not None and until > now,
            )
            signature = work.signature()
            pool = pools.get(signature)
            if pool is None:
                pool = pools[signature] = _pool(agents, work, policy)
            chosen = pool.take(work.kind, policy.strategy)
            if chosen is not None:
                chosen.load[work.kind] = chosen.load.get(work.kind, 0) + 1
                sequence += 1
                chosen.last_assigned_at = now + timedelta(microseconds=sequence)
                decision = {
                    "kind": DecisionKind.ASSIGNED,
                    "reason": _reason(pool, work, policy, chosen),
                    "team_id": work.team_id,
                    "assignee_id": chosen.user_id,
                    "details": _evidence(pool, work, policy.strategy, chosen),
                }
                assigned[work.ticket_id] = (chosen, decision)
            elif any(not agent.locked for agent in pool.eligible):
                result.busy += 1
            else:
                backoff.append(work.ticket_id)
                if entry["attempts"] == 0:
                    if pool.exhausted is None:
                        pool.exhausted = _evidence(pool, work, policy.strategy, None)
                    waiting.append((work.ticket_id, entry, pool))
        decisions = [
            {"ticket_id": ticket_id, **decision} for ticket_id, (_a, decision) in assigned.items()
        ]
        decisions += [
            {
                "ticket_id": ticket_id,
                "kind": DecisionKind.WAITING,
                "reason": "all_full" if pool.eligible else "no_eligible",
                "team_id": entry["team_id"],
                "assignee_id": None,
                "details": pool.exhausted,
            }
            for ticket_id, entry, pool in waiting
        ]
        result.assigned = _write(assigned, backoff, decisions, policy.strategy, now)
        result.waiting = len(backoff)
        return result


def _reason(pool: _Pool, work: rules.Work, policy: TeamPolicy, chosen: rules.Agent) -> str:
    if work.store_only:
        return "store_staff"
    if not any(a is not chosen and a.locked and a.free(work.kind) > 0 for a in pool.eligible):
        return "only_candidate"
    return policy.strategy


def _write(
    assigned: dict[int, tuple[rules.Agent, dict]],
    backoff: list[int],
    decisions: list[dict],
    strategy: str,
    now: datetime,
) -> int:
    """Apply a batch; returns how many tickets were assigned."""
    tickets = []
    if assigned:
        # Lock the tickets now: one being changed by hand at this very moment is skipped
        # (its agent's slot stays unused until the next batch, never over capacity).
        tickets = list(
            Ticket.objects.select_for_update(skip_locked=True, no_key=True).filter(
                routable_tickets(), pk__in=list(assigned)
            )
        )
        kept = {ticket.pk for ticket in tickets}
        decisions = [
            d for d in decisions if d["kind"] != DecisionKind.ASSIGNED or d["ticket_id"] in kept
        ]
        for ticket in tickets:
            ticket.assignee_id = assigned[ticket.pk][0].user_id
            ticket.updated_at = now
    if tickets:
        _update_assignees(tickets, now)
        QueueEntry.objects.filter(pk__in=[t.pk for t in tickets]).delete()
        states = {assigned[t.pk][0].user_id: assigned[t.pk][0].last_assigned_at for t in tickets}
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
    _insert_decisions(decisions, strategy, now)
    services.publish_ticket_changes(tickets, ["assignee"])
    return len(tickets)


def _insert_decisions(decisions: list[dict], strategy: str, now: datetime) -> None:
    """One multi-row INSERT per chunk, without building a model instance per decision."""
    if not decisions:
        return
    meta = RoutingDecision._meta
    columns = ["ticket_id", "created_at", "kind", "reason", "strategy", "team_id"]
    columns += ["assignee_id", "actor_id", "note", "details"]
    details_field = meta.get_field("details")
    created = connection.ops.adapt_datetimefield_value(now)
    adapted: dict[int, object] = {}

    def details(value: dict) -> object:
        if id(value) not in adapted:  # the waiting tickets of one pool share their evidence
            adapted[id(value)] = details_field.get_db_prep_save(value, connection)
        return adapted[id(value)]

    rows = [
        (
            d["ticket_id"],
            created,
            d["kind"],
            d["reason"],
            strategy,
            d["team_id"],
            d["assignee_id"],
            None,
            "",
            details(d["details"]),
        )
        for d in decisions
    ]
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    table = connection.ops.quote_name(meta.db_table)
    placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
    chunk = 500 if connection.vendor == "postgresql" else 80
    with connection.cursor() as cursor:
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            cursor.execute(
                f"INSERT INTO {table} ({quoted}) VALUES "  # noqa: S608
                + ", ".join([placeholder] * len(part)),
                [value for row in part for value in row],
            )


def _update_assignees(tickets: list[Ticket], now: datetime) -> None:
    """One UPDATE for the whole batch (Django's bulk_update builds a CASE per row, which
    costs more than the rest of the batch)."""
    table = connection.ops.quote_name(Ticket._meta.db_table)
    stamp = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            values = ", ".join(["(%s, %s)"] * len(tickets))
            params: list = [stamp]
            for ticket in tickets:
                params += [ticket.pk, ticket.assignee_id]
            cursor.execute(
                f"UPDATE {table} AS t SET assignee_id = v.assignee, updated_at = %s "  # noqa: S608
                f"FROM (VALUES {values}) AS v(id, assignee) WHERE t.id = v.id",
                params,
            )
        else:
            cursor.executemany(
                f"UPDATE {table} SET assignee_id = %s, updated_at = %s WHERE id = %s",  # noqa: S608
                [(ticket.assignee_id, stamp, ticket.pk) for ticket in tickets],
            )


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
    release_due_retries()
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
