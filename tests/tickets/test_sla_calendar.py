"""Business time as pure functions: nights, weekends, holidays, time zones, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tickets.sla.calendar import (
    NoBusinessHours,
    Schedule,
    add_business_minutes,
    business_minutes_between,
    parse_ranges,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
LONDON = ZoneInfo("Europe/London")
WEEKDAYS_9_TO_6 = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
EVERY_DAY_9_TO_5 = {
    day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
}


def shanghai(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


@pytest.fixture
def team_hours() -> Schedule:
    """A contact-centre team in Shanghai, Monday to Friday 09:00-18:00."""
    return Schedule.from_hours("Asia/Shanghai", WEEKDAYS_9_TO_6, label="CC Shanghai")


# 2026-12-04 is a Friday.


def test_minutes_inside_one_open_range_add_up_plainly(team_hours):
    assert add_business_minutes(team_hours, shanghai(2026, 12, 2, 10, 0), 90) == shanghai(
        2026, 12, 2, 11, 30
    )


def test_the_clock_stops_overnight(team_hours):
    due = add_business_minutes(team_hours, shanghai(2026, 12, 1, 17, 30), 60)

    assert due == shanghai(2026, 12, 2, 9, 30)


def test_the_clock_skips_the_weekend(team_hours):
    due = add_business_minutes(team_hours, shanghai(2026, 12, 4, 17, 0), 120)

    assert due == shanghai(2026, 12, 7, 10, 0)
    assert due.tzinfo == UTC


def test_a_start_before_opening_counts_from_opening(team_hours):
    assert add_business_minutes(team_hours, shanghai(2026, 12, 7, 6, 15), 30) == shanghai(
        2026, 12, 7, 9, 30
    )


def test_a_target_ending_at_closing_time_is_due_at_closing_time(team_hours):
    assert add_business_minutes(team_hours, shanghai(2026, 12, 7, 17, 0), 60) == shanghai(
        2026, 12, 7, 18, 0
    )


def test_a_start_on_saturday_counts_from_monday_morning(team_hours):
    assert add_business_minutes(team_hours, shanghai(2026, 12, 5, 11, 0), 45) == shanghai(
        2026, 12, 7, 9, 45
    )


def test_a_holiday_is_closed_all_day():
    hours = Schedule.from_hours("Asia/Shanghai", WEEKDAYS_9_TO_6, special={date(2026, 12, 7): []})

    assert add_business_minutes(hours, shanghai(2026, 12, 4, 17, 0), 120) == shanghai(
        2026, 12, 8, 10, 0
    )


def test_a_working_saturday_opens_with_its_own_hours():
    """Chinese make-up working days (调休) fall on weekends."""
    hours = Schedule.from_hours(
        "Asia/Shanghai", WEEKDAYS_9_TO_6, special={date(2026, 12, 5): [["10:00", "15:00"]]}
    )

    assert add_business_minutes(hours, shanghai(2026, 12, 4, 17, 0), 120) == shanghai(
        2026, 12, 5, 11, 0
    )


def test_business_minutes_between_skip_nights_and_weekends(team_hours):
    assert business_minutes_between(
        team_hours, shanghai(2026, 12, 4, 17, 0), shanghai(2026, 12, 7, 10, 0)
    ) == pytest.approx(120)
    assert business_minutes_between(
        team_hours, shanghai(2026, 12, 5, 8, 0), shanghai(2026, 12, 6, 20, 0)
    ) == pytest.approx(0)


def test_business_minutes_between_is_zero_backwards(team_hours):
    assert business_minutes_between(
        team_hours, shanghai(2026, 12, 7, 10, 0), shanghai(2026, 12, 4, 17, 0)
    ) == pytest.approx(0)


@pytest.mark.parametrize("minutes", [1, 59, 60, 540, 541, 1000, 5 * 540, 12345])
@pytest.mark.parametrize("start_hour", [0, 8, 9, 13, 17, 18, 23])
def test_adding_then_measuring_gives_back_the_minutes(team_hours, minutes, start_hour):
    start = shanghai(2026, 12, 3, start_hour, 0)

    due = add_business_minutes(team_hours, start, minutes)

    assert business_minutes_between(team_hours, start, due) == pytest.approx(minutes)


def test_same_instant_same_target_differs_between_shanghai_and_london():
    team = Schedule.from_hours("Asia/Shanghai", WEEKDAYS_9_TO_6)
    store = Schedule.from_hours("Europe/London", WEEKDAYS_9_TO_6)
    start = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)  # 16:00 in Shanghai, 08:00 in London

    assert add_business_minutes(team, start, 180) == shanghai(2026, 12, 3, 10, 0)
    assert add_business_minutes(store, start, 180) == london(2026, 12, 2, 12, 0)


def test_london_hours_follow_the_clock_change_in_spring():
    """On 29 March 2026 London moves to BST (UTC+1): 09:00 opens at 08:00 UTC."""
    store = Schedule.from_hours("Europe/London", EVERY_DAY_9_TO_5)
    saturday_4pm = datetime(2026, 3, 28, 16, 0, tzinfo=UTC)  # GMT: 16:00 local

    due = add_business_minutes(store, saturday_4pm, 120)

    assert due == datetime(2026, 3, 29, 9, 0, tzinfo=UTC) == london(2026, 3, 29, 10, 0)
    assert business_minutes_between(store, saturday_4pm, due) == pytest.approx(120)


def test_london_hours_follow_the_clock_change_in_autumn():
    """On 25 October 2026 London goes back to GMT: 09:00 opens at 09:00 UTC again."""
    store = Schedule.from_hours("Europe/London", EVERY_DAY_9_TO_5)

    due = add_business_minutes(store, london(2026, 10, 24, 16, 30), 60)

    assert due == london(2026, 10, 25, 9, 30) == datetime(2026, 10, 25, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "hours"), [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (date(2026, 6, 1), 24)]
)
def test_a_whole_open_day_counts_the_real_hours_across_dst(day, hours):
    always = {d: [["00:00", "24:00"]] for d in EVERY_DAY_9_TO_5}
    store = Schedule.from_hours("Europe/London", always)
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=LONDON)
    next_midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=LONDON)

    assert business_minutes_between(store, midnight, next_midnight) == pytest.approx(hours * 60)


def test_around_the_clock_adds_wall_clock_minutes():
    always = Schedule.always_open()
    start = shanghai(2026, 12, 5, 23, 50)

    assert add_business_minutes(always, start, 30) == shanghai(2026, 12, 6, 0, 20)
    assert business_minutes_between(always, start, shanghai(2026, 12, 6, 0, 20)) == 30


def test_zero_minutes_are_due_at_once(team_hours):
    start = shanghai(2026, 12, 5, 3, 0)

    assert add_business_minutes(team_hours, start, 0) == start


def test_a_calendar_without_open_hours_refuses():
    closed = Schedule.from_hours("Asia/Shanghai", {})

    with pytest.raises(NoBusinessHours):
        add_business_minutes(closed, shanghai(2026, 12, 1, 9, 0), 10)


def test_naive_datetimes_are_refused(team_hours):
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_minutes(team_hours, datetime(2026, 12, 1, 9, 0), 10)


def test_ranges_are_sorted_merged_and_may_end_at_midnight():
    assert parse_ranges([["13:00", "24:00"], ["09:00", "12:00"], ["11:00", "14:00"]]) == (
        (540, 1440),
    )


def test_split_days_count_both_ranges(team_hours):
    lunch_break = Schedule.from_hours(
        "Asia/Shanghai", {"mon": [["09:00", "12:00"], ["13:00", "18:00"]]}
    )

    due = add_business_minutes(lunch_break, shanghai(2026, 12, 7, 11, 0), 120)

    assert due == shanghai(2026, 12, 7, 14, 0)


def test_is_open(team_hours):
    assert team_hours.is_open(shanghai(2026, 12, 7, 9, 0))
    assert not team_hours.is_open(shanghai(2026, 12, 7, 18, 0))
    assert not team_hours.is_open(shanghai(2026, 12, 5, 12, 0))
