"""Read models of the SLA parts of the console: the ticket panel, the inbox badge, the
policy list. The badge reads only the ticket row (and ``sla_state`` when the list
selected it), so the inbox gains no query per row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone
from django.utils.dates import WEEKDAYS_ABBR

from customers.models import ValueTier
from tickets.models import OPEN_STATUSES, Channel, Priority, Ticket
from tickets.models.sla import (
    BusinessCalendar,
    Holiday,
    SlaEvent,
    SlaEventKind,
    SlaPolicy,
    SlaTarget,
    TicketSla,
)
from tickets.sla.calendar import WEEKDAYS_ORDER
from tickets.sla.clock import DUE_FIELDS, cycle_of, resolution_left, resolution_paused

DEFAULT_WARNING_SECONDS = 15 * 60
DASH = "\N{EN DASH}"


@dataclass
class TargetRow:
    target: str
    label: str
    state: str  # running | paused | met | breached | idle | stopped
    due_at: datetime | None = None
    left: timedelta | None = None
    event_at: datetime | None = None


@dataclass
class SlaPanel:
    policy: SlaPolicy | None
    calendar_label: str
    rows: list[TargetRow]
    warning_seconds: int
    breached_at: datetime | None


def ticket_panel(ticket: Ticket) -> SlaPanel:
    """The three targets of one ticket (two queries: the clock and its events)."""
    state = TicketSla.objects.select_related("policy").filter(ticket=ticket).first()
    policy = state.policy if state else None
    if state is None or policy is None:
        return SlaPanel(None, state.calendar_label if state else "", [], 0, ticket.sla_breached_at)
    outcomes: dict[tuple[str, int], SlaEvent] = {}
    for event in SlaEvent.objects.filter(
        ticket=ticket, kind__in=[SlaEventKind.MET, SlaEventKind.BREACH]
    ).order_by("at", "id"):
        outcomes[(event.target, event.cycle)] = event
    rows = []
    for target in SlaTarget:
        if not policy.target_minutes(target):
            continue
        row = TargetRow(target=target.value, label=target.label, state="idle")
        due = getattr(ticket, DUE_FIELDS[target])
        outcome = outcomes.get((target.value, cycle_of(state, target)))
        if due is not None:
            row.state, row.due_at = "running", due
        elif (
            target == SlaTarget.RESOLUTION
            and ticket.status in OPEN_STATUSES
            and resolution_paused(ticket.status, policy)
        ):
            row.state, row.left = "paused", resolution_left(state, policy)
        elif outcome is not None:
            row.state = "met" if outcome.kind == SlaEventKind.MET else "breached"
            row.due_at, row.event_at = outcome.due_at, outcome.at
        elif ticket.status not in OPEN_STATUSES:
            row.state = "stopped"
        rows.append(row)
    return SlaPanel(
        policy=policy,
        calendar_label=state.calendar_label,
        rows=rows,
        warning_seconds=policy.warning_minutes * 60,
        breached_at=ticket.sla_breached_at,
    )


@dataclass
class Badge:
    target: str
    label: str
    due_at: datetime | None
    warning_seconds: int
    breached_at: datetime | None
    paused: bool


def ticket_badge(ticket: Ticket) -> Badge | None:
    """The nearest due time of an inbox row, or a mark if the ticket breached earlier."""
    due = [
        (getattr(ticket, name), target)
        for target, name in DUE_FIELDS.items()
        if getattr(ticket, name) is not None
    ]
    # Only when the list selected it (select_related): never a query per row.
    state = Ticket.sla_state.related.get_cached_value(ticket, default=None)
    policy = state.policy if state is not None else None
    warning = policy.warning_minutes * 60 if policy is not None else DEFAULT_WARNING_SECONDS
    if due:
        due_at, target = min(due)
        return Badge(
            target, SlaTarget(target).label, due_at, warning, ticket.sla_breached_at, False
        )
    if ticket.sla_breached_at is not None:
        return Badge("", "", None, warning, ticket.sla_breached_at, False)
    if (
        policy is not None
        and policy.resolution_minutes
        and ticket.is_open
        and resolution_paused(ticket.status, policy)
    ):
        return Badge(SlaTarget.RESOLUTION, SlaTarget.RESOLUTION.label, None, warning, None, True)
    return None


# --- the managers' page ------------------------------------------------------------------


@dataclass
class PolicyRow:
    policy: SlaPolicy
    priorities: list[str]
    tiers: list[tuple[str, str]]
    channels: list[str]
    teams: list[str]

    @property
    def matches_anything(self) -> bool:
        return not (self.priorities or self.tiers or self.channels or self.teams)


@dataclass
class CalendarRow:
    calendar: BusinessCalendar
    week: list[tuple[str, str]]  # ("Mon-Fri", "09:00-18:00") with en dashes


@dataclass
class PolicyOverview:
    policies: list[PolicyRow]
    calendars: list[CalendarRow]
    holidays: list[Holiday]


def week_summary(hours: dict) -> list[tuple[str, str]]:
    """Consecutive days with the same ranges together: [("Mon-Fri", "09:00-18:00"), ...]."""
    groups: list[tuple[list[int], str]] = []
    for index, day in enumerate(WEEKDAYS_ORDER):
        ranges = ", ".join(f"{start}{DASH}{end}" for start, end in hours.get(day) or [])
        if not ranges:
            continue
        if groups and groups[-1][1] == ranges and groups[-1][0][-1] == index - 1:
            groups[-1][0].append(index)
        else:
            groups.append(([index], ranges))
    return [
        (
            str(WEEKDAYS_ABBR[days[0]])
            if len(days) == 1
            else f"{WEEKDAYS_ABBR[days[0]]}{DASH}{WEEKDAYS_ABBR[days[-1]]}",
            ranges,
        )
        for days, ranges in groups
    ]


def policy_overview(*, today: date | None = None, holidays: int = 20) -> PolicyOverview:
    today = today or timezone.localdate()
    policies = (
        SlaPolicy.objects.select_related("calendar", "escalate_to_team")
        .prefetch_related("teams")
        .order_by("position", "id")
    )
    return PolicyOverview(
        policies=[
            PolicyRow(
                policy=p,
                priorities=[Priority(v).label for v in p.priorities if v in Priority.values],
                tiers=[(v, ValueTier(v).label) for v in p.tiers if v in ValueTier.values],
                channels=[Channel(v).label for v in p.channels if v in Channel.values],
                teams=[team.name for team in p.teams.all()],
            )
            for p in policies
        ],
        calendars=[
            CalendarRow(calendar, week_summary(calendar.hours))
            for calendar in BusinessCalendar.objects.select_related("team").order_by("name")
        ],
        holidays=list(
            Holiday.objects.filter(date__gte=today)
            .select_related("calendar", "store")
            .order_by("date")[:holidays]
        ),
    )
