"""SLA countdowns in a real browser: they tick, and the ticket panel follows a reply live."""

from __future__ import annotations

import re

import pytest
from django.db import transaction
from playwright.sync_api import expect

from tests.factories import MessageFactory, TicketFactory
from tickets.models.sla import SlaPolicy
from tickets.sla.clock import recompute

pytestmark = pytest.mark.django_db(transaction=True)

LIVE = "#live-status[data-state=live]"


def test_countdowns_tick_and_the_panel_follows_a_reply(asgi_server, console_page, personas):
    SlaPolicy.objects.create(
        name="Chat 24/7",
        first_response_minutes=30,
        resolution_minutes=600,
        business_hours_only=False,
    )
    # Built without services: their live events would need an event loop of their own.
    ticket = TicketFactory(team=personas.team_a, subject="Where is my parcel?")
    MessageFactory(ticket=ticket, body_text="Where is my parcel?")
    with transaction.atomic():  # recompute locks the SLA row, as its callers do
        recompute(ticket)
    page = console_page(personas.agent.user)

    page.goto(f"{asgi_server.url}/console/?view=teams")
    badge = page.locator(f"#ticket-list tr[data-ticket='{ticket.pk}'] .sla-badge")
    expect(badge).to_have_text(re.compile(r"^(29|30):\d\d$"), timeout=3000)
    first = badge.inner_text()
    expect(badge).not_to_have_text(first, timeout=3000)  # it ticks

    page.goto(f"{asgi_server.url}/console/tickets/{ticket.pk}/")
    page.wait_for_selector(LIVE)
    first_response = page.locator("#sla-panel dd[data-target=first_response]")
    expect(first_response.locator(".sla-countdown")).to_contain_text("left")
    page.fill("#reply-text", "It left the warehouse this morning.")
    page.click("#send-button")

    expect(page.locator("#sla-panel dd[data-target=first_response]")).to_have_class(
        "sla-met", timeout=3000
    )
    resolution = page.locator("#sla-panel dd[data-target=resolution] .sla-countdown")
    expect(resolution).to_have_text(re.compile(r"^9h 59m left$"))
    assert page.external_requests == []
