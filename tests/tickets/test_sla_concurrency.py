"""Several SLA job runs at once on PostgreSQL: each warning and breach is recorded once,
and each breach escalated once.

Threads with one connection each, released together on a barrier (as in
``test_concurrency``), and separate worker processes on the real clock; the ticket rows
are claimed with ``FOR UPDATE SKIP LOCKED`` and the unique ``SlaEvent`` row decides who
does the work.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from django.utils import timezone

from omniservice.org.models import Role
from tests.factories import StaffProfileFactory, TeamFactory
from tests.tickets.sla_support import Clock, customer_writes, install_clock, policy, shanghai
from tests.tickets.test_concurrency import run_together
from tickets import services
from tickets.models import Direction, Message, Priority, Ticket
from tickets.models.sla import SlaEvent, SlaEventKind
from tickets.sla.jobs import check_sla_deadlines

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RUNS = 4
TICKETS = 12


def event_messages(ticket: Ticket) -> int:
    return Message.objects.filter(ticket=ticket, direction=Direction.EVENT).count()


@pytest.fixture
def tickets(monkeypatch):
    """Twelve tickets of one team opened Monday 09:00 (first response due 10:00, 24/7)."""
    clock = install_clock(monkeypatch)
    team = TeamFactory(slug="cc", lead=StaffProfileFactory(role=Role.AGENT).user)
    agent = StaffProfileFactory(role=Role.AGENT, teams=[team]).user
    policy(
        business_hours_only=False,
        next_response_minutes=None,
        resolution_minutes=None,
        escalate_raise_priority=True,
    )
    opened = [customer_writes().ticket for _ in range(TICKETS)]
    for ticket in opened:
        services.assign(ticket=ticket, actor=None, team=team, assignee=agent)
    return clock, opened


def test_concurrent_job_runs_warn_each_ticket_once(tickets):
    clock, opened = tickets
    clock.set(shanghai(2026, 12, 7, 9, 50))

    handled = run_together([check_sla_deadlines] * RUNS)

    assert sum(handled) == TICKETS
    assert SlaEvent.objects.filter(kind=SlaEventKind.WARNING).count() == TICKETS
    assert not SlaEvent.objects.filter(kind=SlaEventKind.BREACH).exists()
    assert all(event_messages(ticket) == 1 for ticket in opened)


def test_concurrent_job_runs_breach_and_escalate_each_ticket_once(tickets):
    clock, opened = tickets
    clock.set(shanghai(2026, 12, 7, 10, 5))

    handled = run_together([check_sla_deadlines] * RUNS)

    assert sum(handled) == TICKETS
    assert SlaEvent.objects.filter(kind=SlaEventKind.BREACH).count() == TICKETS
    assert set(Ticket.objects.values_list("priority", flat=True)) == {Priority.HIGH}
    for ticket in opened:
        assert event_messages(ticket) == 2  # one breach notice, one escalation notice
    escalations = SlaEvent.objects.values_list("escalation", flat=True)
    assert all(actions.count("priority:high") == 1 for actions in escalations)

    assert run_together([check_sla_deadlines] * RUNS) == [0] * RUNS  # nothing left to do


ROOT = Path(__file__).resolve().parents[2]
WORKER = """
import sys
import django

django.setup()
from tickets.sla.jobs import check_sla_deadlines

print("ready", flush=True)
sys.stdin.readline()
print(check_sla_deadlines(), flush=True)
"""


def database_url() -> str:
    settings = connection.settings_dict
    user = quote(settings.get("USER") or "")
    password = quote(settings.get("PASSWORD") or "")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings.get("HOST") or "localhost"
    port = settings.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{quote(settings['NAME'])}"


def run_worker_processes(count: int) -> list[int]:
    """``count`` processes on the test database, released together once all are ready."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "omniservice.settings",
        "CELERY_TASK_ALWAYS_EAGER": "true",
    }
    workers = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", WORKER],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready"
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results = [worker.communicate(timeout=60)[0] for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert [worker.returncode for worker in workers] == [0] * count
    return [int(output.strip()) for output in results]


def test_worker_processes_breach_and_escalate_each_ticket_once(monkeypatch):
    """Tickets opened two hours ago (on an injected clock) are due an hour ago for the
    workers, which run on the real clock."""
    clock = Clock(timezone.now() - timedelta(hours=2))
    monkeypatch.setattr(timezone, "now", lambda: clock.now)
    team = TeamFactory(slug="cc", lead=StaffProfileFactory(role=Role.AGENT).user)
    policy(
        business_hours_only=False,
        next_response_minutes=None,
        resolution_minutes=None,
        escalate_raise_priority=True,
        escalate_reassign="lead",
    )
    opened = [customer_writes().ticket for _ in range(TICKETS)]
    for ticket in opened:
        services.assign(ticket=ticket, actor=None, team=team)
    connection.close()  # the workers see committed rows only; nothing held open here

    handled = run_worker_processes(RUNS)
    # A run skips (SKIP LOCKED) a ticket another process holds at that moment, e.g. the
    # routing triggered by an escalation; the next periodic run takes it. Once only.
    handled += run_worker_processes(1)

    assert sum(handled) == TICKETS
    assert SlaEvent.objects.filter(kind=SlaEventKind.BREACH).count() == TICKETS
    assert not SlaEvent.objects.filter(kind=SlaEventKind.WARNING).exists()  # too late for one
    assert set(Ticket.objects.values_list("priority", "assignee_id")) == {
        (Priority.HIGH, team.lead_id)
    }
    assert all(event_messages(ticket) == 2 for ticket in opened)
    assert run_worker_processes(2) == [0, 0]
