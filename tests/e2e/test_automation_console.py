"""Macros and automation rules in a real browser: the picker opened from the keyboard
fills the reply box and its actions apply on send; the rule editor's rows."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import CustomerFactory, MacroFactory, TicketFactory
from tickets.models import AutomationRule, Message, Ticket

pytestmark = pytest.mark.django_db(transaction=True)

LIVE = "#live-status[data-state=live]"


def test_macro_picker_from_the_keyboard_fills_the_reply_and_applies_actions_on_send(
    asgi_server, console_page, screenshot, personas
):
    customer = CustomerFactory(name="Mary <b>Lee</b>", language="en")
    ticket = TicketFactory(customer=customer, team=personas.team_a, status="open")
    MacroFactory(name="Greeting", body_en="Hi {{customer.name}}")
    MacroFactory(
        name="Waiting for photos",
        body_en="Dear {{customer.name}}, please send photos of ticket {{ticket.number}}.",
        actions=[
            {"action": "set_status", "value": "pending"},
            {"action": "add_tags", "value": ["photos"]},
        ],
    )
    page = console_page(personas.agent.user)
    page.goto(f"{asgi_server.url}/console/tickets/{ticket.pk}/")
    page.wait_for_selector(LIVE)

    page.keyboard.press("m")
    expect(page.locator("#macro-picker")).to_be_visible()
    expect(page.locator("#macro-options li[data-macro]")).to_have_count(2)
    page.keyboard.type("photo")
    expect(page.locator("#macro-options li[data-macro]:visible")).to_have_count(1)
    screenshot(page, "automation-macro-picker")
    page.keyboard.press("Enter")
    expect(page.locator("#macro-picker")).to_be_hidden()
    expected = f"Dear Mary <b>Lee</b>, please send photos of ticket {ticket.pk}."
    assert page.input_value("#reply-text") == expected
    assert page.evaluate("document.activeElement.id") == "reply-text"
    expect(page.locator("#macro-chosen")).to_be_visible()

    page.keyboard.press("End")
    page.keyboard.type(" Thanks!")
    page.keyboard.press("Alt+m")  # also while typing
    expect(page.locator("#macro-picker")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#macro-picker")).to_be_hidden()

    page.keyboard.press("Control+Enter")
    expect(page.locator(".tl-outbound .bubble-body", has_text="Thanks!")).to_be_visible()
    assert page.input_value("#reply-text") == ""
    expect(page.locator("#macro-chosen")).to_be_hidden()
    sent = Message.objects.get(ticket=ticket, direction="outbound")
    assert sent.body_text == expected + " Thanks!"
    ticket = Ticket.objects.get(pk=ticket.pk)
    assert ticket.status == "pending"
    assert list(ticket.tags.values_list("name", flat=True)) == ["photos"]


def test_rule_editor_rows_offer_the_fields_operators_and_values(
    asgi_server, console_page, screenshot, personas
):
    page = console_page(personas.manager.user)
    page.goto(f"{asgi_server.url}/console/automation/new/")
    page.fill("#id_name", "VIP refunds on WeChat")
    page.uncheck('input[name="events"][value="created"]')
    page.check('input[name="events"][value="inbound_message"]')

    page.select_option("#id_conditions-0-field", "customer_tier")
    operators = page.locator("#id_conditions-0-operator option")
    expect(operators).to_have_count(3)
    page.select_option("#id_conditions-0-operator", "at_least")
    page.select_option("select#id_conditions-0-value", "gold")

    page.click('[data-add-row="conditions"]')
    page.select_option("#id_conditions-1-field", "message_text")
    expect(page.locator("input#id_conditions-1-value")).to_be_visible()
    page.fill("#id_conditions-1-value", "refund, 退款")

    page.select_option("#id_actions-0-action", "set_priority")
    page.select_option("select#id_actions-0-value", "urgent")
    page.click('[data-add-row="actions"]')
    page.select_option("#id_actions-1-action", "add_note")
    page.fill("textarea#id_actions-1-value", "VIP refund: call back within the hour")
    screenshot(page, "automation-rule-form")
    page.click("#rule-form button[type=submit]")
    page.wait_for_url("**/console/automation/*/")

    rule = AutomationRule.objects.get()
    assert rule.events == ["inbound_message"]
    assert rule.conditions == [
        {"field": "customer_tier", "operator": "at_least", "value": "gold"},
        {"field": "message_text", "operator": "contains", "value": "refund, 退款"},
    ]
    assert [a["action"] for a in rule.actions] == ["set_priority", "add_note"]
    page.goto(f"{asgi_server.url}/console/automation/")
    expect(page.locator("#rule-list .rule-name")).to_have_text("VIP refunds on WeChat")
    screenshot(page, "automation-rule-list")
