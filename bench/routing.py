"""Routing throughput and correctness with several worker processes on PostgreSQL.

Loads 20,000 queued tickets (10 contact-centre teams and 4 store teams, 8 skills, two
languages, every value tier, chat / email / phone) and 300 agents with mixed skills,
languages, capacities, seniority and presence, some in two teams, 20 store staff; builds
the routing queue with the sweep's ``reconcile_queue``; then starts 4 worker processes
that run the production routing loop (``tickets.routing.engine.route_waiting_tickets``,
what the Celery tasks call) together until no queue is ready, and checks afterwards:

- **double assignments**: tickets assigned by more than one routing decision, or whose
  assignee is not the one their decision chose;
- **capacity violations**: agents holding more open tickets of a kind than their
  capacity for it;
- **idle eligible agents**: agents left with room while a waiting ticket they may take
  (every eligibility rule, from the database after the run) is still queued.

Prints assignments per second over the wall time of the race (start barrier to the last
worker's last batch). ``--quick``: 2,000 tickets, 60 agents.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import _harness as harness

TARGETS = {"assignments_per_s": 1000, "double_assignments": 0, "capacity_violations": 0}
CENTRE_TEAMS = 10
STORES = 4
SKILLS = 8


def _setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omniservice.settings")
    os.environ["DEBUG"] = "false"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()


def _copy_text(value: Any) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dict | list):
        return json.dumps(value).replace("\\", "\\\\")
    return str(value).replace("\t", " ")


def copy_rows(cursor: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    """COPY rows into the model's table; columns the bench does not set get the field's
    default (so a field added by another feature does not break the bench)."""
    from django.db.models.fields import NOT_PROVIDED

    fields = model._meta.concrete_fields
    defaults = {
        f.attname: (f.get_default() if f.default is not NOT_PROVIDED else (None if f.null else ""))
        for f in fields
    }
    buffer = io.StringIO()
    for row in rows:
        unknown = set(row) - set(defaults)
        if unknown:
            raise SystemExit(f"{model.__name__} has no fields {sorted(unknown)}")
        buffer.write("\t".join(_copy_text(row.get(f.attname, defaults[f.attname])) for f in fields))
        buffer.write("\n")
    buffer.seek(0)
    columns = ", ".join(f'"{f.column}"' for f in fields)
    cursor.copy_expert(f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN', buffer)


# --- data -------------------------------------------------------------------------------


def load(database: harness.ScratchDatabase, *, tickets: int, agents: int, seed: int) -> dict:
    from django.contrib.auth import get_user_model

    from customers.models import Customer
    from omniservice.org.models import Skill, StaffProfile, Store, Team
    from tickets.models import RoutingPolicy, Ticket

    rng = random.Random(seed)
    now = datetime.now(UTC)
    stores = [Store.objects.create(code=f"st-{i}", name=f"门店 {i}") for i in range(STORES)]
    centre = [
        Team.objects.create(slug=f"cc-{i}", name=f"Contact centre {i}") for i in range(CENTRE_TEAMS)
    ]
    store_teams = [
        Team.objects.create(slug=f"store-{i}", name=f"Store team {i}", store=store)
        for i, store in enumerate(stores)
    ]
    skills = [Skill.objects.create(code=f"skill-{i}", name=f"Skill {i}") for i in range(SKILLS)]
    for i, team in enumerate(centre):
        RoutingPolicy.objects.create(
            team=team,
            strategy="round_robin" if i % 3 == 2 else "least_loaded",
            reserved_tiers=["vip"] if i % 4 == 0 else [],
        )
    for i, team in enumerate(store_teams):
        RoutingPolicy.objects.create(team=team, overflow_team=centre[i], store_first_minutes=10)

    user_model = get_user_model()
    users = user_model.objects.bulk_create(
        user_model(username=f"agent{i}", is_staff=True, password="!")  # noqa: S106 - unusable
        for i in range(agents)
    )
    store_staff = max(agents // 15, 1)
    profiles = []
    for i, user in enumerate(users):
        is_store = i < store_staff
        profiles.append(
            StaffProfile(
                user=user,
                role="store_staff" if is_store else "agent",
                display_name=f"Agent {i}",
                home_store=stores[i % STORES] if is_store else None,
                languages=["zh-hans", "en"] if rng.random() < 0.3 else ["zh-hans"],
                capacity={
                    "chat": rng.randint(2, 6),
                    "email": rng.randint(10, 30),
                    "phone": rng.choice([0, 0, 1]),
                },
                seniority=1 if rng.random() < 0.25 else 0,
                presence=rng.choices(["online", "away", "offline"], [90, 5, 5])[0],
                presence_changed_at=now - timedelta(minutes=rng.randint(1, 120)),
            )
        )
    profiles = StaffProfile.objects.bulk_create(profiles)
    team_links, skill_links = [], []
    through_teams, through_skills = StaffProfile.teams.through, StaffProfile.skills.through
    for i, profile in enumerate(profiles):
        if i < store_staff:
            homes = [store_teams[i % STORES]]
        else:
            homes = [centre[i % CENTRE_TEAMS]]
            if rng.random() < 0.2:
                homes.append(centre[(i + 3) % CENTRE_TEAMS])
        team_links += [through_teams(staffprofile_id=profile.pk, team_id=t.pk) for t in homes]
        skill_links += [
            through_skills(staffprofile_id=profile.pk, skill_id=s.pk)
            for s in rng.sample(skills, rng.randint(1, 4))
        ]
    through_teams.objects.bulk_create(team_links)
    through_skills.objects.bulk_create(skill_links)

    customers = max(tickets // 2, 10)
    channels = ["web_chat"] * 4 + ["wechat"] * 2 + ["email"] * 3 + ["phone"]
    connection = database.connect()
    with connection, connection.cursor() as cursor:
        copy_rows(
            cursor,
            Customer,
            [
                {
                    "id": i,
                    "public_id": f"cus_bench{i:011d}",
                    "name": f"客户 {i}",
                    "language": "en" if i % 10 == 0 else "zh-hans",
                    "tier": rng.choices(["standard", "silver", "gold", "vip"], [70, 15, 10, 5])[0],
                    "status": "active",
                    "created_at": now.isoformat(),
                    "updated_at": now.isoformat(),
                }
                for i in range(1, customers + 1)
            ],
        )
        rows, needs = [], []
        for i in range(1, tickets + 1):
            customer = rng.randint(1, customers)
            store = rng.randrange(STORES) if rng.random() < 0.05 else None
            channel = "store" if store is not None else rng.choice(channels)
            created = now - timedelta(seconds=rng.randint(0, 4 * 3600))
            rows.append(
                {
                    "id": i,
                    "customer_id": customer,
                    "subject": f"问题 {i}",
                    "status": "new",
                    "priority": rng.choices(["low", "normal", "high", "urgent"], [10, 70, 15, 5])[
                        0
                    ],
                    "origin_channel": channel,
                    "last_channel": channel,
                    "store_id": stores[store].pk if store is not None else None,
                    "team_id": (store_teams[store] if store is not None else rng.choice(centre)).pk,
                    "language": "en" if customer % 10 == 0 else "zh-hans",
                    "created_at": created.isoformat(),
                    "updated_at": created.isoformat(),
                    "last_customer_message_at": created.isoformat(),
                    "reopen_count": 0,
                }
            )
            if rng.random() < 0.3:
                needs.append(
                    {"id": len(needs) + 1, "ticket_id": i, "skill_id": rng.choice(skills).pk}
                )
        copy_rows(cursor, Ticket, rows)
        copy_rows(cursor, Ticket.required_skills.through, needs)
        for table in ("customers_customer", "tickets_ticket"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
    connection.close()

    from tickets.routing.queue import reconcile_queue

    started = time.perf_counter()
    queued = reconcile_queue()["added"]
    queue_seconds = time.perf_counter() - started
    connection = database.connect()
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    connection.close()
    return {"queued": queued, "queue_build_s": round(queue_seconds, 2)}


# --- the race ---------------------------------------------------------------------------


def worker(start_at: float, batch_size: int) -> None:
    """One routing worker process: wait for the common start, route until nothing is
    ready anywhere, print its figures as JSON."""
    from django.db import connection

    from tickets.routing.engine import ready_team_keys, route_waiting_tickets

    connection.ensure_connection()
    time.sleep(max(0.0, start_at - time.time()))
    assigned = batches = contended = 0
    last_progress = time.time()
    while True:
        run = route_waiting_tickets(batch_size=batch_size, time_budget=5)
        assigned += run.assigned
        batches += run.batches
        contended += run.contended
        if run.assigned or run.waiting:
            last_progress = time.time()
        elif not ready_team_keys():
            break
        else:
            time.sleep(0.002)
    print(
        json.dumps(
            {"assigned": assigned, "batches": batches, "contended": contended, "end": last_progress}
        ),
        flush=True,
    )


def race(env: dict[str, str], workers: int, batch_size: int) -> dict[str, Any]:
    start_at = time.time() + 3.0
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.routing",
                "--worker",
                str(start_at),
                "--batch",
                str(batch_size),
            ],
            cwd=harness.PROJECT_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=900)
        if process.returncode != 0:
            raise SystemExit(f"a routing worker failed:\n{err[-4000:]}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    wall = max(r["end"] for r in reports) - start_at
    return {"reports": reports, "wall_s": wall}


# --- checks -----------------------------------------------------------------------------


def check() -> dict[str, int]:
    from django.db.models import Count

    from omniservice.org.models import StaffProfile
    from tickets.models import OPEN_STATUSES, QueueEntry, RoutingDecision, Ticket
    from tickets.routing import rules
    from tickets.routing.engine import policy_for

    doubles = (
        RoutingDecision.objects.filter(kind="assigned")
        .values("ticket_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    chosen = dict(
        RoutingDecision.objects.filter(kind="assigned").values_list("ticket_id", "assignee_id")
    )
    actual = dict(Ticket.objects.filter(pk__in=list(chosen)).values_list("pk", "assignee_id"))
    mismatched = sum(1 for pk, user in chosen.items() if actual.get(pk) != user)

    load: Counter = Counter()
    for user_id, last, origin in Ticket.objects.filter(
        assignee__isnull=False, status__in=OPEN_STATUSES
    ).values_list("assignee_id", "last_channel", "origin_channel"):
        load[(user_id, rules.ticket_kind(last, origin))] += 1
    agents = []
    for profile in StaffProfile.objects.prefetch_related("skills", "teams"):
        agent = rules.Agent(
            profile_id=profile.pk,
            user_id=profile.user_id,
            name=profile.display_name,
            role=profile.role,
            presence=profile.presence,
            languages=frozenset(profile.languages),
            skills=frozenset(s.pk for s in profile.skills.all()),
            capacity=profile.capacity,
            seniority=profile.seniority,
            team_ids=frozenset(t.pk for t in profile.teams.all()),
            store_ids=frozenset(
                [t.store_id for t in profile.teams.all() if t.store_id]
                + ([profile.home_store_id] if profile.home_store_id else [])
            ),
        )
        agent.load = {kind: n for (user, kind), n in load.items() if user == agent.user_id}
        agents.append(agent)
    violations = sum(
        1 for agent in agents for kind, n in agent.load.items() if n > agent.capacity.get(kind, 0)
    )
    policies: dict[int, Any] = {}
    idle_agents: set[int] = set()
    starved = 0
    now = datetime.now(UTC)
    for entry in QueueEntry.objects.all().iterator():
        key = entry.team_id or 0
        if key not in policies:
            policies[key] = policy_for(key)
        work = rules.Work(
            ticket_id=entry.pk,
            team_id=entry.team_id,
            store_id=entry.store_id,
            kind=entry.kind,
            language=entry.language,
            skill_ids=frozenset(entry.skill_ids),
            tier=entry.tier,
            store_only=entry.store_only_until is not None and entry.store_only_until > now,
        )
        able = [
            a
            for a in agents
            if rules.is_candidate(a, work)
            and rules.rejection(a, work, policies[key].reservation) is None
        ]
        if able:
            starved += 1
            idle_agents.update(a.user_id for a in able)
    return {
        "double_assignments": doubles + mismatched,
        "capacity_violations": violations,
        "idle_eligible_agents": len(idle_agents),
        "waiting_with_an_idle_eligible_agent": starved,
        "still_queued": QueueEntry.objects.count(),
        "assigned_tickets": len(chosen),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 tickets, 60 agents")
    parser.add_argument("--tickets", type=int, default=None)
    parser.add_argument("--agents", type=int, default=None)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--worker", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        _setup_django(os.environ["DATABASE_URL"])
        worker(args.worker, args.batch)
        return 0
    tickets = args.tickets or (2_000 if args.quick else 20_000)
    agents = args.agents or (60 if args.quick else 300)

    database = harness.ScratchDatabase("omniservice_bench_routing")
    database.recreate()
    env = harness.app_environment(DATABASE_URL=database.url)
    try:
        harness.manage(["migrate", "--no-input"], env)
        _setup_django(database.url)
        started = time.perf_counter()
        loaded = load(database, tickets=tickets, agents=agents, seed=args.seed)
        harness.log(
            f"loaded {tickets:,} tickets ({loaded['queued']:,} queued, queue built in "
            f"{loaded['queue_build_s']} s) and {agents} agents in "
            f"{time.perf_counter() - started:.1f} s; load average {os.getloadavg()[0]:.1f}"
        )
        loadavg = os.getloadavg()[0]
        raced = race(env, args.workers, args.batch)
        checks = check()
    finally:
        if not args.keep_db:
            database.drop()
    assigned = sum(r["assigned"] for r in raced["reports"])
    per_s = assigned / raced["wall_s"] if raced["wall_s"] > 0 else 0.0
    harness.log(
        f"assigned {assigned:,} tickets in {raced['wall_s']:.2f} s with {args.workers} workers: "
        f"{per_s:,.0f} assignments/s (target >= {TARGETS['assignments_per_s']:,})"
    )
    for report in raced["reports"]:
        harness.log(
            f"  worker: {report['assigned']:,} assigned in {report['batches']} batches, "
            f"{report['contended']} team leases lost to another worker"
        )
    harness.log(
        f"double assignments {checks['double_assignments']}, capacity violations "
        f"{checks['capacity_violations']}, eligible agents left idle while matching work "
        f"waits {checks['idle_eligible_agents']} ({checks['still_queued']:,} tickets still "
        "queued: no eligible agent with room)"
    )
    metrics = {
        "tickets": tickets,
        "agents": agents,
        "workers": args.workers,
        "batch_size": args.batch,
        "assigned": assigned,
        "wall_s": round(raced["wall_s"], 3),
        "assignments_per_s": round(per_s, 1),
        "loadavg_at_start": round(loadavg, 2),
        **checks,
    }
    met = (
        per_s >= TARGETS["assignments_per_s"]
        and checks["double_assignments"] == 0
        and checks["capacity_violations"] == 0
        and checks["idle_eligible_agents"] == 0
    )
    targets = {**TARGETS, "idle_eligible_agents": 0}
    print(json.dumps({"bench": "routing", "metrics": metrics, "targets": targets, "met": met}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
