"""Policy matching and order, which calendar applies, and validation of what managers enter."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.utils import translation

from customers.models import ValueTier
from tests.factories import CustomerFactory, StoreFactory, TeamFactory, TicketFactory
from tests.tickets.sla_support import WEEKDAYS_9_TO_6, policy, shanghai_calendar
from tickets.models.sla import BusinessCalendar, Holiday, SlaPolicy
from tickets.sla.policies import matching_policy, schedule_for

pytestmark = pytest.mark.django_db


def ticket(**fields):
    tier = fields.pop("tier", ValueTier.STANDARD)
    return TicketFactory(customer=CustomerFactory(tier=tier), **fields)


def test_the_first_matching_policy_by_position_wins():
    policy("Catch-all", position=100)
    vip = policy("VIP", position=10, tiers=["vip"])
    policy("VIP too, but later", position=20, tiers=["vip"])

    assert matching_policy(ticket(tier="vip")) == vip
    assert matching_policy(ticket()).name == "Catch-all"


def test_equal_positions_fall_back_to_creation_order():
    first = policy("First", position=5)
    policy("Second", position=5)

    assert matching_policy(ticket()) == first


def test_every_condition_must_match():
    team = TeamFactory()
    wanted = policy(
        "VIP urgent WeChat", priorities=["urgent"], tiers=["vip"], channels=["wechat"], teams=[team]
    )
    facts = {"priority": "urgent", "tier": "vip", "last_channel": "wechat", "team": team}

    assert matching_policy(ticket(**facts)) == wanted
    for key, other in [
        ("priority", "high"),
        ("tier", "gold"),
        ("last_channel", "email"),
        ("team", TeamFactory()),
    ]:
        assert matching_policy(ticket(**(facts | {key: other}))) is None, key


def test_the_channel_is_the_one_the_customer_uses_now():
    email = policy("Email", channels=["email"])

    assert matching_policy(ticket(origin_channel="web_chat", last_channel="email")) == email


def test_inactive_policies_are_skipped():
    policy("Off", position=1, is_active=False)
    on = policy("On", position=2)

    assert matching_policy(ticket()) == on


def test_the_policy_calendar_comes_before_the_teams():
    team = TeamFactory()
    shanghai_calendar(team, name="Team hours")
    named = shanghai_calendar(name="Named")
    chosen = policy(calendar=named)

    assert schedule_for(ticket(team=team), chosen).label == "Named"
    assert schedule_for(ticket(team=team), None).label == "Team hours"


def test_a_store_ticket_without_team_hours_runs_on_the_stores_hours():
    store = StoreFactory(timezone="Europe/London", opening_hours={"mon": [["10:00", "18:00"]]})
    shanghai_calendar(name="Default", default=True)

    schedule = schedule_for(ticket(store=store), None)

    assert schedule.label == store.name
    assert str(schedule.tz) == "Europe/London"


def test_a_store_team_without_a_calendar_uses_its_stores_hours():
    store = StoreFactory(opening_hours={"sat": [["10:00", "22:00"]]})
    team = TeamFactory(store=store)

    assert schedule_for(ticket(team=team), None).label == store.name


def test_without_any_calendar_the_clock_runs_around_the_clock():
    assert schedule_for(ticket(), None).is_always_open
    assert schedule_for(ticket(), policy(business_hours_only=False)).is_always_open


def test_public_holidays_apply_and_a_calendars_own_entry_wins():
    calendar = shanghai_calendar(default=True)
    Holiday.objects.create(date=date(2026, 10, 1), name="National Day")
    Holiday.objects.create(date=date(2026, 10, 2), name="National Day")
    Holiday.objects.create(
        calendar=calendar, date=date(2026, 10, 2), name="We work", hours=[["10:00", "16:00"]]
    )

    schedule = schedule_for(ticket(), None)

    assert schedule.ranges_on(date(2026, 10, 1)) == ()
    assert schedule.ranges_on(date(2026, 10, 2)) == ((600, 960),)


def test_store_holidays_apply_to_that_store_only():
    store, other = StoreFactory(), StoreFactory()
    Holiday.objects.create(store=store, date=date(2026, 12, 7), name="Stocktake")

    assert schedule_for(ticket(store=store), None).ranges_on(date(2026, 12, 7)) == ()
    assert schedule_for(ticket(store=other), None).ranges_on(date(2026, 12, 7)) == ((600, 1320),)


# --- validation (messages read in English) ----------------------------------------------


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({"mon": [["09:00", "12:00"], ["11:00", "18:00"]]}, "overlap"),
        ({"mon": [["09:00", "25:00"]]}, "not a time of day"),
        ({"funday": [["09:00", "18:00"]]}, "Unknown weekday"),
        ({"mon": [["18:00", "09:00"]]}, "start before end"),
        ({}, "at least one open range"),
    ],
)
def test_bad_weekly_hours_are_refused_with_a_clear_message(hours, message):
    calendar = BusinessCalendar(name="Bad", timezone="Asia/Shanghai", hours=hours)

    with pytest.raises(ValidationError) as error:
        calendar.full_clean()

    assert message in str(error.value)


def test_an_unknown_time_zone_is_refused():
    calendar = BusinessCalendar(name="Bad", timezone="Mars/Olympus", hours=WEEKDAYS_9_TO_6)

    with pytest.raises(ValidationError, match="time zone"):
        calendar.full_clean()


def test_only_one_calendar_is_the_default():
    shanghai_calendar(default=True)

    with pytest.raises(ValidationError, match="already the default"):
        BusinessCalendar(name="Other", hours=WEEKDAYS_9_TO_6, is_default=True).full_clean()


def test_a_holiday_belongs_to_a_calendar_or_a_store_not_both():
    with pytest.raises(IntegrityError):
        Holiday.objects.create(
            calendar=shanghai_calendar(), store=StoreFactory(), date=date(2026, 1, 1), name="x"
        )


def test_a_policy_needs_a_target_and_known_conditions():
    empty = SlaPolicy(name="Nothing")
    with pytest.raises(ValidationError, match="at least one target"):
        empty.full_clean()

    wrong = SlaPolicy(name="Wrong", first_response_minutes=10, tiers=["diamond"])
    with pytest.raises(ValidationError) as error:
        wrong.full_clean()
    assert "tiers" in error.value.message_dict
