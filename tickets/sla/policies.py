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

from django.conf import settings
from django.db.models import Q

from omniservice.org.models import Store
from tickets.models import Ticket
from tickets.models.sla import BusinessCalendar, Holiday, SlaPolicy
from tickets.sla.calendar import Schedule


def active_policies() -> list[SlaPolicy]:
    return list(
        SlaPolicy.objects.filter(is_active=True)
        .select_related("calendar", "escalate_to_team")
        .prefetch_related("teams")
        .order_by("position", "id")
    )


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
    calendar = policy.calendar if policy is not None else None
    if calendar is None and ticket.team_id:
        calendar = BusinessCalendar.objects.filter(team_id=ticket.team_id).first()
    if calendar is not None:
        return calendar_schedule(calendar)
    store = _store_of(ticket)
    if store is not None and any((store.opening_hours or {}).values()):
        return store_schedule(store)
    default = BusinessCalendar.objects.filter(is_default=True).first()
    if default is not None:
        return calendar_schedule(default)
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


def _store_of(ticket: Ticket) -> Store | None:
    if ticket.store_id:
        return ticket.store
    if ticket.team_id and ticket.team.store_id:
        return ticket.team.store
    return None


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
