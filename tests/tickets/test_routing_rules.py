"""The pure routing rules (no database): each eligibility rule alone, their order, and the
ranking of both strategies."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tickets.routing import rules

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
NO_RESERVATION = rules.Reservation(frozenset(), 0)
VIP_FOR_SENIORS = rules.Reservation(frozenset({"vip"}), 1)


def agent(**fields) -> rules.Agent:
    values = {
        "profile_id": 1,
        "user_id": 1,
        "name": "A",
        "role": "agent",
        "presence": "online",
        "languages": frozenset({"zh-hans", "en"}),
        "skills": frozenset({1, 2}),
        "capacity": {"chat": 2, "email": 10, "phone": 1},
        "seniority": 0,
        "team_ids": frozenset({10}),
        "store_ids": frozenset(),
    }
    values.update(fields)
    return rules.Agent(**values)


WORK = rules.Work(
    ticket_id=1,
    team_id=10,
    store_id=None,
    kind="chat",
    language="zh-hans",
    skill_ids=frozenset({1}),
    tier="standard",
    store_only=False,
)


def test_an_agent_meeting_every_rule_may_take_the_work():
    assert rules.rejection(agent(), WORK, NO_RESERVATION) is None


@pytest.mark.parametrize(
    ("change", "work_change", "reservation", "reason"),
    [
        ({"role": "manager"}, {}, NO_RESERVATION, rules.NOT_ROUTABLE),
        ({"presence": "away"}, {}, NO_RESERVATION, rules.AWAY),
        ({"presence": "offline"}, {}, NO_RESERVATION, rules.OFFLINE),
        ({"capacity": {"chat": 0, "email": 10}}, {}, NO_RESERVATION, rules.NO_CHANNEL),
        ({}, {"kind": "phone"}, NO_RESERVATION, None),
        ({"capacity": {"chat": 2}}, {"kind": "email"}, NO_RESERVATION, rules.NO_CHANNEL),
        ({"languages": frozenset({"en"})}, {}, NO_RESERVATION, rules.NO_LANGUAGE),
        ({}, {"language": ""}, NO_RESERVATION, None),  # no language needed
        ({"skills": frozenset({2})}, {}, NO_RESERVATION, rules.NO_SKILLS),
        ({}, {"skill_ids": frozenset({1, 3})}, NO_RESERVATION, rules.NO_SKILLS),
        ({}, {"tier": "vip"}, VIP_FOR_SENIORS, rules.RESERVED),
        ({"seniority": 1}, {"tier": "vip"}, VIP_FOR_SENIORS, None),
        ({}, {"tier": "gold"}, VIP_FOR_SENIORS, None),
        ({"load": {"chat": 2}}, {}, NO_RESERVATION, rules.FULL),
        ({"load": {"email": 10}}, {}, NO_RESERVATION, None),  # another kind's load
        ({"locked": False}, {}, NO_RESERVATION, rules.BUSY),
    ],
)
def test_each_eligibility_rule_alone(change, work_change, reservation, reason):
    assert rules.rejection(agent(**change), replace(WORK, **work_change), reservation) == reason


def test_the_first_failing_rule_is_the_reason():
    everything_wrong = agent(
        presence="offline", languages=frozenset(), skills=frozenset(), load={"chat": 9}
    )
    assert rules.rejection(everything_wrong, WORK, NO_RESERVATION) == rules.OFFLINE


@pytest.mark.parametrize(
    ("store_ids", "team_ids", "store_only", "candidate"),
    [
        (frozenset({5}), frozenset(), True, True),  # store staff during the window
        (frozenset(), frozenset({10}), True, False),  # the team waits for the store
        (frozenset(), frozenset({10}), False, True),  # after the window
        (frozenset(), frozenset({11}), False, False),  # another team
    ],
)
def test_store_first_then_the_team(store_ids, team_ids, store_only, candidate):
    work = replace(WORK, store_id=5, store_only=store_only)
    assert rules.is_candidate(agent(store_ids=store_ids, team_ids=team_ids), work) is candidate


def test_least_loaded_takes_the_lowest_share_then_the_longest_idle():
    busy = agent(user_id=1, load={"chat": 1}, capacity={"chat": 2})  # 50 %
    roomy = agent(user_id=2, load={"chat": 1}, capacity={"chat": 5})  # 20 %
    assert rules.choose([busy, roomy], WORK, "least_loaded") is roomy
    recent = agent(user_id=3, last_assigned_at=NOW)
    idle = agent(user_id=4, last_assigned_at=NOW - timedelta(hours=1))
    assert rules.choose([recent, idle], WORK, "least_loaded") is idle


def test_round_robin_takes_the_one_routed_least_recently_whatever_the_load():
    loaded = agent(user_id=1, load={"chat": 1}, last_assigned_at=NOW - timedelta(hours=1))
    empty = agent(user_id=2, last_assigned_at=NOW)
    assert rules.choose([loaded, empty], WORK, "round_robin") is loaded
    full = agent(user_id=3, load={"chat": 2}, last_assigned_at=NOW - timedelta(days=1))
    assert rules.choose([full, empty], WORK, "round_robin") is empty


def test_what_a_channel_costs():
    assert rules.ticket_kind("wechat", "email") == "chat"  # the channel the customer is on now
    assert rules.ticket_kind("", "email") == "email"
    assert rules.kind_of("phone") == "phone"
