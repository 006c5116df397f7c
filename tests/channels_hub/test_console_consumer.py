"""The console websocket, driven with the channels test communicator."""

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from customers.identity import IdentityClaim
from omniservice.asgi import application
from omniservice.org.models import Presence, StaffProfile
from tickets import services
from tickets.models import Ticket

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@database_sync_to_async
def session_cookie_for(user) -> str:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


async def connect(user=None, origin=b"http://localhost"):
    headers = [(b"origin", origin), (b"host", b"localhost")]
    if user is not None:
        headers.append((b"cookie", (await session_cookie_for(user)).encode()))
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


@database_sync_to_async
def inbound(team=None, store=None, text="我的订单在哪里？", external_id="m-1"):
    result = services.thread_inbound_message(
        channel="api",
        external_id=external_id,
        identities=[IdentityClaim("phone", "+8613800138000")],
        text=text,
        store=store,
    )
    if team is not None:
        Ticket.objects.filter(pk=result.ticket.pk).update(team=team)
    return result


async def receive_until(communicator, event_type, timeout=2):
    while True:
        event = await communicator.receive_json_from(timeout=timeout)
        if event["type"] == event_type:
            return event


async def test_anonymous_connection_is_refused():
    _communicator, connected, code = await connect()
    assert not connected
    assert code == 4401


async def test_foreign_origin_is_refused(personas):
    _communicator, connected, _code = await connect(
        personas.agent.user, origin=b"http://evil.example"
    )
    assert not connected


async def test_user_without_staff_profile_is_refused(django_user_model):
    user = await database_sync_to_async(django_user_model.objects.create_user)("visitor")
    _communicator, connected, _code = await connect(user)
    assert not connected


async def test_agent_receives_events_of_team_tickets_only(personas):
    agent, communicator_ok = personas.agent, None
    communicator_ok, connected, _ = await connect(agent.user)
    assert connected
    hello = await communicator_ok.receive_json_from()
    assert hello["type"] == "hello"
    assert f"team.{personas.team_a.pk}" in hello["streams"]
    outsider, connected, _ = await connect(personas.outsider.user)
    await outsider.receive_json_from()  # hello

    result = await inbound()
    await database_sync_to_async(services.assign)(
        ticket=result.ticket, actor=None, team=personas.team_a
    )
    event = await receive_until(communicator_ok, "ticket.updated")
    while "team" not in event["changed"]:  # routing may have given it to the agent first
        event = await receive_until(communicator_ok, "ticket.updated")
    assert event["ticket_id"] == result.ticket.pk
    assert isinstance(event["seq"], int)
    # the outsider saw the general-queue creation, then the ticket left for team A
    events = []
    while not await outsider.receive_nothing(timeout=0.2):
        events.append(await outsider.receive_json_from())
    types = [e["type"] for e in events]
    assert "ticket.created" in types
    later = await inbound(external_id="m-2", text="还有一个问题")
    assert later.ticket.pk == result.ticket.pk
    await receive_until(communicator_ok, "message.added")
    assert await outsider.receive_nothing(timeout=0.3)
    await communicator_ok.disconnect()
    await outsider.disconnect()


async def test_events_reach_a_socket_once_even_through_two_groups(personas):
    communicator, _connected, _ = await connect(personas.agent.user)
    await communicator.receive_json_from()
    result = await inbound()
    await database_sync_to_async(services.assign)(
        ticket=result.ticket, actor=None, team=personas.team_a, assignee=personas.agent.user
    )
    await database_sync_to_async(services.update_ticket)(
        ticket=result.ticket, actor=None, priority="high"
    )
    received = []
    while not await communicator.receive_nothing(timeout=0.3):
        received.append(await communicator.receive_json_from())
    ids = [e["id"] for e in received if "id" in e]
    assert len(ids) == len(set(ids))
    assert any(e.get("changed") == ["priority"] for e in received)
    await communicator.disconnect()


async def test_collision_notice_between_two_agents(personas):
    first, _c, _ = await connect(personas.agent.user)
    second, _c, _ = await connect(personas.teammate.user)
    await first.receive_json_from()
    await second.receive_json_from()
    result = await inbound()
    await database_sync_to_async(services.assign)(
        ticket=result.ticket, actor=None, team=personas.team_a
    )
    ticket_id = result.ticket.pk

    await first.send_json_to({"type": "view", "ticket_id": ticket_id})
    await second.send_json_to({"type": "view", "ticket_id": ticket_id})
    seen_by_first = await receive_until(first, "ticket.viewing")
    assert seen_by_first["user_id"] == personas.teammate.user.pk
    seen_by_second = await receive_until(second, "ticket.viewing")
    assert seen_by_second["user_id"] == personas.agent.user.pk

    await second.send_json_to({"type": "typing", "ticket_id": ticket_id, "replying": True})
    # (both may have introduced themselves twice when their views crossed)
    replying = await receive_until(first, "ticket.viewing")
    while not replying["replying"]:
        replying = await receive_until(first, "ticket.viewing")
    assert replying["user_id"] == personas.teammate.user.pk
    await second.disconnect()
    left = await receive_until(first, "ticket.left")
    assert left["user_id"] == personas.teammate.user.pk
    await first.disconnect()


async def test_viewing_a_forbidden_ticket_is_refused(personas):
    result = await inbound()
    await database_sync_to_async(services.assign)(
        ticket=result.ticket, actor=None, team=personas.team_a
    )
    communicator, _c, _ = await connect(personas.outsider.user)
    await communicator.receive_json_from()
    await communicator.send_json_to({"type": "view", "ticket_id": result.ticket.pk})
    error = await receive_until(communicator, "error")
    assert error["code"] == "forbidden"
    await communicator.send_json_to({"type": "view", "ticket_id": "1; drop"})
    error = await receive_until(communicator, "error")
    assert error["code"] == "bad_request"
    await communicator.disconnect()


async def test_presence_follows_the_sockets_of_a_user(personas):
    profile_id = personas.agent.pk

    async def presence():
        return (await sync_to_async(StaffProfile.objects.get)(pk=profile_id)).presence

    tab_one, _c, _ = await connect(personas.agent.user)
    tab_two, _c, _ = await connect(personas.agent.user)
    assert await presence() == Presence.ONLINE
    await tab_one.send_json_to({"type": "presence", "state": "away"})
    await tab_one.send_json_to({"type": "ping"})
    await receive_until(tab_one, "pong")
    assert await presence() == Presence.AWAY
    await tab_one.disconnect()
    assert await presence() == Presence.AWAY  # one tab still open
    await tab_two.disconnect()
    assert await presence() == Presence.OFFLINE


async def test_store_clerk_gets_their_store_tickets(personas):
    clerk, _c, _ = await connect(personas.store_clerk.user)
    hello = await clerk.receive_json_from()
    assert f"store.{personas.store_one.pk}" in hello["streams"]
    await inbound(store=personas.store_one)
    created = await receive_until(clerk, "ticket.created")
    assert created["store_id"] == personas.store_one.pk
    await clerk.disconnect()
