"""thread_inbound_message(ticket=..., automated=...): a channel that knows the
conversation (an email's In-Reply-To) puts the message on THAT ticket; an automatic
message is kept without moving anything."""

from __future__ import annotations

import pytest

from customers.identity import IdentityClaim
from customers.models import IdentityKind
from omniservice.errors import DomainError
from tickets.models import AuthorKind, Channel, Ticket, TicketStatus
from tickets.services import change_status, merge_tickets, thread_inbound_message
from tickets.signals import ticket_changed

pytestmark = pytest.mark.django_db

EMAIL = IdentityClaim(IdentityKind.EMAIL, "li.na@example.cn")


def inbound(text="Hello", **kwargs):
    kwargs.setdefault("channel", Channel.EMAIL)
    kwargs.setdefault("external_id", None)
    kwargs.setdefault("identities", [EMAIL])
    return thread_inbound_message(text=text, **kwargs)


def two_open_tickets():
    first = inbound("first").ticket
    second = Ticket.objects.create(customer=first.customer, subject="second")
    return first, second


def test_given_ticket_wins_over_the_customers_latest_open_ticket():
    first, second = two_open_tickets()
    assert inbound("no ticket given").ticket == second
    assert inbound("answer to the first", ticket=first).ticket == first


def test_given_solved_ticket_is_reopened():
    first, _second = two_open_tickets()
    change_status(ticket=first, status=TicketStatus.SOLVED, actor=None)
    result = inbound("again", ticket=first)
    assert (result.ticket, result.reopened, result.ticket.status) == (
        first,
        True,
        TicketStatus.OPEN,
    )


def test_given_closed_ticket_falls_back_to_the_usual_rule():
    first, second = two_open_tickets()
    change_status(ticket=first, status=TicketStatus.SOLVED, actor=None)
    change_status(ticket=first, status=TicketStatus.CLOSED, actor=None)
    assert inbound("late", ticket=first).ticket == second


def test_given_merged_ticket_leads_to_the_target():
    first, second = two_open_tickets()
    merge_tickets(source=first, target=second, actor=None)
    assert inbound("hi", ticket=first).ticket == second


def test_automated_message_moves_nothing_and_sends_no_ticket_changed():
    first, _second = two_open_tickets()
    change_status(ticket=first, status=TicketStatus.PENDING, actor=None)
    seen = []

    def listener(sender, **kwargs):
        seen.append(kwargs["event"])

    ticket_changed.connect(listener)
    try:
        result = inbound("Out of office", ticket=first, automated=True, identities=())
    finally:
        ticket_changed.disconnect(listener)
    first.refresh_from_db()
    assert result.message.author_kind == AuthorKind.SYSTEM
    assert first.status == TicketStatus.PENDING
    assert first.last_customer_message_at is None or first.last_customer_message_at < (
        result.message.created_at
    )
    assert seen == []


def test_automated_message_without_an_open_ticket_is_refused():
    with pytest.raises(DomainError) as caught:
        inbound("Out of office", automated=True)
    assert caught.value.code == "automated_without_ticket"
    assert not Ticket.objects.exists()
