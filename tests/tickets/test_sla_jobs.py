"""The periodic job: warn once, breach once, escalate as the policy says."""

from __future__ import annotations

import pytest
from django.conf import settings

from omniservice.org.models import Role
from tests.factories import StaffProfileFactory, TeamFactory
from tests.tickets.sla_support import (
    customer_writes,
    install_clock,
    policy,
    shanghai,
    shanghai_calendar,
)
from tickets import services
from tickets.models import Direction, Message, Ticket, TicketStatus
from tickets.models.sla import SlaEvent, SlaEventKind, SlaTarget, TicketSla
from tickets.sla.jobs import check_sla_deadlines, process_ticket_deadlines
from tickets.visibility import MANAGERS_GROUP

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch):
    return install_clock(monkeypatch)


@pytest.fixture
def published(monkeypatch):
    sent: list[tuple[set[str], str, dict]] = []
    monkeypatch.setattr(
        "tickets.sla.jobs.realtime.publish",
        lambda groups, kind, data: sent.append((set(groups), kind, data)),
    )
    return sent


@pytest.fixture
def team(db):
    lead = StaffProfileFactory(role=Role.AGENT).user
    team = TeamFactory(slug="cc-shanghai", lead=lead)
    shanghai_calendar(team, default=True)
    return team


@pytest.fixture
def agent(team):
    return StaffProfileFactory(role=Role.AGENT, teams=[team]).user


def assigned_ticket(team, agent, **kwargs) -> Ticket:
    ticket = customer_writes(**kwargs).ticket  # Monday 09:00: first response due 10:00
    return services.assign(ticket=ticket, actor=None, team=team, assignee=agent)


def system_messages(ticket: Ticket) -> list[str]:
    return list(
        Message.objects.filter(ticket=ticket, direction=Direction.EVENT).values_list(
            "body_text", flat=True
        )
    )


def kinds(ticket: Ticket) -> list[tuple[str, str]]:
    return list(SlaEvent.objects.filter(ticket=ticket).order_by("id").values_list("target", "kind"))


def test_the_job_runs_every_minute_from_the_beat_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["sla-deadlines"]

    assert entry == {"task": "tickets.sla.check_sla_deadlines", "schedule": 60.0}


def test_the_assignee_and_the_team_lead_are_warned_once(clock, team, agent, published):
    policy(resolution_minutes=None, next_response_minutes=None)
    ticket = assigned_ticket(team, agent)
    clock.set(shanghai(2026, 12, 7, 9, 44))
    assert check_sla_deadlines() == 0  # 16 minutes before: too early

    clock.set(shanghai(2026, 12, 7, 9, 46))
    check_sla_deadlines()
    clock.advance(seconds=30)
    check_sla_deadlines()
    process_ticket_deadlines(ticket_id=ticket.pk)

    assert kinds(ticket) == [(SlaTarget.FIRST_RESPONSE, SlaEventKind.WARNING)]
    warnings = [p for p in published if p[1] == "sla.warning"]
    assert len(warnings) == 1
    assert warnings[0][0] == {f"agent.{agent.pk}", f"agent.{team.lead_id}"}
    assert warnings[0][2]["target"] == "first_response"
    assert len(system_messages(ticket)) == 1


def test_a_breach_is_recorded_once_and_notifies_the_managers(clock, team, agent, published):
    policy(resolution_minutes=None, next_response_minutes=None)
    ticket = assigned_ticket(team, agent)
    clock.set(shanghai(2026, 12, 7, 9, 50))
    check_sla_deadlines()
    clock.set(shanghai(2026, 12, 7, 10, 1))

    for _run in range(3):
        check_sla_deadlines()

    ticket = Ticket.objects.get(pk=ticket.pk)
    assert kinds(ticket) == [
        (SlaTarget.FIRST_RESPONSE, SlaEventKind.WARNING),
        (SlaTarget.FIRST_RESPONSE, SlaEventKind.BREACH),
    ]
    assert ticket.sla_breached_at == shanghai(2026, 12, 7, 10, 0)
    breaches = [p for p in published if p[1] == "sla.breached"]
    assert len(breaches) == 1
    assert MANAGERS_GROUP in breaches[0][0]
    assert len(system_messages(ticket)) == 2
    assert TicketSla.objects.get(ticket=ticket).next_check_at is None


def test_a_job_that_was_down_breaches_without_a_late_warning(clock, team, agent, published):
    policy(resolution_minutes=None, next_response_minutes=None)
    ticket = assigned_ticket(team, agent)
    clock.set(shanghai(2026, 12, 7, 11, 0))

    check_sla_deadlines()

    assert kinds(ticket) == [(SlaTarget.FIRST_RESPONSE, SlaEventKind.BREACH)]


def test_only_tickets_with_something_due_are_looked_at(clock, team, agent, monkeypatch):
    policy(resolution_minutes=None, next_response_minutes=None)
    assigned_ticket(team, agent)
    assigned_ticket(team, agent)
    seen = []
    monkeypatch.setattr(
        "tickets.sla.jobs.process_ticket_deadlines", lambda ticket_id, now: seen.append(ticket_id)
    )

    check_sla_deadlines()
    assert seen == []

    clock.set(shanghai(2026, 12, 7, 9, 50))
    check_sla_deadlines()
    assert len(seen) == 2


def test_a_paused_ticket_never_breaches_its_resolution(clock, team, agent, published):
    policy(first_response_minutes=None, next_response_minutes=None, resolution_minutes=60)
    ticket = assigned_ticket(team, agent)
    services.change_status(ticket=ticket, status=TicketStatus.PENDING, actor=agent)
    clock.set(shanghai(2026, 12, 9, 9, 0))

    check_sla_deadlines()

    assert kinds(ticket) == []


def test_every_next_response_cycle_is_warned_and_breached_once(clock, team, agent, published):
    policy(first_response_minutes=None, resolution_minutes=None, next_response_minutes=30)
    ticket = assigned_ticket(team, agent, phone="+8613900000001")
    services.reply(ticket=ticket, author=agent, text="Hi")
    for hour in (10, 12):
        clock.set(shanghai(2026, 12, 7, hour, 0))
        customer_writes("Still there?", phone="+8613900000001")
        clock.set(shanghai(2026, 12, 7, hour, 31))
        check_sla_deadlines()
        check_sla_deadlines()
        services.reply(ticket=ticket, author=agent, text="Yes")

    assert list(
        SlaEvent.objects.filter(ticket=ticket).order_by("id").values_list("kind", "cycle")
    ) == [("breach", 1), ("breach", 2)]


def test_escalation_raises_the_priority_one_step(clock, team, agent, published):
    policy(escalate_raise_priority=True, resolution_minutes=None, next_response_minutes=None)
    ticket = assigned_ticket(team, agent)
    clock.set(shanghai(2026, 12, 7, 10, 1))

    check_sla_deadlines()
    check_sla_deadlines()

    ticket = Ticket.objects.get(pk=ticket.pk)
    assert ticket.priority == "high"
    event = SlaEvent.objects.get(ticket=ticket, kind=SlaEventKind.BREACH)
    assert event.escalation == ["notify_managers", "priority:high"]
    assert any("priority" in text.lower() or "优先级" in text for text in system_messages(ticket))


def test_escalation_stops_at_urgent(clock, team, agent, published):
    policy(escalate_raise_priority=True, resolution_minutes=None, next_response_minutes=None)
    ticket = assigned_ticket(team, agent)
    services.update_ticket(ticket=ticket, actor=None, priority="urgent")
    clock.set(shanghai(2026, 12, 7, 10, 1))

    check_sla_deadlines()

    assert Ticket.objects.get(pk=ticket.pk).priority == "urgent"


def test_escalation_moves_the_ticket_to_the_policys_team(clock, team, agent, published):
    seniors = TeamFactory(slug="seniors")
    policy(
        escalate_to_team=seniors,
        escalate_notify_managers=False,
        resolution_minutes=None,
        next_response_minutes=None,
    )
    ticket = assigned_ticket(team, agent)
    clock.set(shanghai(2026, 12, 7, 10, 1))

    check_sla_deadlines()

    ticket = Ticket.objects.get(pk=ticket.pk)
    assert ticket.team == seniors
    assert ticket.assignee is None  # the agent is not in that team: the team picks it up
    breach = next(p for p in published if p[1] == "sla.breached")
    assert MANAGERS_GROUP not in breach[0]


def test_escalation_keeps_an_assignee_who_belongs_to_the_new_team(clock, team, agent, published):
    seniors = TeamFactory(slug="seniors")
    agent.staff_profile.teams.add(seniors)
    policy(escalate_to_team=seniors, resolution_minutes=None, next_response_minutes=None)
    ticket = assigned_ticket(team, agent)
    clock.set(shanghai(2026, 12, 7, 10, 1))

    check_sla_deadlines()

    ticket = Ticket.objects.get(pk=ticket.pk)
    assert (ticket.team, ticket.assignee) == (seniors, agent)


def test_an_unassigned_ticket_warns_its_team(clock, team, published):
    policy(resolution_minutes=None, next_response_minutes=None)
    ticket = customer_writes().ticket
    services.assign(ticket=ticket, actor=None, team=team)
    clock.set(shanghai(2026, 12, 7, 9, 50))

    check_sla_deadlines()

    warning = next(p for p in published if p[1] == "sla.warning")
    assert warning[0] == {f"team.{team.pk}", f"agent.{team.lead_id}"}


def test_escalation_returns_the_ticket_to_the_teams_queue(clock, team, agent, published):
    policy(escalate_reassign="queue", resolution_minutes=None, next_response_minutes=None)
    ticket = assigned_ticket(team, agent)
    clock.set(shanghai(2026, 12, 7, 10, 1))

    check_sla_deadlines()
    check_sla_deadlines()

    ticket = Ticket.objects.get(pk=ticket.pk)
    assert (ticket.team, ticket.assignee) == (team, None)
    event = SlaEvent.objects.get(ticket=ticket, kind=SlaEventKind.BREACH)
    assert event.escalation == ["notify_managers", "unassigned"]
    assert len(system_messages(ticket)) == 2  # the breach, the escalation


def test_escalation_reassigns_to_the_team_lead(clock, team, agent, published):
    policy(
        escalate_reassign="lead",
        escalate_raise_priority=True,
        resolution_minutes=None,
        next_response_minutes=None,
    )
    ticket = assigned_ticket(team, agent)
    clock.set(shanghai(2026, 12, 7, 10, 1))

    check_sla_deadlines()

    ticket = Ticket.objects.get(pk=ticket.pk)
    assert (ticket.assignee_id, ticket.priority) == (team.lead_id, "high")
    event = SlaEvent.objects.get(ticket=ticket, kind=SlaEventKind.BREACH)
    assert event.escalation == ["notify_managers", "priority:high", f"assignee:{team.lead_id}"]


def test_escalation_to_another_team_reassigns_to_that_teams_lead(clock, team, agent, published):
    seniors = TeamFactory(slug="seniors", lead=StaffProfileFactory(role=Role.AGENT).user)
    policy(
        escalate_to_team=seniors,
        escalate_reassign="lead",
        resolution_minutes=None,
        next_response_minutes=None,
    )
    ticket = assigned_ticket(team, agent)
    clock.set(shanghai(2026, 12, 7, 10, 1))

    check_sla_deadlines()

    ticket = Ticket.objects.get(pk=ticket.pk)
    assert (ticket.team, ticket.assignee_id) == (seniors, seniors.lead_id)
