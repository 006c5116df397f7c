"""Which policy and which business-hours schedule apply to a ticket.

Policy: the first active one, by position, whose every non-empty condition matches the
ticket (priority, the customer's value tier, the channel the customer uses now, team).

Schedule, first that applies:
1. the policy counts around the clock (``business_hours_only`` off): 24/7;
2. the policy names a calendar;
3. the ticket's team has a calendar of its own;
4. the ticket's store (or its team's store) has opening hours: the store's time zone,
   hours and holidays;
5. the default calendar;
6. otherwise 24/7 in the installation's time zone.
Public holidays (no calendar, no store) apply to 2-5; an entry of the calendar or store
itself for the same date wins over them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q

from omniservice.config_cache import snapshot
from omniservice.org.models import Store, Team
from tickets.models import Ticket
from tickets.models.sla import BusinessCalendar, Holiday, SlaPolicy
from tickets.sla.calendar import Schedule

SLA_CONFIG = "sla"


@dataclass
class SlaConfig:
    """What the clock reads on every ticket change, built once per configuration version
    (see ``omniservice.config_cache``; ``tickets.sla.invalidation`` says when it changes).
    Schedules and stores are filled in as tickets ask for them."""

    policies: list[SlaPolicy]
    team_calendars: dict[int, BusinessCalendar]
    default_calendar: BusinessCalendar | None
    team_stores: dict[int, int]
    schedules: dict[tuple[str, int], Schedule] = field(default_factory=dict)
    stores: dict[int, Store | None] = field(default_factory=dict)

    def calendar_schedule(self, calendar: BusinessCalendar) -> Schedule:
        key = ("calendar", calendar.pk)
        if key not in self.schedules:
            self.schedules[key] = calendar_schedule(calendar)
        return self.schedules[key]

    def store(self, store_id: int) -> Store | None:
        if store_id not in self.stores:
            self.stores[store_id] = Store.objects.filter(pk=store_id).first()
        return self.stores[store_id]

    def store_schedule(self, store: Store) -> Schedule:
        key = ("store", store.pk)
        if key not in self.schedules:
            self.schedules[key] = store_schedule(store)
        return self.schedules[key]


def _load_sla_config() -> SlaConfig:
    calendars = list(BusinessCalendar.objects.all())
    return SlaConfig(
        policies=list(
            SlaPolicy.objects.filter(is_active=True)
            .select_related("calendar", "escalate_to_team")
            .prefetch_related("teams")
            .order_by("position", "id")
        ),
        team_calendars={c.team_id: c for c in calendars if c.team_id is not None},
        default_calendar=next((c for c in calendars if c.is_default), None),
        team_stores=dict(Team.objects.filter(store__isnull=False).values_list("pk", "store_id")),
    )


sla_config = snapshot(SLA_CONFIG, _load_sla_config)


def active_policies() -> list[SlaPolicy]:
    return sla_config.get().policies


def ticket_channel(ticket: Ticket) -> str:
    return ticket.last_channel or ticket.origin_channel


def policy_matches(
    policy: SlaPolicy, *, priority: str, tier: str, channel: str, team_id: int | None
) -> bool:
    if policy.priorities and priority not in policy.priorities:
        return False
    if policy.tiers and tier not in policy.tiers:
        return False
    if policy.channels and channel not in policy.channels:
        return False
    team_ids = {team.pk for team in policy.teams.all()}
    return not team_ids or team_id in team_ids


def matching_policy(
    ticket: Ticket, policies: Iterable[SlaPolicy] | None = None
) -> SlaPolicy | None:
    """The first policy matching ``ticket`` (None: no target applies)."""
    candidates = active_policies() if policies is None else policies
    facts = {
        "priority": ticket.priority,
        "tier": ticket.customer.tier,
        "channel": ticket_channel(ticket),
        "team_id": ticket.team_id,
    }
    return next((p for p in candidates if policy_matches(p, **facts)), None)


def schedule_for(ticket: Ticket, policy: SlaPolicy | None) -> Schedule:
    if policy is not None and not policy.business_hours_only:
        return Schedule.always_open(settings.TIME_ZONE, label="24/7")
    config = sla_config.get()
    calendar = policy.calendar if policy is not None else None
    if calendar is None and ticket.team_id:
        calendar = config.team_calendars.get(ticket.team_id)
    if calendar is not None:
        return config.calendar_schedule(calendar)
    store_id = ticket.store_id or config.team_stores.get(ticket.team_id or 0)
    store = config.store(store_id) if store_id else None
    if store is not None and any((store.opening_hours or {}).values()):
        return config.store_schedule(store)
    if config.default_calendar is not None:
        return config.calendar_schedule(config.default_calendar)
    return Schedule.always_open(settings.TIME_ZONE, label="24/7")


def calendar_schedule(calendar: BusinessCalendar) -> Schedule:
    return Schedule.from_hours(
        calendar.timezone,
        calendar.hours,
        _special_days(Q(calendar=calendar)),
        label=calendar.name,
    )


def store_schedule(store: Store) -> Schedule:
    return Schedule.from_hours(
        store.timezone, store.opening_hours, _special_days(Q(store=store)), label=store.name
    )


def _special_days(own: Q) -> dict:
    """Public holidays overridden by the owner's own entries for the same dates."""
    public = Q(calendar__isnull=True, store__isnull=True)
    days: dict = {}
    rows = Holiday.objects.filter(public | own).values_list("date", "hours", "calendar", "store")
    # Public rows (no owner) first, so the owner's row for the same date overwrites them.
    for day, hours, _calendar, _store in sorted(
        rows, key=lambda row: row[2] is not None or row[3] is not None
    ):
        days[day] = hours
    return days
