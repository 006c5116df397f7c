"""Due times on the ticket, recomputed inside the transaction of every relevant change."""

from __future__ import annotations

import pytest

from omniservice.org.models import Role
from tests.factories import StaffProfileFactory, StoreFactory, TeamFactory
from tests.tickets.sla_support import (
    customer_writes,
    install_clock,
    london,
    policy,
    shanghai,
    shanghai_calendar,
)
from tickets import services
from tickets.models import AuthorKind, Ticket, TicketStatus
from tickets.models.sla import BusinessCalendar, SlaEvent, SlaEventKind, SlaTarget, TicketSla

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch):
    return install_clock(monkeypatch)


@pytest.fixture
def team(db):
    return TeamFactory(slug="cc-shanghai")


@pytest.fixture
def agent(team):
    return StaffProfileFactory(role=Role.AGENT, teams=[team]).user


@pytest.fixture
def standard(team):
    shanghai_calendar(team, default=True)
    return policy()


def fresh(ticket: Ticket) -> Ticket:
    return Ticket.objects.get(pk=ticket.pk)


def events(ticket: Ticket) -> list[tuple[str, str, int]]:
    return list(
        SlaEvent.objects.filter(ticket=ticket).order_by("id").values_list("target", "kind", "cycle")
    )


def test_a_new_ticket_late_on_friday_is_due_on_monday(clock, standard):
    clock.set(shanghai(2026, 12, 4, 17, 30))

    ticket = fresh(customer_writes().ticket)

    assert ticket.first_response_due_at == shanghai(2026, 12, 7, 9, 30)
    assert ticket.resolution_due_at == shanghai(2026, 12, 7, 16, 30)
    assert ticket.next_response_due_at is None
    assert ticket.sla_breached_at is None


def test_a_ticket_without_a_matching_policy_has_no_targets(clock, team):
    policy("VIP only", tiers=["vip"])

    ticket = fresh(customer_writes().ticket)

    assert ticket.first_response_due_at is None
    assert ticket.resolution_due_at is None


def test_a_priority_change_applies_the_policy_it_now_matches(clock, standard):
    policy(
        "Urgent 24/7",
        priorities=["urgent"],
        position=1,
        business_hours_only=False,
        first_response_minutes=15,
        resolution_minutes=240,
    )
    clock.set(shanghai(2026, 12, 5, 22, 0))  # Saturday night
    ticket = customer_writes().ticket

    services.update_ticket(ticket=ticket, actor=None, priority="urgent")

    ticket = fresh(ticket)
    assert ticket.first_response_due_at == shanghai(2026, 12, 5, 22, 15)
    assert ticket.resolution_due_at == shanghai(2026, 12, 6, 2, 0)
    assert TicketSla.objects.get(ticket=ticket).policy.name == "Urgent 24/7"


def test_a_team_change_moves_the_clock_to_that_teams_calendar(clock, standard):
    london_team = TeamFactory(slug="cc-london")
    BusinessCalendar.objects.create(
        name="CC London",
        timezone="Europe/London",
        hours={d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        team=london_team,
    )
    clock.set(shanghai(2026, 12, 7, 17, 30))  # 09:30 in London
    ticket = customer_writes().ticket
    assert fresh(ticket).first_response_due_at == shanghai(2026, 12, 8, 9, 30)

    services.assign(ticket=ticket, actor=None, team=london_team)

    assert fresh(ticket).first_response_due_at == london(2026, 12, 7, 10, 30)


def test_a_store_ticket_runs_on_the_stores_hours_in_london(clock, team):
    policy()
    store = StoreFactory(
        code="ldn-001",
        timezone="Europe/London",
        opening_hours={d: [["10:00", "20:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat")},
    )
    clock.set(london(2026, 3, 28, 19, 30))  # Saturday, GMT; Sunday closed; BST from Sunday

    ticket = fresh(customer_writes(store=store, channel="store").ticket)

    assert ticket.first_response_due_at == london(2026, 3, 30, 10, 30)
    assert ticket.resolution_due_at == london(2026, 3, 30, 17, 30)


def test_the_first_agent_reply_meets_the_first_response_target(clock, standard, agent):
    ticket = customer_writes().ticket
    clock.advance(minutes=40)

    services.reply(ticket=ticket, author=agent, text="Looking into it")

    ticket = fresh(ticket)
    assert ticket.first_response_due_at is None
    assert ticket.next_response_due_at is None
    assert events(ticket) == [(SlaTarget.FIRST_RESPONSE, SlaEventKind.MET, 0)]


def test_a_late_first_reply_records_the_breach_once(clock, standard, agent):
    ticket = customer_writes().ticket
    clock.advance(minutes=75)

    services.reply(ticket=ticket, author=agent, text="Sorry for the wait")
    services.reply(ticket=ticket, author=agent, text="And another thing")

    ticket = fresh(ticket)
    assert events(ticket) == [(SlaTarget.FIRST_RESPONSE, SlaEventKind.BREACH, 0)]
    assert ticket.sla_breached_at == shanghai(2026, 12, 7, 10, 0)


def test_a_bot_reply_does_not_stop_the_first_response_clock(clock, standard):
    ticket = customer_writes().ticket
    due = fresh(ticket).first_response_due_at

    services.reply(ticket=ticket, author=None, text="A bot answer", author_kind=AuthorKind.BOT)

    assert fresh(ticket).first_response_due_at == due


def test_a_customer_message_after_a_reply_starts_the_next_response_clock(clock, standard, agent):
    ticket = customer_writes(phone="+8613800000001").ticket
    services.reply(ticket=ticket, author=agent, text="Hello")
    clock.set(shanghai(2026, 12, 7, 17, 50))

    customer_writes("Any news?", phone="+8613800000001")
    clock.advance(minutes=5)
    customer_writes("Hello??", phone="+8613800000001")  # the clock runs from the first one

    ticket = fresh(ticket)
    assert ticket.next_response_due_at == shanghai(2026, 12, 8, 9, 20)
    state = TicketSla.objects.get(ticket=ticket)
    assert state.next_response_cycle == 1


def test_an_agent_reply_clears_the_next_response_clock_and_records_it(clock, standard, agent):
    ticket = customer_writes(phone="+8613800000002").ticket
    services.reply(ticket=ticket, author=agent, text="Hello")
    clock.advance(minutes=10)
    customer_writes("Any news?", phone="+8613800000002")
    clock.advance(minutes=45)  # 30 minutes allowed

    services.reply(ticket=ticket, author=agent, text="Yes")

    ticket = fresh(ticket)
    assert ticket.next_response_due_at is None
    assert events(ticket)[-1] == (SlaTarget.NEXT_RESPONSE, SlaEventKind.BREACH, 1)


def test_pending_on_the_customer_pauses_the_resolution_clock(clock, standard, agent):
    ticket = customer_writes(phone="+8613800000003").ticket  # Monday 09:00: due 17:00
    assert fresh(ticket).resolution_due_at == shanghai(2026, 12, 7, 17, 0)
    clock.set(shanghai(2026, 12, 7, 11, 0))
    services.reply(ticket=ticket, author=agent, text="Can you send a photo?")
    services.change_status(ticket=ticket, status=TicketStatus.PENDING, actor=agent)
    assert fresh(ticket).resolution_due_at is None

    clock.set(shanghai(2026, 12, 8, 10, 0))  # the customer answers the next morning
    customer_writes("Here it is", phone="+8613800000003")

    ticket = fresh(ticket)
    assert ticket.status == TicketStatus.OPEN
    assert ticket.resolution_due_at == shanghai(2026, 12, 8, 16, 0)  # 2 h used, 6 h left
    assert TicketSla.objects.get(ticket=ticket).resolution_used_seconds == 2 * 3600


def test_on_hold_pauses_only_when_the_policy_says_so(clock, team, agent):
    shanghai_calendar(team, default=True)
    keeps_running = policy("Runs on hold")
    ticket = customer_writes().ticket
    clock.advance(hours=1)

    services.change_status(ticket=ticket, status=TicketStatus.ON_HOLD, actor=agent)
    assert fresh(ticket).resolution_due_at == shanghai(2026, 12, 7, 17, 0)

    keeps_running.pause_on_hold = True
    keeps_running.save()
    services.update_ticket(ticket=ticket, actor=agent, priority="high")  # any relevant change
    assert fresh(ticket).resolution_due_at is None


def test_solving_clears_the_targets_and_records_resolution_met(clock, standard, agent):
    ticket = customer_writes(phone="+8613800000004").ticket
    clock.advance(minutes=20)
    services.reply(ticket=ticket, author=agent, text="Done")

    services.change_status(ticket=ticket, status=TicketStatus.SOLVED, actor=agent)

    ticket = fresh(ticket)
    assert (ticket.first_response_due_at, ticket.resolution_due_at) == (None, None)
    assert (SlaTarget.RESOLUTION, SlaEventKind.MET, 0) in events(ticket)


def test_a_reopened_ticket_resumes_its_resolution_clock(clock, standard, agent):
    ticket = customer_writes(phone="+8613800000005").ticket  # Monday 09:00
    clock.set(shanghai(2026, 12, 7, 10, 0))
    services.reply(ticket=ticket, author=agent, text="Done")
    services.change_status(ticket=ticket, status=TicketStatus.SOLVED, actor=agent)
    clock.set(shanghai(2026, 12, 9, 9, 0))

    customer_writes("It broke again", phone="+8613800000005")

    ticket = fresh(ticket)
    assert ticket.status == TicketStatus.OPEN
    assert ticket.resolution_due_at == shanghai(2026, 12, 9, 16, 0)  # 1 h used, 7 h left
    assert ticket.next_response_due_at == shanghai(2026, 12, 9, 9, 30)


def test_subject_and_tag_changes_leave_the_clock_alone(clock, standard, monkeypatch):
    ticket = customer_writes().ticket
    calls = []
    monkeypatch.setattr("tickets.sla.clock.recompute", lambda *a, **k: calls.append(a))

    services.update_ticket(ticket=ticket, actor=None, subject="Renamed", tags=["x"])
    services.update_ticket(ticket=ticket, actor=None, priority="high")

    assert len(calls) == 1


# --- changes outside the ticket -----------------------------------------------------------


def test_a_customer_who_becomes_vip_gets_the_vip_targets_at_once(clock, standard, monkeypatch):
    from customers.services import update_customer

    policy("VIP", position=1, tiers=["vip"], first_response_minutes=10)
    ticket = customer_writes().ticket
    assert fresh(ticket).first_response_due_at == shanghai(2026, 12, 7, 10, 0)
    published = []
    monkeypatch.setattr(
        "tickets.sla.receivers.realtime.publish", lambda *args: published.append(args)
    )

    update_customer(customer=ticket.customer, profile={"tier": "vip"})

    assert fresh(ticket).first_response_due_at == shanghai(2026, 12, 7, 9, 10)
    assert TicketSla.objects.get(ticket=ticket).policy.name == "VIP"
    updates = [data for _groups, kind, data in published if kind == "ticket.updated"]
    assert [data["changed"] for data in updates] == [["first_response_due_at"]]


def test_saving_a_customer_without_its_tier_does_not_touch_tickets(
    clock, standard, django_assert_num_queries
):
    ticket = customer_writes().ticket
    customer = ticket.customer

    with django_assert_num_queries(1):
        customer.save(update_fields=["updated_at"])


def test_new_store_hours_move_the_due_times_of_its_open_tickets(
    clock, team, django_capture_on_commit_callbacks
):
    policy()
    store = StoreFactory(code="sh-001", opening_hours={"mon": [["09:00", "18:00"]]})
    other = StoreFactory(code="sh-002", opening_hours={"mon": [["09:00", "18:00"]]})
    ticket = customer_writes(store=store, channel="store").ticket
    elsewhere = customer_writes(store=other, channel="store").ticket
    assert fresh(ticket).first_response_due_at == shanghai(2026, 12, 7, 10, 0)

    store.opening_hours = {"mon": [["09:30", "18:00"]]}
    with django_capture_on_commit_callbacks(execute=True):
        store.save()

    assert fresh(ticket).first_response_due_at == shanghai(2026, 12, 7, 10, 30)
    assert fresh(elsewhere).first_response_due_at == shanghai(2026, 12, 7, 10, 0)
