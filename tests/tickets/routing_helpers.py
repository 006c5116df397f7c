"""Helpers shared by the routing tests."""

from __future__ import annotations

from tests.factories import CustomerFactory, TicketFactory
from tickets.models import QueueEntry, Ticket
from tickets.routing import engine, queue


def queued_ticket(*, team=None, tier="standard", language="zh-hans", skills=(), **fields) -> Ticket:
    """A new unassigned ticket, put in the queue the way the ticket_changed receiver does."""
    ticket = TicketFactory(
        customer=CustomerFactory(tier=tier, language=language), team=team, **fields
    )
    if skills:
        ticket.required_skills.set(skills)
    queue.sync_ticket(ticket)
    return ticket


def route(team=None) -> engine.RunResult:
    keys = None if team is None else [team.pk]
    return engine.route_waiting_tickets(team_keys=keys)


def assignee_of(ticket: Ticket):
    return Ticket.objects.get(pk=ticket.pk).assignee_id


def is_queued(ticket: Ticket) -> bool:
    return QueueEntry.objects.filter(pk=ticket.pk).exists()
