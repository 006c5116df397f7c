"""The console side of WhatsApp templates: managers sync and list them on the connection
page; when the 24-hour window is closed, the reply box offers "Send a template"."""

from __future__ import annotations

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from channels_hub.models import TemplateReply, WhatsAppTemplate
from tests.channels_hub.fake_provider import Answer
from tests.channels_hub.template_samples import (
    ORDER_BODY_EN,
    TEMPLATES_PATH,
    graph_page,
    graph_template,
    stored_template,
    whatsapp_connection,
    whatsapp_ticket,
)
from tests.factories import TicketFactory
from tests.tickets.test_console_views import client_for, ticket_url
from tickets.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection(fake_provider):
    return whatsapp_connection(fake_provider.base_url)


def sync_url(connection) -> str:
    return reverse("channels:connection-sync-templates", args=[connection.pk])


def page_url(connection) -> str:
    return reverse("channels:connection-edit", args=[connection.pk])


def send_url(ticket) -> str:
    return reverse("channels:template-reply", args=[ticket.pk])


# --- connection page ----------------------------------------------------------------------


def test_agents_cannot_sync_templates(personas, connection, fake_provider):
    response = client_for(personas.agent).post(sync_url(connection))

    assert response.status_code == 403
    assert fake_provider.requests == []


def test_manager_syncs_and_sees_the_templates_on_the_connection_page(
    personas, connection, fake_provider
):
    fake_provider.answer(
        "GET",
        TEMPLATES_PATH,
        graph_page(graph_template(), graph_template("promo", status="REJECTED", body="Sale")),
    )
    client = client_for(personas.manager)

    response = client.post(sync_url(connection), follow=True)

    body = response.content.decode()
    assert WhatsAppTemplate.objects.count() == 2
    assert "2 templates synced: 2 new, 0 no longer on WhatsApp." in body
    assert 'id="whatsapp-templates"' in body and 'id="sync-templates"' in body
    assert "order_shipped" in body and "Simplified Chinese · zh_CN" in body
    assert "template-status-rejected" in body
    assert 'name="waba_id"' in body


def test_a_refused_sync_is_shown_with_the_providers_reason(personas, connection, fake_provider):
    fake_provider.answer(
        "GET",
        TEMPLATES_PATH,
        Answer(401, {"error": {"message": "Error validating access token", "code": 190}}),
    )

    response = client_for(personas.manager).post(sync_url(connection), follow=True)

    assert "Templates not synced: WhatsApp: Error validating access token (190)" in (
        response.content.decode()
    )


def test_the_template_list_takes_the_same_queries_whatever_its_length(
    personas, connection, django_assert_max_num_queries
):
    client = client_for(personas.manager)
    stored_template(connection)
    client.get(page_url(connection))  # warm the session and the user
    with CaptureQueriesContext(db) as few:
        client.get(page_url(connection))
    for n in range(30):
        stored_template(connection, f"template_{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(page_url(connection))

    assert response.content.decode().count("<code>template_") == 30


# --- reply box ----------------------------------------------------------------------------


def test_closed_window_offers_the_approved_templates_with_a_preview(personas, connection):
    ticket = whatsapp_ticket(hours_ago=30, team=personas.team_a)
    stored_template(connection)
    stored_template(connection, language="en_US", body=ORDER_BODY_EN)
    stored_template(connection, "not_yet", status="pending")
    stored_template(connection, "with_image", supported=False)

    body = client_for(personas.agent).get(ticket_url(ticket)).content.decode()

    assert 'id="template-reply"' in body and "Send a template" in body
    assert 'value="order_shipped:zh_CN"' in body and 'value="order_shipped:en_US"' in body
    assert "Simplified Chinese · zh_CN" in body and "English (US) · en_US" in body
    assert "not_yet" not in body and "with_image" not in body
    assert body.count('name="parameters"') == 2  # the first template's, without script
    assert "您好 {{1}}，您的订单 {{2}} 已发货。" in body  # the preview
    assert '<option value="李娜">' in body  # suggestion: the customer's name


def test_the_reply_box_speaks_chinese(personas, connection):
    ticket = whatsapp_ticket(hours_ago=30, team=personas.team_a)
    stored_template(connection)

    body = (
        client_for(personas.agent)
        .get(ticket_url(ticket), HTTP_ACCEPT_LANGUAGE="zh-hans")
        .content.decode()
    )

    assert "发送模板消息" in body and "简体中文 · zh_CN" in body


def test_open_window_or_no_whatsapp_customer_shows_no_template_box(personas, connection):
    stored_template(connection)
    open_window = whatsapp_ticket(hours_ago=2, team=personas.team_a)
    web_chat_only = TicketFactory(team=personas.team_a)
    client = client_for(personas.agent)

    for ticket in (open_window, web_chat_only):
        assert 'id="template-reply"' not in client.get(ticket_url(ticket)).content.decode()


def test_without_approved_templates_the_box_says_where_to_get_them(personas, connection):
    ticket = whatsapp_ticket(hours_ago=30, team=personas.team_a)

    body = client_for(personas.agent).get(ticket_url(ticket)).content.decode()

    assert "No approved template to send" in body
    assert 'id="template-reply-form"' not in body


def test_agent_sends_a_template_from_the_reply_box(personas, connection):
    ticket = whatsapp_ticket(hours_ago=30, team=personas.team_a)
    stored_template(connection)

    response = client_for(personas.agent).post(
        send_url(ticket),
        {"template": "order_shipped:zh_CN", "parameters": ["李娜", "SO-20931"]},
        HTTP_ACCEPT="application/json",
    )

    assert response.status_code == 200, response.content
    assert response.json() == {"ok": True, "message": "Template reply queued for delivery."}
    message = Message.objects.get(direction="outbound")
    assert message.body_text == "您好 李娜，您的订单 SO-20931 已发货。"
    assert message.author_user == personas.agent.user
    assert TemplateReply.objects.get().message == message


def test_a_wrong_parameter_count_is_refused_in_json_and_as_a_flash(personas, connection):
    ticket = whatsapp_ticket(hours_ago=30, team=personas.team_a)
    stored_template(connection)
    client = client_for(personas.agent)
    form = {"template": "order_shipped:zh_CN", "parameters": ["李娜"]}

    as_json = client.post(send_url(ticket), form, HTTP_ACCEPT="application/json")
    as_page = client.post(send_url(ticket), form, follow=True)

    assert as_json.status_code == 400
    assert as_json.json()["error"]["code"] == "wrong_parameter_count"
    assert "takes 2 parameters; 1 were given" in as_page.content.decode()
    assert not Message.objects.filter(direction="outbound").exists()


def test_someone_who_cannot_see_the_ticket_gets_404(personas, connection):
    ticket = whatsapp_ticket(hours_ago=30, team=personas.team_a)
    stored_template(connection)

    response = client_for(personas.outsider).post(
        send_url(ticket), {"template": "order_shipped:zh_CN", "parameters": ["a", "b"]}
    )

    assert response.status_code == 404
    assert not Message.objects.filter(direction="outbound").exists()


def test_the_template_picker_takes_the_same_queries_whatever_its_length(
    personas, connection, django_assert_max_num_queries
):
    ticket = whatsapp_ticket(hours_ago=30, team=personas.team_a)
    stored_template(connection)
    client = client_for(personas.agent)
    client.get(ticket_url(ticket))
    with CaptureQueriesContext(db) as few:
        client.get(ticket_url(ticket))
    for n in range(20):
        stored_template(connection, f"template_{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        body = client.get(ticket_url(ticket)).content.decode()

    assert body.count('value="template_') == 20
