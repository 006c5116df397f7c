"""Read side of tickets: inboxes, a ticket with its conversation, the customer 360 view."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from customers.identity import InvalidIdentity, normalize_email, normalize_phone
from customers.models import Consent, Customer, CustomerEvent, Identity, IdentityKind
from tickets.models import OPEN_STATUSES, Attachment, Message, Ticket, TicketStatus
from tickets.visibility import profile_of, sees_everything, tickets_visible_to

INBOX_VIEWS = ("mine", "unassigned", "teams", "all")
NUMBER_PATTERN = re.compile(r"^#?(\d{1,12})$")
PHONE_LIKE = re.compile(r"^\+?[\d\s()-]{6,20}$")


@dataclass(frozen=True)
class InboxFilters:
    view: str = "mine"
    status: str = ""
    channel: str = ""
    priority: str = ""
    tag: str = ""
    store: str = ""
    q: str = ""


def with_list_relations(queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
    return queryset.select_related("customer", "assignee", "team", "store").prefetch_related("tags")


def inbox(user: AbstractBaseUser, filters: InboxFilters) -> QuerySet[Ticket]:
    """The tickets of one console view, newest activity first, visible to ``user`` only."""
    queryset = tickets_visible_to(user).filter(merged_into__isnull=True)
    if filters.view == "mine":
        queryset = queryset.filter(assignee_id=user.pk)
    elif filters.view == "unassigned":
        queryset = queryset.filter(assignee__isnull=True)
    elif filters.view == "teams":
        profile = profile_of(user)
        team_ids = list(profile.teams.values_list("id", flat=True)) if profile else []
        queryset = queryset.filter(team_id__in=team_ids)
    elif filters.view == "all" and not sees_everything(user):
        queryset = queryset.none()
    if filters.status == "open_any" or not filters.status:
        queryset = queryset.filter(status__in=OPEN_STATUSES)
    elif filters.status != "any":
        queryset = queryset.filter(status=filters.status)
    if filters.channel:
        queryset = queryset.filter(last_channel=filters.channel)
    if filters.priority:
        queryset = queryset.filter(priority=filters.priority)
    if filters.tag:
        queryset = queryset.filter(tags__name=filters.tag)
    if filters.store:
        queryset = queryset.filter(store__code=filters.store)
    if filters.q:
        queryset = queryset.filter(search_condition(filters.q))
    return with_list_relations(queryset).order_by("-updated_at", "-id")


def search_condition(query: str) -> Q:
    """Ticket number, phone, email, customer name, subject or message text."""
    query = query.strip()
    number = NUMBER_PATTERN.match(query)
    if number:
        return Q(pk=int(number.group(1)))
    identity: tuple[str, str] | None = None
    if "@" in query:
        try:
            identity = (IdentityKind.EMAIL, normalize_email(query))
        except InvalidIdentity:
            identity = None
    elif PHONE_LIKE.match(query):
        try:
            identity = (IdentityKind.PHONE, normalize_phone(query))
        except InvalidIdentity:
            identity = None
    if identity is not None:
        owners = Identity.objects.filter(kind=identity[0], value=identity[1]).values("customer_id")
        return Q(customer_id__in=owners)
    in_messages = Message.objects.filter(ticket=OuterRef("pk"), body_text__icontains=query)
    return Q(subject__icontains=query) | Q(customer__name__icontains=query) | Q(Exists(in_messages))


def ticket_for(user: AbstractBaseUser, number: int) -> Ticket | None:
    """The ticket if ``user`` may see it (merged tickets included, callers redirect)."""
    return with_list_relations(tickets_visible_to(user)).filter(pk=number).first()


def conversation(ticket: Ticket) -> QuerySet[Message]:
    return (
        ticket.messages.select_related("author_user", "store")
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("id")))
        .order_by("created_at", "id")
    )


@dataclass
class TimelineItem:
    at: datetime
    kind: str  # "message", "event", "ticket", "status"
    item: Any


def customer_360(customer: Customer) -> dict[str, Any]:
    """The customer panel: profile, identities, consents, recent orders/visits, tickets."""
    customer = (
        Customer.objects.select_related("home_store")
        .prefetch_related(
            Prefetch("identities", queryset=Identity.objects.order_by("kind", "id")),
            "tags",
            Prefetch("consents", queryset=Consent.objects.order_by("channel", "purpose")),
        )
        .get(pk=customer.pk)
    )
    events = list(
        CustomerEvent.objects.filter(customer=customer)
        .select_related("store")
        .order_by("-occurred_at", "-id")[:20]
    )
    tickets = list(
        Ticket.objects.filter(customer=customer, merged_into__isnull=True).order_by("-created_at")[
            :10
        ]
    )
    return {
        "customer": customer,
        "events": events,
        "tickets": tickets,
        "open_tickets": sum(1 for t in tickets if t.status in OPEN_STATUSES),
        "solved_tickets": sum(1 for t in tickets if t.status == TicketStatus.SOLVED),
    }


def merged_timeline(ticket: Ticket, *, event_limit: int = 50) -> list[TimelineItem]:
    """The ticket's messages interleaved with its status history, the customer's events
    and the customer's other tickets."""
    items = [TimelineItem(m.created_at, "message", m) for m in conversation(ticket)]
    events = (
        CustomerEvent.objects.filter(customer_id=ticket.customer_id)
        .select_related("store")
        .order_by("-occurred_at", "-id")[:event_limit]
    )
    items += [TimelineItem(e.occurred_at, "event", e) for e in events]
    others = (
        Ticket.objects.filter(customer_id=ticket.customer_id, merged_into__isnull=True)
        .exclude(pk=ticket.pk)
        .order_by("-created_at")[:20]
    )
    items += [TimelineItem(t.created_at, "ticket", t) for t in others]
    changes = ticket.status_changes.select_related("actor__staff_profile").order_by(
        "changed_at", "id"
    )
    items += [TimelineItem(c.changed_at, "status", c) for c in changes]
    items.sort(key=lambda item: item.at)
    return items
