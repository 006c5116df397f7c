"""Fixtures and helpers shared by the SLA tests: an injected clock, calendars, policies."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from customers.identity import IdentityClaim
from customers.models import IdentityKind
from tickets.models.sla import BusinessCalendar, SlaPolicy
from tickets.services import thread_inbound_message

SHANGHAI = ZoneInfo("Asia/Shanghai")
LONDON = ZoneInfo("Europe/London")
WEEKDAYS_9_TO_6 = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def shanghai(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


class Clock:
    """``django.utils.timezone.now`` under the test's control (auto_now fields included)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def set(self, instant: datetime) -> None:
        self.now = instant

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def install_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """For a module's ``clock`` fixture; starts on Monday 2026-12-07 09:00 in Shanghai."""
    current = Clock(shanghai(2026, 12, 7, 9, 0))
    monkeypatch.setattr(timezone, "now", lambda: current.now)
    return current


def shanghai_calendar(team=None, *, default: bool = False, **fields) -> BusinessCalendar:
    return BusinessCalendar.objects.create(
        name=fields.pop("name", "CC Shanghai"),
        timezone="Asia/Shanghai",
        hours=fields.pop("hours", WEEKDAYS_9_TO_6),
        team=team,
        is_default=default,
        **fields,
    )


def policy(name: str = "Standard", *, teams=(), **fields) -> SlaPolicy:
    values = {
        "first_response_minutes": 60,
        "next_response_minutes": 30,
        "resolution_minutes": 480,
        "warning_minutes": 15,
    } | fields
    created = SlaPolicy.objects.create(name=name, **values)
    created.teams.set(list(teams))
    return created


_counter = {"n": 0}


def customer_writes(text: str = "Where is my order?", *, phone: str | None = None, **kwargs):
    """A customer's inbound message through the real threading service."""
    if phone is None:
        _counter["n"] += 1
        phone = f"+86138{_counter['n']:08d}"
    return thread_inbound_message(
        channel=kwargs.pop("channel", "web_chat"),
        external_id=None,
        identities=[IdentityClaim(IdentityKind.PHONE, phone)],
        text=text,
        **kwargs,
    )
