"""Routing under real concurrency: several worker PROCESSES race over the same queues.

PostgreSQL only. The data is committed (``transaction=True``) so that the workers, each a
separate Python process with its own connection to the test database, see it. Each runs
the production loop (``tickets.routing.engine.route_waiting_tickets``, what the Celery
tasks call) in small batches, released together at a common start time. Afterwards: no
ticket assigned twice, no agent over capacity, and no agent left with room while work
they may take still waits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count

from omniservice.org.models import Seniority
from tests.factories import RoutableAgentFactory, TeamFactory
from tests.tickets.routing_helpers import queued_ticket
from tickets.models import OPEN_STATUSES, QueueEntry, RoutingDecision, RoutingPolicy, Ticket

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 4
PROJECT_DIR = Path(__file__).resolve().parents[2]
WORKER_SCRIPT = """
import json, sys, time
import django
django.setup()
from django.db import connection
from tickets.routing.engine import ready_team_keys, route_waiting_tickets
connection.ensure_connection()
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
assigned = batches = contended = 0
deadline = time.time() + 60
while time.time() < deadline:
    run = route_waiting_tickets(batch_size=int(sys.argv[2]), time_budget=5)
    assigned += run.assigned
    batches += run.batches
    contended += run.contended
    if not (run.assigned or run.waiting) and not ready_team_keys():
        break
print(json.dumps({"assigned": assigned, "batches": batches, "contended": contended}))
"""


def database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def run_workers(count: int, batch_size: int) -> list[dict]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "omniservice.settings",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)  # live events are not under test here
    start_at = time.time() + 4.0  # enough for every process to import Django
    processes = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", WORKER_SCRIPT, str(start_at), str(batch_size)],
            cwd=PROJECT_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def test_worker_processes_racing_over_shared_queues_never_double_assign_nor_overfill():
    care, vip_desk = TeamFactory(slug="care"), TeamFactory(slug="vip-desk")
    RoutingPolicy.objects.create(team=vip_desk, strategy="round_robin", reserved_tiers=["vip"])
    agents = [
        # most agents serve both teams, so workers on different teams fight over them
        RoutableAgentFactory(
            teams=[care, vip_desk] if n % 3 else [care],
            capacity={"chat": 1 + n % 3, "email": 2},
            seniority=Seniority.SENIOR if n % 4 == 0 else Seniority.JUNIOR,
        )
        for n in range(12)
    ]
    for n in range(90):
        queued_ticket(
            team=care if n % 2 else vip_desk,
            tier="vip" if n % 5 == 0 else "standard",
            origin_channel="email" if n % 4 < 2 else "web_chat",  # both teams
        )
    for _ in range(30):
        queued_ticket(team=None, origin_channel="web_chat")  # the general queue: everyone

    reports = run_workers(WORKERS, batch_size=3)

    decisions = RoutingDecision.objects.filter(kind="assigned")
    twice = decisions.values("ticket_id").annotate(n=Count("id")).filter(n__gt=1)
    assert not twice.exists()
    chosen = dict(decisions.values_list("ticket_id", "assignee_id"))
    actual = dict(Ticket.objects.filter(assignee__isnull=False).values_list("pk", "assignee_id"))
    assert chosen == actual
    assert sum(r["assigned"] for r in reports) == len(actual)
    assert sum(1 for r in reports if r["assigned"]) >= 2, reports  # a race, not a relay

    load = Counter(
        (user_id, "email" if last == "email" else "chat")
        for user_id, last in Ticket.objects.filter(
            assignee__isnull=False, status__in=OPEN_STATUSES
        ).values_list("assignee_id", "last_channel")
    )
    for agent in agents:
        for kind in ("chat", "email"):
            assert load[(agent.user_id, kind)] <= agent.capacity[kind], (agent, kind)
    total_capacity = sum(a.capacity["chat"] + a.capacity["email"] for a in agents)
    # more work than room, of every kind in every team: every slot is used, none idles
    assert len(actual) == total_capacity
    assert QueueEntry.objects.count() == 120 - total_capacity
