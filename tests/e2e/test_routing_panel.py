"""The routing panel of the ticket page in a browser: the decision log, a transfer to a
colleague with a note, and the panel refreshing live on the colleague's page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import CustomerFactory, MessageFactory, TicketFactory
from tickets.models import DecisionKind, RoutingDecision

pytestmark = pytest.mark.django_db(transaction=True)

LIVE = "#live-status[data-state=live]"


def test_an_agent_transfers_a_ticket_to_a_colleague_with_a_note(
    asgi_server, console_page, screenshot, personas
):
    one, two = personas.agent, personas.teammate
    one.display_name, two.display_name = "Lin Yue", "Chen Hao"
    one.save(update_fields=["display_name"])
    two.save(update_fields=["display_name"])
    ticket = TicketFactory(
        customer=CustomerFactory(name="王芳", tier="vip"),
        subject="退款还没有到账",
        team=personas.team_a,
        assignee=one.user,
        status="open",
    )
    MessageFactory(ticket=ticket, body_text="退款还没有到账")
    RoutingDecision.objects.create(
        ticket=ticket,
        kind=DecisionKind.ASSIGNED,
        reason="least_loaded",
        strategy="least_loaded",
        team=personas.team_a,
        assignee=one.user,
        details={
            "kind": "chat",
            "candidates": [
                {"id": one.user_id, "name": "Lin Yue", "load": 1, "capacity": 5, "chosen": True},
                {"id": two.user_id, "name": "Chen Hao", "load": 3, "capacity": 5, "chosen": False},
            ],
            "ruled_out": {"offline": 2, "language": 1},
            "examples": {"offline": ["Wang Lei", "Zhao Min"], "language": ["Anna"]},
        },
    )
    url = f"{asgi_server.url}/console/tickets/{ticket.pk}/"
    mine, theirs = console_page(one.user), console_page(two.user)
    for page in (mine, theirs):
        page.goto(url)
        page.wait_for_selector(LIVE)
    panel = "#routing-panel"
    expect(mine.locator(panel)).to_contain_text("least loaded (ties: longest idle)")
    expect(mine.locator(panel)).to_contain_text("2 ruled out: offline")

    # As a person does: the select has focus while it is used, so a live refresh of the
    # controls (presence and routing events arrive at any moment) waits instead of
    # replacing the half-filled form (select_option alone does not focus it: a flaky 400).
    mine.focus("#transfer-agent")
    mine.select_option("#transfer-agent", str(two.user_id))
    mine.fill("#transfer-note", "客户是 VIP，Chen Hao 处理过她上次的退款")
    mine.click("#routing-panel button[type=submit]")

    # The POST, the live event and the refetch share two CI cores with two browsers.
    live_wait = 10_000
    expect(theirs.locator("#control-assignee")).to_have_value(str(two.user_id), timeout=live_wait)
    expect(theirs.locator(panel)).to_contain_text("Transferred", timeout=live_wait)
    expect(theirs.locator(panel)).to_contain_text("处理过她上次的退款")
    expect(mine.locator(".tl-note .bubble-body", has_text="处理过她上次的退款")).to_be_visible(
        timeout=live_wait
    )
    theirs.locator(panel).scroll_into_view_if_needed()
    screenshot(theirs, "console-routing-panel")
    assert mine.external_requests == [] and theirs.external_requests == []
