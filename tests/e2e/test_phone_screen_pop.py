"""The hotline screen pop in a real browser: a signed "answered" event posted by the PBX
to the live ASGI server pops up in the answering agent's console (and only there), and
its link opens the caller's ticket with the customer 360 panel."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from playwright.sync_api import expect

from channels_hub.adapters.phone import phone_signature
from channels_hub.models import ChannelConnection
from customers.models import IdentityKind
from tests.factories import CustomerFactory, IdentityFactory
from tickets.models import Channel

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "pbx-e2e-secret"
LIVE = "#live-status[data-state=live]"


def post_call_event(server_url: str, connection: ChannelConnection, body: dict) -> dict:
    data = json.dumps(body).encode()
    stamp = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310 - the local test server
        f"{server_url}/hooks/phone/{connection.webhook_key}/",
        data=data,
        headers={
            "Content-Type": "application/json",
            "X-Omniservice-Timestamp": stamp,
            "X-Omniservice-Signature": phone_signature(SECRET, stamp, data),
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert response.status == 200
        return json.load(response)


def test_answered_call_pops_up_in_the_agents_console(
    asgi_server, console_page, screenshot, personas
):
    connection = ChannelConnection(channel=Channel.PHONE, name="hotline")
    connection.set_secrets({"signing_secret": SECRET})
    connection.save()
    customer = CustomerFactory(name="王芳", tier="vip")
    IdentityFactory(customer=customer, kind=IdentityKind.PHONE, value="+8613800138000")
    agent, teammate = personas.agent.user, personas.teammate.user
    mine, theirs = console_page(agent), console_page(teammate)
    for page in (mine, theirs):
        page.goto(f"{asgi_server.url}/console/")
        page.wait_for_selector(LIVE)

    answer = post_call_event(
        asgi_server.url,
        connection,
        {
            "call_id": "e2e-call-1",
            "event": "answered",
            "direction": "inbound",
            "from": "+8613800138000",
            "to": "+862161234567",
            "agent": {"username": agent.username},
        },
    )

    pop = mine.locator(f".screen-pop[data-call='{answer['call']}']")
    expect(pop).to_be_visible()
    expect(pop.locator(".screen-pop-who")).to_contain_text("王芳")
    expect(pop.locator(".screen-pop-who")).to_contain_text("+8613800138000")
    # Who answers owns the conversation: it joins "My tickets" live.
    expect(mine.locator(f"#ticket-list tr[data-ticket='{answer['ticket']}']")).to_be_visible()
    screenshot(mine, "phone-screen-pop")
    expect(theirs.locator(".screen-pop")).to_have_count(0)

    pop.locator("a.screen-pop-open").click()
    mine.wait_for_url(f"**/console/tickets/{answer['ticket']}/")
    expect(mine.locator("#customer-title")).to_have_text("王芳")
    expect(mine.locator("#call-panel")).to_be_visible()
    assert mine.external_requests == []
