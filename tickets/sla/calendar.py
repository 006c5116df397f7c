"""Business time, as pure functions of a :class:`Schedule` (no database, no clock).

A schedule is weekly opening ranges in a time zone plus dated exceptions (holidays:
closed, or special hours such as a working Saturday). Ranges are local wall-clock times
and are turned into UTC day by day, so daylight-saving changes fall out of ``zoneinfo``:
a 09:00-18:00 day is 9 real hours whatever the offset, and a range crossing a clock
change counts the real time that passed. A local time that does not exist (the hour
skipped in spring) is read with the offset before the change, as ``zoneinfo`` does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS_ORDER = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # as in org opening hours
MINUTES_PER_DAY = 24 * 60
MAX_DAYS_SEARCHED = 366 * 5

Ranges = tuple[tuple[int, int], ...]  # (start, end) in minutes after local midnight, end <= 1440


class NoBusinessHours(ValueError):
    """The schedule has no open time in the searched horizon (every day closed)."""


def parse_ranges(raw: list | tuple) -> Ranges:
    """``[["09:00", "18:00"], ...]`` -> sorted, merged minute ranges ("24:00" = midnight)."""
    ranges = []
    for start, end in raw:
        begin, finish = _minutes(start), _minutes(end)
        if finish > begin:
            ranges.append((begin, finish))
    merged: list[tuple[int, int]] = []
    for begin, finish in sorted(ranges):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], finish))
        else:
            merged.append((begin, finish))
    return tuple(merged)


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return min(int(hours) * 60 + int(minutes), MINUTES_PER_DAY)


@dataclass(frozen=True)
class Schedule:
    """When the clock runs. ``weekly`` is None for a 24/7 schedule (exceptions ignored)."""

    tz: ZoneInfo
    weekly: tuple[Ranges, ...] | None  # Monday first, 7 entries
    special: Mapping[date, Ranges] = field(default_factory=dict)
    label: str = ""

    @classmethod
    def always_open(cls, tz: str = "UTC", label: str = "24/7") -> Schedule:
        return cls(tz=ZoneInfo(tz), weekly=None, label=label)

    @classmethod
    def from_hours(
        cls,
        tz: str,
        hours: Mapping[str, list],
        special: Mapping[date, list] | None = None,
        label: str = "",
    ) -> Schedule:
        """From ``{"mon": [["09:00", "18:00"]], ...}`` and ``{date: [ranges] or []}``."""
        weekly = tuple(parse_ranges(hours.get(day) or []) for day in WEEKDAYS_ORDER)
        days = {day: parse_ranges(ranges or []) for day, ranges in (special or {}).items()}
        return cls(tz=ZoneInfo(tz), weekly=weekly, special=days, label=label)

    @property
    def is_always_open(self) -> bool:
        return self.weekly is None

    def ranges_on(self, day: date) -> Ranges:
        if self.weekly is None:
            return ((0, MINUTES_PER_DAY),)
        if day in self.special:
            return self.special[day]
        return self.weekly[day.weekday()]

    def has_open_time(self) -> bool:
        return self.weekly is None or any(self.weekly) or any(self.special.values())

    def intervals_from(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals in UTC, in order, the first one clipped to begin at ``start``."""
        _require_aware(start)
        if self.weekly is None:
            yield start, datetime.max.replace(tzinfo=UTC)
            return
        day = start.astimezone(self.tz).date() - timedelta(days=1)
        for _n in range(MAX_DAYS_SEARCHED):
            for begin, finish in self.ranges_on(day):
                opens, closes = self._instant(day, begin), self._instant(day, finish)
                if closes <= start or closes <= opens:
                    continue
                yield max(opens, start), closes
            day += timedelta(days=1)

    def _instant(self, day: date, minute: int) -> datetime:
        if minute >= MINUTES_PER_DAY:
            day, minute = day + timedelta(days=1), 0
        local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.tz)
        return local.astimezone(UTC)

    def is_open(self, at: datetime) -> bool:
        for opens, _closes in self.intervals_from(at):
            return opens <= at
        return False


def add_business_time(schedule: Schedule, start: datetime, amount: timedelta) -> datetime:
    """The instant when ``amount`` of open time has passed since ``start``.

    A target that ends exactly at closing time is due at closing time, not next morning;
    a zero amount is due at ``start`` itself.
    """
    _require_aware(start)
    if amount <= timedelta(0):
        return start
    if schedule.weekly is None:
        return start + amount
    remaining = amount
    for opens, closes in schedule.intervals_from(start):
        span = closes - opens
        if remaining <= span:
            return (opens + remaining).astimezone(UTC)
        remaining -= span
    raise NoBusinessHours(schedule.label)


def add_business_minutes(schedule: Schedule, start: datetime, minutes: float) -> datetime:
    return add_business_time(schedule, start, timedelta(minutes=minutes))


def business_time_between(schedule: Schedule, start: datetime, end: datetime) -> timedelta:
    """Open time in ``[start, end)``; zero when ``end`` is not after ``start``."""
    _require_aware(start)
    _require_aware(end)
    if end <= start:
        return timedelta(0)
    if schedule.weekly is None:
        return end - start
    total = timedelta(0)
    for opens, closes in schedule.intervals_from(start):
        if opens >= end:
            break
        total += min(closes, end) - opens
    return total


def business_minutes_between(schedule: Schedule, start: datetime, end: datetime) -> float:
    return business_time_between(schedule, start, end) / timedelta(minutes=1)


def _require_aware(value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("business time needs timezone-aware datetimes")
