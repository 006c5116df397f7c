"""Store flows in a real browser: an agent hands an online conversation to a store from
the ticket page, the store clerk's console shows it live with its whole history, and the
clerk logs the customer's visit on the store tablet."""

from __future__ import annotations

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.e2e.test_console import post_inbound_message
from tickets.models import Channel, Message, Ticket

pytestmark = pytest.mark.django_db(transaction=True)

LIVE = "#live-status[data-state=live]"
QUESTION = "Do you still have the wool coat in size M?"


def post_message(server_url: str, text: str) -> int:
    return post_inbound_message(server_url, text, "wamid.e2e-handover", channel="whatsapp")


def test_handover_reaches_the_store_live_and_the_visit_is_logged_on_the_tablet(
    asgi_server, console_page, screenshot, personas
):
    personas.store_one.name = "上海南京西路店"
    personas.store_one.save(update_fields=["name"])
    # Through the server (the test thread runs Playwright's event loop: no publishing here).
    number = post_message(asgi_server.url, QUESTION)
    # The agent's conversation (before any console is open, so routing does not hand it to
    # whoever connects first).
    Ticket.objects.filter(pk=number).update(assignee=personas.agent.user)
    ticket = Ticket.objects.get(pk=number)
    agent = console_page(personas.agent.user)
    clerk = console_page(personas.store_clerk.user, width=1024, height=768)
    # Routing (store first) gives the handed-over ticket to the online clerk when tasks run
    # in the server (embedded mode); with a Redis broker and no worker it waits unassigned.
    routed = settings.CELERY_TASK_ALWAYS_EAGER
    clerk.goto(f"{asgi_server.url}/console/?view={'mine' if routed else 'unassigned'}")
    clerk.wait_for_selector(LIVE)
    expect(clerk.locator(f"#ticket-list tr[data-ticket='{ticket.pk}']")).to_have_count(0)

    agent.goto(f"{asgi_server.url}/console/tickets/{ticket.pk}/")
    agent.wait_for_selector(LIVE)
    agent.locator("#handover-panel summary").click()
    agent.select_option("#handover-form select[name=store]", personas.store_one.code)
    agent.fill("#handover-form input[name=reason]", "Reserved the last size M until Sunday")
    agent.fill("#handover-form textarea[name=reply]", "Visit us, we have reserved it")
    agent.locator("#handover-form button[type=submit]").click()
    expect(agent.locator("#flash")).to_contain_text("上海南京西路店")

    row = clerk.locator(f"#ticket-list tr[data-ticket='{ticket.pk}']")
    expect(row).to_be_visible()
    row.click()
    clerk.wait_for_url(f"**/console/tickets/{ticket.pk}/")
    expect(clerk.locator("#timeline")).to_contain_text(QUESTION)
    expect(clerk.locator("#timeline")).to_contain_text("Reserved the last size M until Sunday")

    clerk.goto(f"{asgi_server.url}/console/store/")
    clerk.locator("label.kind", has_text="Pickup").click()
    clerk.fill("#interaction-form input[name=phone]", "13800138000")
    clerk.fill("#interaction-form textarea[name=text]", "Tried on and took the coat")
    screenshot(clerk, "store-tablet")
    clerk.locator("#interaction-form button[type=submit]").click()
    expect(clerk.locator(".flashes")).to_contain_text(f"#{ticket.pk}")

    if routed:
        assert Ticket.objects.get(pk=ticket.pk).assignee_id == personas.store_clerk.user.pk
    visit = Message.objects.get(channel=Channel.STORE)
    assert (visit.ticket_id, visit.store_id) == (ticket.pk, personas.store_one.pk)
    assert agent.external_requests == [] and clerk.external_requests == []
