"""The customer's chat websocket, driven with the channels test communicator."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from channels_hub.delivery import deliver_message
from channels_hub.models import ChannelConnection
from channels_hub.webchat import post_visitor_message
from channels_hub.webchat_access import (
    VisitorToken,
    issue_socket_token,
    issue_token,
    new_visitor_id,
)
from omniservice.asgi import application
from tests.channels_hub.test_console_consumer import connect as connect_console
from tests.channels_hub.test_console_consumer import receive_until
from tickets import services
from tickets.models import Channel, DeliveryStatus, Message, Ticket

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

ORIGIN = b"https://shop.example.com"


@database_sync_to_async
def make_connection() -> ChannelConnection:
    return ChannelConnection.objects.create(
        channel=Channel.WEB_CHAT,
        name="shop chat",
        settings={"allowed_origins": [ORIGIN.decode()], "online_without_agents": True},
    )


@database_sync_to_async
def visitor_writes(connection, token: VisitorToken, text: str = "我的订单在哪里？") -> Message:
    from channels_hub.webchat import PreChat

    return post_visitor_message(
        connection=connection,
        token=token,
        client_id=str(uuid.uuid4()),
        text=text,
        prechat=PreChat(name="王芳", contact=f"{token.visitor_id}@example.com"),
    )


@database_sync_to_async
def agent_replies(ticket_id: int, user, text: str) -> Message:
    reply = services.reply(ticket=Ticket.objects.get(pk=ticket_id), author=user, text=text)
    deliver_message({"message_id": reply.pk})  # what the outbox does after commit
    return reply


@database_sync_to_async
def agent_notes(ticket_id: int, user, text: str) -> Message:
    return services.add_note(ticket=Ticket.objects.get(pk=ticket_id), author=user, text=text)


@database_sync_to_async
def status_of(message_id: int) -> str:
    return Message.objects.get(pk=message_id).delivery_status


async def open_socket(connection, token: str | None, origin: bytes = ORIGIN):
    query = f"key={connection.webhook_key}" + (f"&token={token}" if token is not None else "")
    communicator = WebsocketCommunicator(
        application,
        f"/ws/chat/?{query}",
        headers=[(b"origin", origin), (b"host", b"support.example.com")],
    )
    connected, code = await communicator.connect()
    return communicator, connected, code


async def test_socket_without_a_token_is_refused():
    connection = await make_connection()
    _communicator, connected, code = await open_socket(connection, None)
    assert (connected, code) == (False, 4401)


async def test_socket_with_a_forged_token_is_refused():
    connection = await make_connection()
    _communicator, connected, code = await open_socket(connection, "eyJ2IjoiYSJ9:forged:sig")
    assert (connected, code) == (False, 4401)


async def test_socket_with_the_long_lived_visitor_token_is_refused():
    connection = await make_connection()
    token = issue_token(VisitorToken(new_visitor_id(), connection.pk))
    _communicator, connected, code = await open_socket(connection, token)
    assert (connected, code) == (False, 4401)


async def test_socket_with_an_expired_socket_token_is_refused(monkeypatch):
    connection = await make_connection()
    token = issue_socket_token(VisitorToken(new_visitor_id(), connection.pk))
    monkeypatch.setattr("channels_hub.webchat_access.SOCKET_TOKEN_MAX_AGE", -1)
    _communicator, connected, code = await open_socket(connection, token)
    assert (connected, code) == (False, 4401)


async def test_socket_from_a_foreign_origin_is_refused():
    connection = await make_connection()
    token = issue_socket_token(VisitorToken(new_visitor_id(), connection.pk))
    _communicator, connected, code = await open_socket(connection, token, b"https://evil.example")
    assert (connected, code) == (False, 4403)


async def test_customer_receives_the_agents_reply_live_but_never_a_note(personas):
    connection = await make_connection()
    token = VisitorToken(new_visitor_id(), connection.pk)
    inbound = await visitor_writes(connection, token)
    communicator, connected, _code = await open_socket(connection, issue_socket_token(token))
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"

    await agent_notes(inbound.ticket_id, personas.agent.user, "INTERNAL: refund approved?")
    reply = await agent_replies(inbound.ticket_id, personas.agent.user, "已发货，明天送达。")
    event = await communicator.receive_json_from(timeout=2)
    assert event == {
        "type": "message.added",
        "message_id": reply.pk,
        "from": "agent",
        "seq": event["seq"],
    }
    assert await communicator.receive_nothing(timeout=0.2)  # the note sent nothing
    assert await status_of(reply.pk) == DeliveryStatus.SENT

    await communicator.send_json_to({"type": "seen", "message_id": reply.pk})
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from())["type"] == "pong"  # seen was handled
    assert await status_of(reply.pk) == DeliveryStatus.READ
    await communicator.disconnect()


async def test_another_visitor_hears_nothing_of_the_conversation(personas):
    connection = await make_connection()
    token = VisitorToken(new_visitor_id(), connection.pk)
    inbound = await visitor_writes(connection, token)
    stranger = VisitorToken(new_visitor_id(), connection.pk)
    await visitor_writes(connection, stranger, "my own question")
    communicator, connected, _code = await open_socket(connection, issue_socket_token(stranger))
    assert connected
    await communicator.receive_json_from()  # hello
    await agent_replies(inbound.ticket_id, personas.agent.user, "private answer")
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_typing_goes_both_ways(personas):
    connection = await make_connection()
    token = VisitorToken(new_visitor_id(), connection.pk)
    inbound = await visitor_writes(connection, token)
    await database_sync_to_async(Ticket.objects.filter(pk=inbound.ticket_id).update)(
        team=personas.team_a
    )
    customer, connected, _code = await open_socket(connection, issue_socket_token(token))
    assert connected
    await customer.receive_json_from()  # hello
    console, connected, _code = await connect_console(personas.agent.user)
    assert connected
    await receive_until(console, "hello")
    await console.send_json_to({"type": "view", "ticket_id": inbound.ticket_id})
    await console.send_json_to({"type": "ping"})
    await receive_until(console, "pong")  # the view is in place

    # the customer types: the agent viewing the ticket sees it
    await customer.send_json_to({"type": "typing", "typing": True})
    event = await receive_until(console, "customer.typing")
    assert event == {"type": "customer.typing", "ticket_id": inbound.ticket_id, "typing": True}

    # a note, or a reply by email: the customer sees nothing; a web chat reply: "<agent> is
    # typing"
    await console.send_json_to(
        {"type": "typing", "ticket_id": inbound.ticket_id, "replying": True, "note": True}
    )
    await console.send_json_to(
        {"type": "typing", "ticket_id": inbound.ticket_id, "replying": True, "channel": "email"}
    )
    assert await customer.receive_nothing(timeout=0.3)
    await console.send_json_to(
        {"type": "typing", "ticket_id": inbound.ticket_id, "replying": True, "channel": "web_chat"}
    )
    event = await customer.receive_json_from(timeout=2)
    assert event["type"] == "typing" and event["typing"] is True
    assert event["name"] == personas.agent.display_name
    assert event["initials"]
    await console.send_json_to(
        {"type": "typing", "ticket_id": inbound.ticket_id, "replying": False}
    )
    assert (await customer.receive_json_from(timeout=2))["typing"] is False
    await customer.disconnect()
    await console.disconnect()
    await asyncio.sleep(0)
