"""Macros: placeholders in both languages rendered safely, the picker on the ticket page,
sending with the macro's actions, and who may manage shared and personal macros."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from tests.factories import CustomerFactory, MacroFactory, StoreFactory, TicketFactory
from tickets.macros import render_macro, render_placeholders, ticket_placeholders
from tickets.models import Direction, Macro, Message, Ticket

pytestmark = pytest.mark.django_db

MACROS = reverse("console:macros")
NEW_MACRO = reverse("console:macro-create")


def as_user(client, profile):
    client.force_login(profile.user)
    return client


def ticket_for_customer(personas, **customer):
    store = StoreFactory(address="上海市南京西路 1 号")
    return TicketFactory(
        customer=CustomerFactory(**customer), store=store, team=personas.team_a, status="open"
    )


# --- rendering --------------------------------------------------------------------------


def test_placeholders_in_chinese_for_a_chinese_customer(personas):
    ticket = ticket_for_customer(personas, name="王小明", language="zh-hans")
    macro = MacroFactory(
        body_zh="{{customer.name}}您好，工单 {{ ticket.number }}：{{store.address}}"
    )
    assert render_macro(macro, ticket, agent=personas.agent.user) == (
        f"王小明您好，工单 {ticket.pk}：上海市南京西路 1 号"
    )


def test_placeholders_in_english_for_an_english_customer_with_the_agent_name(personas):
    ticket = ticket_for_customer(personas, name="Mary", language="en")
    macro = MacroFactory()
    text = render_macro(macro, ticket, agent=personas.agent.user)
    assert text == f"Hello Mary, ticket {ticket.pk} is done. {personas.agent.display_name}"


def test_a_macro_written_in_one_language_only_falls_back_to_it(personas):
    ticket = ticket_for_customer(personas, name="Mary", language="en")
    macro = MacroFactory(body_en="", body_zh="只有中文 {{customer.name}}")
    assert render_macro(macro, ticket, agent=None) == "只有中文 Mary"


def test_store_address_falls_back_to_the_customers_home_store_then_to_nothing(personas):
    home = StoreFactory(address="北京市朝阳路 8 号")
    macro = MacroFactory(body_zh="地址：{{store.address}}")
    with_home = TicketFactory(customer=CustomerFactory(home_store=home), store=None)
    assert render_macro(macro, with_home, agent=None) == "地址：北京市朝阳路 8 号"
    nowhere = TicketFactory(customer=CustomerFactory(home_store=None), store=None)
    assert render_macro(macro, nowhere, agent=None) == "地址："


def test_without_a_sending_agent_the_agent_name_is_the_assignees(personas):
    ticket = TicketFactory(customer=CustomerFactory(language="en"), assignee=personas.agent.user)
    macro = MacroFactory(body_en="Regards, {{agent.name}}")
    assert render_macro(macro, ticket, agent=None) == f"Regards, {personas.agent.display_name}"
    assert render_macro(macro, ticket, agent=personas.teammate.user) == (
        f"Regards, {personas.teammate.display_name}"
    )


def test_each_placeholder_renders_in_both_languages(personas):
    store = StoreFactory(address="1 Nanjing Road")
    macro = MacroFactory(
        body_zh="{{customer.name}}|{{ticket.number}}|{{agent.name}}|{{store.address}}",
        body_en="{{customer.name}}/{{ticket.number}}/{{agent.name}}/{{store.address}}",
    )
    for language, sep in (("zh-hans", "|"), ("en", "/")):
        customer = CustomerFactory(name="Ann", language=language)
        ticket = TicketFactory(customer=customer, store=store)
        expected = sep.join(["Ann", str(ticket.pk), personas.agent.display_name, store.address])
        assert render_macro(macro, ticket, agent=personas.agent.user) == expected


def test_customer_text_cannot_inject_placeholders_or_template_code(personas):
    ticket = ticket_for_customer(personas, name="{{agent.name}} {% debug %} {{ settings }}")
    macro = MacroFactory(body_zh="Hi {{customer.name}} / {{agent.name}} / {{unknown.thing}}")
    text = render_macro(macro, ticket, agent=personas.agent.user)
    assert text == (
        f"Hi {{{{agent.name}}}} {{% debug %}} {{{{ settings }}}} / "
        f"{personas.agent.display_name} / {{{{unknown.thing}}}}"
    )


def test_html_rendering_escapes_the_text_and_the_customers_values(personas):
    ticket = ticket_for_customer(personas, name='<img src=x onerror="alert(1)">')
    values = ticket_placeholders(ticket, agent=None)
    html = render_placeholders("<b>Hi</b> {{customer.name}}", values, html=True)
    assert html == "&lt;b&gt;Hi&lt;/b&gt; &lt;img src=x onerror=&quot;alert(1)&quot;&gt;"


# --- the picker on the ticket page ------------------------------------------------------


def test_the_ticket_page_has_the_picker_and_its_shortcut_in_the_help(client, personas):
    ticket = ticket_for_customer(personas)
    MacroFactory(name="Thanks")
    as_user(client, personas.agent)
    response = client.get(reverse("console:ticket", args=[ticket.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="macro-picker"' in page and 'id="macro-filter"' in page
    assert "console/macros.js" in page
    assert "<kbd>m</kbd>" in page and "<kbd>Alt</kbd> <kbd>M</kbd>" in page  # shortcut help
    raw = page.split('id="macro-data" type="application/json">')[1].split("</script>")[0]
    data = json.loads(raw)
    assert data["optionsUrl"] == reverse("console:macro-options", args=[ticket.pk])
    assert data["sendUrl"] == reverse("console:macro-reply", args=[ticket.pk])


def test_the_picker_lists_usable_macros_rendered_for_the_ticket(
    client, personas, django_assert_max_num_queries
):
    ticket = ticket_for_customer(personas, name="<script>alert(1)</script>", language="en")
    MacroFactory(name="Thanks", actions=[{"action": "set_status", "value": "solved"}])
    MacroFactory(name="My own", owner=personas.agent.user, body_en="Mine {{ticket.number}}")
    MacroFactory(name="Not yours", owner=personas.teammate.user)
    MacroFactory(name="Switched off", is_active=False)
    for n in range(10):
        MacroFactory(name=f"Filler {n}")
    as_user(client, personas.agent)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("console:macro-options", args=[ticket.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    by_name = {item["name"]: item for item in response.json()["macros"]}
    assert len(by_name) == 12
    assert "Not yours" not in by_name and "Switched off" not in by_name
    assert by_name["My own"]["text"] == f"Mine {ticket.pk}"
    # Plain text for the reply box (macros.js shows it with textContent, never as HTML).
    assert by_name["Thanks"]["text"].startswith("Hello <script>alert(1)</script>,")
    assert by_name["Thanks"]["actions"] and by_name["Thanks"]["shared"]
    assert not by_name["My own"]["shared"]
    as_user(client, personas.outsider)
    assert client.get(reverse("console:macro-options", args=[ticket.pk])).status_code == 404


# --- sending ----------------------------------------------------------------------------


def test_sending_with_a_macro_posts_the_edited_text_and_applies_its_actions(client, personas):
    ticket = ticket_for_customer(personas, name="Mary", language="en")
    macro = MacroFactory(
        actions=[
            {"action": "set_status", "value": "pending"},
            {"action": "add_tags", "value": ["waiting-customer"]},
        ]
    )
    as_user(client, personas.agent)
    response = client.post(
        reverse("console:macro-reply", args=[ticket.pk]),
        {"macro": macro.pk, "text": "Hello Mary, edited by me", "mode": "reply"},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200 and response.json()["ok"]
    sent = Message.objects.get(ticket=ticket, direction=Direction.OUTBOUND)
    assert sent.body_text == "Hello Mary, edited by me"
    assert sent.author_user == personas.agent.user
    ticket = Ticket.objects.get(pk=ticket.pk)
    assert ticket.status == "pending"
    assert list(ticket.tags.values_list("name", flat=True)) == ["waiting-customer"]


def test_sending_refuses_someone_elses_personal_macro_and_invisible_tickets(client, personas):
    ticket = ticket_for_customer(personas)
    theirs = MacroFactory(owner=personas.teammate.user)
    as_user(client, personas.agent)
    url = reverse("console:macro-reply", args=[ticket.pk])
    response = client.post(url, {"macro": theirs.pk, "text": "x"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "macro_not_found"
    assert client.post(url, {"macro": "abc", "text": "x"}).status_code == 404
    shared = MacroFactory()
    assert client.post(url, {"macro": shared.pk, "text": "x", "mode": "shout"}).status_code == 400
    as_user(client, personas.outsider)
    assert client.post(url, {"macro": shared.pk, "text": "x"}).status_code == 404
    assert not Message.objects.filter(ticket=ticket).exists()


def test_an_empty_text_is_refused_and_nothing_applies(client, personas):
    ticket = ticket_for_customer(personas)
    macro = MacroFactory(actions=[{"action": "set_status", "value": "solved"}])
    as_user(client, personas.agent)
    url = reverse("console:macro-reply", args=[ticket.pk])
    response = client.post(url, {"macro": macro.pk, "text": "  "})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "empty_message"
    assert Ticket.objects.get(pk=ticket.pk).status == "open"


# --- management -------------------------------------------------------------------------


def macro_post(**overrides):
    data = {
        "name": "Parcel late",
        "body_zh": "{{customer.name}}您好，包裹正在路上。",
        "body_en": "Hi {{customer.name}}, your parcel is on its way.",
        "set_status": "pending",
        "add_tags": "parcel",
        "remove_tags": "",
        "is_active": "on",
    }
    data.update(overrides)
    return data


def test_an_agent_creates_a_personal_macro(client, personas):
    as_user(client, personas.agent)
    assert client.get(NEW_MACRO).status_code == 200
    response = client.post(NEW_MACRO, macro_post())
    assert response.status_code == 302
    macro = Macro.objects.get()
    assert macro.owner == personas.agent.user
    assert macro.actions == [
        {"action": "set_status", "value": "pending"},
        {"action": "add_tags", "value": ["parcel"]},
    ]


def test_an_agent_cannot_share_a_macro(client, personas):
    as_user(client, personas.agent)
    assert 'name="shared" disabled' in client.get(NEW_MACRO).content.decode()
    response = client.post(NEW_MACRO, macro_post(shared="on"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "Only managers may share a macro" in response.content.decode()
    assert not Macro.objects.exists()


def test_a_manager_shares_a_macro(client, personas):
    as_user(client, personas.manager)
    client.post(NEW_MACRO, macro_post(shared="on"))
    assert Macro.objects.get().owner is None


def test_agents_may_not_edit_or_delete_shared_macros_nor_see_others_personal_ones(client, personas):
    shared = MacroFactory()
    theirs = MacroFactory(owner=personas.teammate.user)
    as_user(client, personas.agent)
    edit_shared = reverse("console:macro-edit", args=[shared.pk])
    assert client.get(edit_shared).status_code == 403
    assert client.post(edit_shared, macro_post()).status_code == 403
    assert client.post(reverse("console:macro-delete", args=[shared.pk])).status_code == 403
    assert client.get(reverse("console:macro-edit", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("console:macro-delete", args=[theirs.pk])).status_code == 404
    assert Macro.objects.count() == 2
    page = client.get(MACROS).content.decode()
    assert shared.name in page and theirs.name not in page


def test_a_manager_edits_and_deletes_a_shared_macro(client, personas):
    shared = MacroFactory()
    as_user(client, personas.manager)
    edit = reverse("console:macro-edit", args=[shared.pk])
    assert client.post(edit, macro_post(shared="on", name="Renamed")).status_code == 302
    shared.refresh_from_db()
    assert (shared.name, shared.owner) == ("Renamed", None)
    client.post(reverse("console:macro-delete", args=[shared.pk]))
    assert not Macro.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"body_zh": "您好 {{customer.nmae}}"}, "Unknown placeholder {{customer.nmae}}"),
        ({"body_zh": "", "body_en": ""}, "Write the text in at least one language"),
        ({"name": ""}, "This field is required"),
        ({"set_status": "new"}, "Select a valid choice"),
    ],
)
def test_invalid_macros_are_refused_with_a_form_error(client, personas, overrides, message):
    as_user(client, personas.agent)
    response = client.post(NEW_MACRO, macro_post(**overrides), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Macro.objects.exists()


def test_the_macros_page_lists_shared_and_own_macros_in_few_queries(
    client, personas, django_assert_max_num_queries
):
    for n in range(15):
        MacroFactory(name=f"Shared {n}", actions=[{"action": "add_tags", "value": ["a"]}])
        MacroFactory(name=f"Mine {n}", owner=personas.agent.user)
    as_user(client, personas.agent)
    with django_assert_max_num_queries(10):
        response = client.get(MACROS)
    assert response.content.decode().count("<tr") == 31
