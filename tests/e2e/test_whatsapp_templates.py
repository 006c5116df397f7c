"""After WhatsApp's 24-hour window, an agent sends an approved template from the reply
box in a real browser: picks it, fills its parameters with the preview following, sends;
the timeline shows what the customer got and Graph receives a template message."""

from __future__ import annotations

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.channels_hub.fake_provider import FakeProvider
from tests.channels_hub.template_samples import (
    MESSAGES_PATH,
    ORDER_BODY_EN,
    sent_answer,
    stored_template,
    whatsapp_connection,
    whatsapp_ticket,
)

pytestmark = pytest.mark.django_db(transaction=True)

LIVE = "#live-status[data-state=live]"


@pytest.fixture
def graph():
    provider = FakeProvider().start()
    provider.answer("POST", MESSAGES_PATH, sent_answer("wamid.E2E"))
    yield provider
    provider.stop()


def test_agent_sends_a_template_after_the_window(
    asgi_server, console_page, personas, graph, screenshot
):
    connection = whatsapp_connection(graph.base_url)
    stored_template(connection)
    stored_template(connection, language="en_US", body=ORDER_BODY_EN)
    ticket = whatsapp_ticket(hours_ago=30, name="Li Na", team=personas.team_a)
    agent = console_page(personas.agent.user)

    agent.goto(f"{asgi_server.url}/console/tickets/{ticket.pk}/")
    agent.wait_for_selector(LIVE)
    # WhatsApp is the customer's only channel: the box is open, nothing else can be proposed.
    expect(agent.locator("#template-reply")).to_have_attribute("open", "")
    agent.select_option("#template-picker", "order_shipped:en_US")
    fields = agent.locator("#template-params input[name=parameters]")
    expect(fields).to_have_count(2)
    fields.nth(0).fill("Li Na")
    expect(agent.locator("#template-preview")).to_have_text(
        "Hello Li Na, your order {{2}} has shipped."
    )
    fields.nth(1).fill("SO-20931")
    agent.locator("#template-reply").scroll_into_view_if_needed()
    screenshot(agent, "whatsapp-template-reply")
    agent.locator("#template-send").click()

    expect(agent.locator("#flash")).to_contain_text("Template reply queued")
    expect(agent.locator("#timeline")).to_contain_text(
        "Hello Li Na, your order SO-20931 has shipped."
    )
    if settings.CELERY_TASK_ALWAYS_EAGER:  # delivered inside the server (embedded mode)
        (sent,) = graph.received(MESSAGES_PATH)
        assert sent.json()["template"]["language"] == {"code": "en_US"}
    assert agent.external_requests == []


def pick_template(asgi_server, console_page, personas, graph, name: str, **template):
    """An agent on a ticket whose window is closed, with template ``name`` picked."""
    connection = whatsapp_connection(graph.base_url)
    stored_template(connection)
    stored_template(connection, name=name, **template)
    ticket = whatsapp_ticket(hours_ago=30, name="Li Na", team=personas.team_a)
    agent = console_page(personas.agent.user)
    agent.goto(f"{asgi_server.url}/console/tickets/{ticket.pk}/")
    agent.wait_for_selector(LIVE)
    agent.select_option("#template-picker", f"{name}:zh_CN")
    return agent


def test_a_named_templates_inputs_carry_its_parameter_names(
    asgi_server, console_page, personas, graph
):
    body = "Hello {{customer_name}}, order {{order_no}} is ready, {{customer_name}}."
    agent = pick_template(asgi_server, console_page, personas, graph, "order_named", body=body)

    expect(agent.locator("#template-params .placeholder")).to_have_text(
        ["{{customer_name}}", "{{order_no}}"]
    )
    agent.locator("#template-params input[name=parameters]").first.fill("Li Na")

    expect(agent.locator("#template-preview")).to_have_text(
        "Hello Li Na, order {{order_no}} is ready, Li Na."
    )


def test_a_header_and_a_url_button_get_inputs_of_their_own(
    asgi_server, console_page, personas, graph
):
    components = [
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
        {"type": "BODY", "text": "Hello {{1}}, your parcel left today."},
        {
            "type": "BUTTONS",
            "buttons": [{"type": "URL", "text": "Track", "url": "https://shop.example/t/{{1}}"}],
        },
    ]
    agent = pick_template(
        asgi_server,
        console_page,
        personas,
        graph,
        "tracking",
        body=components[1]["text"],
        components=components,
    )

    expect(agent.locator("#template-params .placeholder")).to_have_text(
        ["Header {{1}}", "{{1}}", 'Button "Track" {{1}}']
    )
    fields = agent.locator("#template-params input[name=parameters]")
    fields.nth(0).fill("SO-7")
    fields.nth(1).fill("Li Na")

    preview = agent.locator("#template-preview")
    expect(preview).to_contain_text("Order SO-7")
    expect(preview).to_contain_text("Hello Li Na, your parcel left today.")
    expect(preview).not_to_contain_text("shop.example")
