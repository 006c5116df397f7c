"""Read models of the agent console: who may use it, an inbox page by keyset, a ticket page.

Built on ``tickets.selectors`` (``inbox``, ``merged_timeline``, ``customer_360``); this
module only adds what the HTML pages need on top, in a fixed number of queries whatever
the number of rows: keyset pages on the indexed ``(-updated_at, -id)`` order (never a
``COUNT(*)``), assignee and author display names, and the options of the controls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q

from omniservice.org.models import StaffProfile, Store, Team
from tickets.models import ALLOWED_TRANSITIONS, Ticket, TicketStatus, TicketTag
from tickets.selectors import InboxFilters, TimelineItem, customer_360, inbox, merged_timeline
from tickets.visibility import profile_of

PAGE_SIZE = 50
MAX_FILTER_OPTIONS = 200
MAX_ASSIGNEE_OPTIONS = 200
CURSOR_PATTERN = re.compile(r"^(-?\d{1,20})\.(\d{1,19})$")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def may_use_console(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Staff users with a staff profile, and superusers (same rule as the console socket)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return bool(user.is_superuser or (user.is_staff and profile_of(user) is not None))


def display_name(user: AbstractBaseUser | None) -> str:
    """A staff user's display name; the user must come with ``staff_profile`` selected."""
    if user is None:
        return ""
    profile = profile_of(user)
    return (profile.display_name if profile else "") or user.get_username()


# --- inbox ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Position after the last row of a page: ``(updated_at, id)`` of that row."""

    updated_at: datetime
    id: int

    def encode(self) -> str:
        micros = (self.updated_at - EPOCH) // timedelta(microseconds=1)
        return f"{micros}.{self.id}"

    @classmethod
    def decode(cls, raw: str | None) -> Cursor | None:
        match = CURSOR_PATTERN.match(raw or "")
        if match is None:
            return None
        try:
            updated_at = EPOCH + timedelta(microseconds=int(match.group(1)))
        except OverflowError:
            return None
        return cls(updated_at, int(match.group(2)))

    @classmethod
    def after(cls, ticket: Ticket) -> Cursor:
        return cls(ticket.updated_at, ticket.pk)


@dataclass
class InboxPage:
    tickets: list[Ticket]
    older: Cursor | None


def inbox_page(
    user: AbstractBaseUser, filters: InboxFilters, *, before: Cursor | None, size: int = PAGE_SIZE
) -> InboxPage:
    """One page of an inbox, newest activity first, starting after ``before``."""
    queryset = inbox(user, filters).select_related("assignee__staff_profile", "sla_state__policy")
    if before is not None:
        # The first condition alone is an index range; the second breaks ties on id.
        queryset = queryset.filter(updated_at__lte=before.updated_at).filter(
            Q(updated_at__lt=before.updated_at) | Q(id__lt=before.id)
        )
    rows = list(queryset[: size + 1])
    older = Cursor.after(rows[size - 1]) if len(rows) > size else None
    tickets = rows[:size]
    for ticket in tickets:
        ticket.assignee_name = display_name(ticket.assignee)
    return InboxPage(tickets=tickets, older=older)


def inbox_filter_options() -> dict[str, list[tuple[str, str]]]:
    """Choices of the tag and store filters (bounded: the most common installs have few)."""
    tags = TicketTag.objects.order_by("name").values_list("name", flat=True)[:MAX_FILTER_OPTIONS]
    stores = Store.objects.filter(is_active=True).order_by("code")[:MAX_FILTER_OPTIONS]
    return {
        "tags": [(name, name) for name in tags],
        "stores": [(store.code, store.name) for store in stores],
    }


# --- ticket page ------------------------------------------------------------------------


def timeline_for(ticket: Ticket) -> list[TimelineItem]:
    """``merged_timeline`` with each message's ``author_name`` (one query for all of them)."""
    items = merged_timeline(ticket)
    author_ids = {
        item.item.author_user_id
        for item in items
        if item.kind == "message" and item.item.author_user_id
    }
    names = dict(
        StaffProfile.objects.filter(user_id__in=author_ids)
        .exclude(display_name="")
        .values_list("user_id", "display_name")
    )
    for item in items:
        if item.kind == "message":
            message = item.item
            author = message.author_user
            message.author_name = names.get(message.author_user_id) or (
                author.get_username() if author else ""
            )
    return items


@dataclass
class TicketControls:
    statuses: list[tuple[str, str]]
    assignees: list[tuple[int, str]]
    teams: list[Team]
    tags: str
    assignee_name: str
    solvable: bool


def ticket_controls(user: AbstractBaseUser, ticket: Ticket) -> TicketControls:
    """Options of the status, assignee and team controls of one ticket."""
    allowed = ALLOWED_TRANSITIONS.get(ticket.status, frozenset())
    statuses = [
        (value, label)
        for value, label in TicketStatus.choices
        if value == ticket.status or value in allowed
    ]
    people = Q(pk=user.pk)
    if ticket.team_id:
        people |= Q(staff_profile__teams=ticket.team_id)
    if ticket.assignee_id:
        people |= Q(pk=ticket.assignee_id)
    users = (
        get_user_model()
        .objects.filter(people, is_active=True)
        .select_related("staff_profile")
        .distinct()
        .order_by("username")[:MAX_ASSIGNEE_OPTIONS]
    )
    assignees = [(member.pk, display_name(member)) for member in users]
    names = dict(assignees)
    return TicketControls(
        statuses=statuses,
        assignees=assignees,
        teams=list(Team.objects.order_by("name")[:MAX_FILTER_OPTIONS]),
        tags=", ".join(tag.name for tag in ticket.tags.all()),
        assignee_name=names.get(ticket.assignee_id) or display_name(ticket.assignee),
        solvable=TicketStatus.SOLVED in allowed,
    )


def ticket_page(ticket: Ticket) -> dict[str, Any]:
    """The conversation and the customer panel of the ticket page (controls come apart,
    as the summary fragment also renders them)."""
    return {
        "timeline": timeline_for(ticket),
        "customer_panel": customer_360(ticket.customer),
    }
