"""``POST /api/v1/tickets/{number}/replies/``: a reply as text, or made from an approved
WhatsApp template (allowed after the 24-hour window), refused with a machine-readable
400 before anything is written when the template or its parameters do not fit."""

from __future__ import annotations

import pytest

from channels_hub.models import TemplateReply
from omniservice.outbox.models import OutboxMessage
from tests.api.assertions import error_of
from tests.channels_hub.template_samples import (
    stored_template,
    whatsapp_connection,
    whatsapp_ticket,
)
from tickets.models import AuthorKind, Channel, DeliveryStatus, Message

pytestmark = pytest.mark.django_db


def replies(ticket) -> str:
    return f"/api/v1/tickets/{ticket.pk}/replies/"


def template(*parameters: str, name: str = "order_shipped", language: str = "zh_CN") -> dict:
    return {"template": {"name": name, "language": language, "parameters": list(parameters)}}


@pytest.fixture
def connection():
    return whatsapp_connection("http://127.0.0.1:9")  # nothing is delivered in these tests


@pytest.fixture
def closed_window_ticket(connection):
    stored_template(connection)
    return whatsapp_ticket(hours_ago=30)


def test_partner_sends_a_template_after_the_window(partner, closed_window_ticket):
    response = partner.post(
        replies(closed_window_ticket), template("李娜", "SO-20931"), format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["channel"] == Channel.WHATSAPP
    assert body["body_text"] == "您好 李娜，您的订单 SO-20931 已发货。"
    assert body["delivery_status"] == DeliveryStatus.QUEUED
    assert body["author_kind"] == AuthorKind.SYSTEM
    assert body["template"] == {
        "name": "order_shipped",
        "language": "zh_CN",
        "parameters": ["李娜", "SO-20931"],
    }
    assert TemplateReply.objects.get().message_id == body["id"]


def test_partner_sends_a_text_reply(partner, closed_window_ticket):
    response = partner.post(
        replies(closed_window_ticket), {"text": "See you in store", "channel": "sms"}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["channel"] == "sms" and response.json()["template"] is None


def test_a_console_agent_replies_as_themself(console_client, personas, closed_window_ticket):
    closed_window_ticket.team = personas.team_a
    closed_window_ticket.save()

    response = console_client(personas.agent).post(
        replies(closed_window_ticket), template("李娜", "SO-1"), format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["author_kind"] == AuthorKind.AGENT
    assert Message.objects.get(direction="outbound").author_user == personas.agent.user


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (template("李娜"), "wrong_parameter_count", "parameters"),
        (template("李娜", ""), "parameter_empty", "parameters"),
        (template("李娜", "a\tb"), "parameter_invalid", "parameters"),
        (template("李娜", "x" * 1025), "parameter_too_long", "parameters"),
        (template("a", "b", name="missing"), "template_not_found", "name"),
        ({"text": ""}, "empty_message", "text"),
        ({"text": "hi", **template("a", "b")}, "text_and_template", "text"),
        ({"channel": "sms", **template("a", "b")}, "template_not_whatsapp", "channel"),
        ({"channel": "fax", "text": "hi"}, "unknown_channel", "channel"),
    ],
)
def test_bad_input_is_a_400_with_a_code_and_writes_nothing(
    partner, closed_window_ticket, body, code, field
):
    error = error_of(partner.post(replies(closed_window_ticket), body, format="json"), 400, code)

    assert field in error["fields"]
    assert not Message.objects.filter(direction="outbound").exists()
    assert not OutboxMessage.objects.exists()


def test_an_unapproved_template_is_refused(partner, connection):
    stored_template(connection, "pending_one", status="pending", parameter_count=0, body="Hi")
    ticket = whatsapp_ticket(hours_ago=30)

    error_of(
        partner.post(replies(ticket), template(name="pending_one"), format="json"),
        400,
        "template_not_approved",
    )


def test_replies_need_the_write_scope_and_a_visible_ticket(
    key_client, console_client, personas, closed_window_ticket
):
    closed_window_ticket.team = personas.team_a
    closed_window_ticket.save()
    body = template("a", "b")

    error_of(
        key_client("tickets:read").post(replies(closed_window_ticket), body, format="json"),
        403,
        "missing_scope",
    )
    error_of(
        console_client(personas.outsider).post(replies(closed_window_ticket), body, format="json"),
        404,
        "ticket_not_found",
    )
    assert not Message.objects.filter(direction="outbound").exists()


def test_schema_documents_the_replies_endpoint(client):
    paths = client.get("/api/schema/", {"format": "json"}).json()["paths"]

    assert set(paths["/api/v1/tickets/{number}/replies/"]) == {"post"}
