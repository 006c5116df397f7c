"""Several SLA job runs at once on PostgreSQL: each warning and breach is recorded once,
and each breach escalated once.

Threads with one connection each, released together on a barrier (as in
``test_concurrency``); the ticket rows are claimed with ``FOR UPDATE SKIP LOCKED`` and
the unique ``SlaEvent`` row decides who does the work.
"""

from __future__ import annotations

import pytest

from omniservice.org.models import Role
from tests.factories import StaffProfileFactory, TeamFactory
from tests.tickets.sla_support import customer_writes, install_clock, policy, shanghai
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
