"""Routing: eligibility rule by rule, strategies, store first, VIP reservation, queue order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from omniservice.org.models import Role, Seniority
from tests.factories import (
    RoutableAgentFactory,
    SkillFactory,
    StaffProfileFactory,
    StoreFactory,
    TeamFactory,
)
from tests.tickets.routing_helpers import assignee_of, is_queued, queued_ticket, route
from tickets.models import (
    AgentRoutingState,
    DecisionKind,
    DefaultTeamRule,
    QueueEntry,
    RoutingDecision,
    RoutingPolicy,
    RoutingStrategy,
    Ticket,
)
from tickets.routing import engine, queue

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    return TeamFactory(slug="care")


def waiting_reason(ticket) -> dict:
    decision = RoutingDecision.objects.get(ticket=ticket, kind=DecisionKind.WAITING)
    return decision.details["ruled_out"]


# --- eligibility, one rule at a time ------------------------------------------------------


def test_an_online_member_with_room_gets_the_ticket(team):
    agent = RoutableAgentFactory(teams=[team])
    ticket = queued_ticket(team=team)

    assert route(team).assigned == 1

    assert assignee_of(ticket) == agent.user_id
    assert not is_queued(ticket)
    decision = RoutingDecision.objects.get(ticket=ticket, kind=DecisionKind.ASSIGNED)
    assert decision.assignee_id == agent.user_id
    assert decision.details["candidates"][0]["chosen"] is True


@pytest.mark.parametrize("presence", ["away", "offline"])
def test_away_and_offline_agents_never_get_new_work(team, presence):
    RoutableAgentFactory(teams=[team], presence=presence)
    ticket = queued_ticket(team=team)

    assert route(team).assigned == 0

    assert assignee_of(ticket) is None
    assert waiting_reason(ticket) == {presence: 1}
    assert QueueEntry.objects.get(pk=ticket.pk).retry_at is not None


def test_an_agent_of_another_team_is_not_a_candidate(team):
    RoutableAgentFactory(teams=[TeamFactory()])
    ticket = queued_ticket(team=team)

    route(team)

    assert assignee_of(ticket) is None
    assert waiting_reason(ticket) == {}


def test_managers_are_not_routed_work(team):
    StaffProfileFactory(role=Role.MANAGER, teams=[team], presence="online")
    ticket = queued_ticket(team=team)

    route(team)

    assert assignee_of(ticket) is None
    assert RoutingDecision.objects.get(ticket=ticket, kind="waiting").reason == "no_eligible"


def test_the_agent_must_have_every_required_skill(team):
    refund, shoes = SkillFactory(code="refund"), SkillFactory(code="shoes")
    RoutableAgentFactory(teams=[team], skills=[refund])
    both = RoutableAgentFactory(teams=[team], skills=[refund, shoes])
    ticket = queued_ticket(team=team, skills=[refund, shoes])

    route(team)

    assert assignee_of(ticket) == both.user_id
    decision = RoutingDecision.objects.get(ticket=ticket, kind=DecisionKind.ASSIGNED)
    assert decision.details["ruled_out"] == {"skills": 1}


def test_the_agent_must_speak_the_customers_language(team):
    RoutableAgentFactory(teams=[team], languages=["zh-hans"])
    english = RoutableAgentFactory(teams=[team], languages=["en"])
    ticket = queued_ticket(team=team, language="en")

    route(team)

    assert Ticket.objects.get(pk=ticket.pk).language == "en"  # taken from the customer
    assert assignee_of(ticket) == english.user_id


def test_an_agent_without_capacity_for_the_channel_does_not_work_it(team):
    RoutableAgentFactory(teams=[team], capacity={"chat": 5, "email": 20, "phone": 0})
    ticket = queued_ticket(team=team, origin_channel="phone")

    route(team)

    assert assignee_of(ticket) is None
    assert waiting_reason(ticket) == {"channel": 1}


def test_capacity_counts_open_assigned_tickets_of_the_same_kind(team):
    agent = RoutableAgentFactory(teams=[team], capacity={"chat": 2, "email": 1})
    first, second, third = (queued_ticket(team=team) for _ in range(3))
    email = queued_ticket(team=team, origin_channel="email")

    route(team)

    assert [assignee_of(t) for t in (first, second, third)] == [agent.user_id] * 2 + [None]
    assert assignee_of(email) == agent.user_id  # an email slot is not a chat slot
    assert waiting_reason(third) == {"full": 1}


def test_solved_tickets_free_capacity(team):
    agent = RoutableAgentFactory(teams=[team], capacity={"chat": 1})
    first, second = queued_ticket(team=team), queued_ticket(team=team)
    route(team)
    assert assignee_of(second) is None

    Ticket.objects.filter(pk=first.pk).update(status="solved")
    queue.reopen_for(team_ids=[team.pk])
    route(team)

    assert assignee_of(second) == agent.user_id


def test_pending_tickets_still_count_against_capacity(team):
    agent = RoutableAgentFactory(teams=[team], capacity={"chat": 1})
    queued_ticket(team=team, assignee=agent.user, status="pending")
    ticket = queued_ticket(team=team)

    route(team)

    assert assignee_of(ticket) is None


def test_tickets_that_are_pending_assigned_or_merged_never_queue(team):
    agent = RoutableAgentFactory(teams=[team])
    pending = queued_ticket(team=team, status="pending")
    assigned = queued_ticket(team=team, assignee=agent.user)
    target = queued_ticket(team=team)
    merged = queued_ticket(team=team, merged_into=target)

    assert not any(is_queued(t) for t in (pending, assigned, merged))
    assert is_queued(target)


# --- strategies ---------------------------------------------------------------------------


def test_least_loaded_prefers_the_lower_share_of_capacity(team):
    busy = RoutableAgentFactory(teams=[team], capacity={"chat": 5})
    calm = RoutableAgentFactory(teams=[team], capacity={"chat": 5})
    for _ in range(2):
        queued_ticket(team=team, assignee=busy.user, status="open")
    queued_ticket(team=team, assignee=calm.user, status="open")
    ticket = queued_ticket(team=team)

    route(team)

    assert assignee_of(ticket) == calm.user_id


def test_least_loaded_ties_go_to_the_agent_idle_longest(team):
    now = timezone.now()
    online_since = now - timedelta(days=1)
    recent = RoutableAgentFactory(teams=[team], presence_changed_at=online_since)
    idle = RoutableAgentFactory(teams=[team], presence_changed_at=online_since)
    AgentRoutingState.objects.create(user=recent.user, last_assigned_at=now - timedelta(minutes=1))
    AgentRoutingState.objects.create(user=idle.user, last_assigned_at=now - timedelta(hours=1))
    ticket = queued_ticket(team=team)

    route(team)

    assert assignee_of(ticket) == idle.user_id


def test_least_loaded_spreads_a_batch_evenly(team):
    agents = [RoutableAgentFactory(teams=[team]) for _ in range(3)]
    tickets = [queued_ticket(team=team) for _ in range(6)]

    route(team)

    counts = [
        Ticket.objects.filter(pk__in=[t.pk for t in tickets], assignee=a.user).count()
        for a in agents
    ]
    assert counts == [2, 2, 2]


def test_round_robin_rotates_whatever_the_load(team):
    RoutingPolicy.objects.create(team=team, strategy=RoutingStrategy.ROUND_ROBIN)
    loaded = RoutableAgentFactory(teams=[team], capacity={"chat": 10})
    empty = RoutableAgentFactory(teams=[team], capacity={"chat": 10})
    for _ in range(3):
        queued_ticket(team=team, assignee=loaded.user, status="open")
    AgentRoutingState.objects.create(
        user=loaded.user, last_assigned_at=timezone.now() - timedelta(hours=2)
    )
    AgentRoutingState.objects.create(
        user=empty.user, last_assigned_at=timezone.now() - timedelta(hours=1)
    )
    tickets = [queued_ticket(team=team) for _ in range(4)]

    route(team)

    order = [assignee_of(t) for t in tickets]
    assert order == [loaded.user_id, empty.user_id, loaded.user_id, empty.user_id]
    decision = RoutingDecision.objects.filter(ticket=tickets[0], kind="assigned").get()
    assert decision.strategy == RoutingStrategy.ROUND_ROBIN


def test_round_robin_skips_an_agent_at_capacity(team):
    RoutingPolicy.objects.create(team=team, strategy=RoutingStrategy.ROUND_ROBIN)
    small = RoutableAgentFactory(teams=[team], capacity={"chat": 1})
    big = RoutableAgentFactory(teams=[team], capacity={"chat": 10})
    tickets = [queued_ticket(team=team) for _ in range(4)]

    route(team)

    assert sorted(assignee_of(t) for t in tickets).count(small.user_id) == 1
    assert [assignee_of(t) for t in tickets].count(big.user_id) == 3


# --- queue order --------------------------------------------------------------------------


def test_a_vip_ticket_behind_a_thousand_normal_ones_is_assigned_first(team):
    agent = RoutableAgentFactory(teams=[team], capacity={"chat": 1})
    for _ in range(1000):
        queued_ticket(team=team)
    vip = queued_ticket(team=team, tier="vip")

    assert QueueEntry.objects.filter(team=team).count() == 1001
    route(team)

    assert assignee_of(vip) == agent.user_id
    assert Ticket.objects.filter(assignee=agent.user).count() == 1


def test_priority_comes_before_tier_and_tier_before_waiting_time(team):
    agent = RoutableAgentFactory(teams=[team], capacity={"chat": 3})
    oldest = queued_ticket(team=team)
    gold = queued_ticket(team=team, tier="gold")
    urgent = queued_ticket(team=team, priority="urgent")
    newest = queued_ticket(team=team)
    QueueEntry.objects.filter(pk=oldest.pk).update(
        waiting_since=timezone.now() - timedelta(hours=1)
    )

    route(team)

    assert {assignee_of(t) for t in (urgent, gold, oldest)} == {agent.user_id}
    assert assignee_of(newest) is None


# --- VIP reservation ----------------------------------------------------------------------


def test_reserved_tiers_go_only_to_senior_agents(team):
    RoutingPolicy.objects.create(
        team=team, reserved_tiers=["vip"], reserved_min_seniority=Seniority.SENIOR
    )
    junior = RoutableAgentFactory(teams=[team])
    senior = RoutableAgentFactory(teams=[team], seniority=Seniority.SENIOR)
    AgentRoutingState.objects.create(user=senior.user, last_assigned_at=timezone.now())
    vip = queued_ticket(team=team, tier="vip")
    normal = queued_ticket(team=team)

    route(team)

    assert assignee_of(vip) == senior.user_id
    assert assignee_of(normal) == junior.user_id  # juniors still take the rest
    decision = RoutingDecision.objects.get(ticket=vip, kind="assigned")
    assert decision.details["ruled_out"] == {"reserved": 1}


def test_a_vip_waits_rather_than_going_to_a_junior(team):
    RoutingPolicy.objects.create(team=team, reserved_tiers=["vip"])
    RoutableAgentFactory(teams=[team])
    vip = queued_ticket(team=team, tier="vip")

    route(team)

    assert assignee_of(vip) is None
    assert waiting_reason(vip) == {"reserved": 1}


# --- stores ---------------------------------------------------------------------------------


@pytest.fixture
def store_setup():
    store = StoreFactory(code="sh-009")
    store_team = TeamFactory(slug="store-sh-009", store=store)
    centre = TeamFactory(slug="contact-centre")
    RoutingPolicy.objects.create(team=store_team, store_first_minutes=15, overflow_team=centre)
    clerk = RoutableAgentFactory(role=Role.STORE_STAFF, home_store=store, teams=[store_team])
    agent = RoutableAgentFactory(teams=[centre])
    return store, store_team, centre, clerk, agent


def test_a_store_ticket_joins_its_stores_team_and_goes_to_store_staff_first(store_setup):
    store, store_team, _centre, clerk, _agent = store_setup
    ticket = queued_ticket(store=store, origin_channel="store")

    assert Ticket.objects.get(pk=ticket.pk).team_id == store_team.pk
    route()

    assert assignee_of(ticket) == clerk.user_id
    assert RoutingDecision.objects.get(ticket=ticket, kind="queued").reason == "store_team"
    assert RoutingDecision.objects.get(ticket=ticket, kind="assigned").reason == "store_staff"


def test_a_store_ticket_waits_for_store_staff_during_the_window(store_setup):
    store, _store_team, _centre, clerk, _agent = store_setup
    clerk.presence = "offline"
    clerk.save()
    ticket = queued_ticket(store=store, origin_channel="store")

    route()

    assert assignee_of(ticket) is None


def test_a_store_ticket_overflows_to_the_contact_centre_after_the_wait(store_setup):
    from tickets.routing.services import overflow_store_tickets

    store, _store_team, centre, clerk, agent = store_setup
    clerk.presence = "offline"
    clerk.save()
    ticket = queued_ticket(store=store, origin_channel="store")
    QueueEntry.objects.filter(pk=ticket.pk).update(
        store_only_until=timezone.now() - timedelta(seconds=1)
    )

    assert overflow_store_tickets() == 1
    route()

    ticket.refresh_from_db()
    assert ticket.team_id == centre.pk
    assert ticket.assignee_id == agent.user_id
    assert RoutingDecision.objects.filter(ticket=ticket, kind="overflowed").exists()


def test_after_overflow_store_staff_remain_candidates(store_setup):
    store, _store_team, centre, clerk, agent = store_setup
    agent.presence = "offline"
    agent.save()
    ticket = queued_ticket(store=store, origin_channel="store", team=centre)
    QueueEntry.objects.filter(pk=ticket.pk).update(
        store_only_until=timezone.now() - timedelta(seconds=1)
    )

    route()

    assert assignee_of(ticket) == clerk.user_id


# --- team resolution ----------------------------------------------------------------------


def test_default_team_rules_pick_the_most_specific_match():
    wechat_en, wechat, anything = TeamFactory(), TeamFactory(), TeamFactory()
    DefaultTeamRule.objects.create(channel="wechat", language="en", team=wechat_en)
    DefaultTeamRule.objects.create(channel="wechat", team=wechat)
    DefaultTeamRule.objects.create(team=anything)

    english = queued_ticket(origin_channel="wechat", language="en")
    chinese = queued_ticket(origin_channel="wechat", language="zh-hans")
    email = queued_ticket(origin_channel="email")

    assert [Ticket.objects.get(pk=t.pk).team_id for t in (english, chinese, email)] == [
        wechat_en.pk,
        wechat.pk,
        anything.pk,
    ]


def test_without_a_rule_tickets_wait_in_the_general_queue_served_by_every_agent():
    agent = RoutableAgentFactory(teams=[TeamFactory()])
    ticket = queued_ticket()

    assert QueueEntry.objects.get(pk=ticket.pk).team_id is None
    engine.route_waiting_tickets()

    assert assignee_of(ticket) == agent.user_id


def test_store_staff_never_get_general_queue_work_only_their_stores():
    from tests.factories import StoreFactory
    from tickets.routing.triggers import route_for_agent

    store = StoreFactory()
    clerk = RoutableAgentFactory(role="store_staff", home_store=store)
    online_question = queued_ticket()
    store_question = queued_ticket(store=store)

    engine.route_waiting_tickets()

    assert assignee_of(online_question) is None
    assert is_queued(online_question)
    assert assignee_of(store_question) == clerk.user_id

    agent = RoutableAgentFactory()
    route_for_agent(agent.user_id)  # what coming online triggers

    assert assignee_of(online_question) == agent.user_id


def test_a_team_with_routing_off_keeps_its_queue_for_people_to_take(team):
    RoutingPolicy.objects.create(team=team, enabled=False)
    RoutableAgentFactory(teams=[team])
    ticket = queued_ticket(team=team)

    route(team)

    assert assignee_of(ticket) is None
    assert is_queued(ticket)


def test_the_sweep_repairs_missing_and_stale_entries(team):
    from tests.factories import TicketFactory

    missing = TicketFactory(team=team)
    stale = queued_ticket(team=team)
    Ticket.objects.filter(pk=stale.pk).update(status="solved")

    counts = queue.reconcile_queue()

    assert counts["added"] == 1 and counts["removed"] == 1
    assert is_queued(missing) and not is_queued(stale)


@pytest.mark.parametrize(
    ("policy_minutes", "setting_minutes", "window"), [(15, 10, 15), (None, 7, 7)]
)
def test_store_overflow_happens_after_the_configured_wait_and_not_before(
    store_setup, monkeypatch, settings, policy_minutes, setting_minutes, window
):
    from tickets.routing.services import overflow_store_tickets

    store, store_team, centre, clerk, agent = store_setup
    RoutingPolicy.objects.filter(team=store_team).update(store_first_minutes=policy_minutes)
    settings.ROUTING_STORE_FIRST_MINUTES = setting_minutes
    clerk.presence = "offline"
    clerk.save()
    opened = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: opened)
    ticket = queued_ticket(store=store, origin_channel="store")
    Ticket.objects.filter(pk=ticket.pk).update(created_at=opened)

    monkeypatch.setattr(timezone, "now", lambda: opened + timedelta(minutes=window - 1))
    assert overflow_store_tickets() == 0
    route()
    assert assignee_of(ticket) is None  # the contact centre may not take it yet

    monkeypatch.setattr(timezone, "now", lambda: opened + timedelta(minutes=window, seconds=1))
    assert overflow_store_tickets() == 1
    route()

    ticket.refresh_from_db()
    assert (ticket.team_id, ticket.assignee_id) == (centre.pk, agent.user_id)
