"""The agent console websocket: live ticket events, presence, typing and collision notices.

Protocol (JSON):

server -> client
  {"type": "hello", "user_id", "streams": [group, ...]}       on connect
  {"type": "<event>", "id", "stream", "seq", ...}              ticket.created, ticket.updated,
                                                              message.added,
                                                              message.delivery_changed,
                                                              agent.presence_changed
  {"type": "ticket.viewing", "ticket_id", "user_id", "name", "replying", "hello"}
  {"type": "ticket.left", "ticket_id", "user_id"}
  {"type": "pong"} / {"type": "error", "code", "message"}
client -> server
  {"type": "view", "ticket_id"}          start viewing a ticket (checked against can_see)
  {"type": "unview", "ticket_id"}
  {"type": "typing", "ticket_id", "replying": bool, "note": bool, "channel"}
                                         a reply (not a note) via web_chat also shows
                                         as typing in the customer's web chat
  {"type": "presence", "state": "online" | "away"}
  {"type": "ping"}

Events of one publish keep one ``id`` across the groups it went to: the consumer drops
the copies, so a browser gets each event once. ``seq`` rises by one per stream; a client
that sees a gap, or reconnects, refetches its lists over HTTP.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.cache import cache

from channels_hub.webchat import agent_typing_event, agent_typing_groups
from omniservice.org.models import Presence
from omniservice.org.services import set_presence
from tickets.models import Channel, Ticket
from tickets.visibility import can_see, console_groups_for, profile_of

logger = logging.getLogger(__name__)

SEEN_EVENT_IDS = 512
CONNECTIONS_TTL = 24 * 3600
MAX_VIEWED_TICKETS = 20


class ConsoleConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.groups_joined: list[str] = []
        self.viewing: dict[int, bool] = {}  # ticket id -> replying
        self.relayed: dict[int, bool] = {}  # ticket id -> typing shown to the customer
        self.seen: OrderedDict[str, None] = OrderedDict()
        setup = await self._setup()
        if setup is None:
            await self.close(code=4401)
            return
        self.groups_joined, self.display_name = setup
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json(
            {"type": "hello", "user_id": self.user.pk, "streams": self.groups_joined}
        )
        await self._connection_opened()

    async def disconnect(self, code: int) -> None:
        for ticket_id in list(self.viewing):
            await self._stop_viewing(ticket_id)
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)
        if getattr(self, "groups_joined", None):
            await self._connection_closed()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            await self._error("bad_request", "Messages must be JSON objects.")
            return
        kind = content.get("type")
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "view":
            await self._view(content.get("ticket_id"))
        elif kind == "unview":
            ticket_id = content.get("ticket_id")
            if isinstance(ticket_id, int) and ticket_id in self.viewing:
                await self._stop_viewing(ticket_id)
        elif kind == "typing":
            await self._typing(content.get("ticket_id"), bool(content.get("replying")))
            await self._relay_to_customer(
                content.get("ticket_id"),
                bool(
                    content.get("replying")
                    and not content.get("note")
                    and content.get("channel") == Channel.WEB_CHAT
                ),
            )
        elif kind == "presence":
            state = content.get("state")
            if state not in (Presence.ONLINE, Presence.AWAY):
                await self._error("bad_request", "presence state must be online or away.")
                return
            await self._set_presence(state)
        else:
            await self._error("bad_request", f"Unknown message type {kind!r}.")

    # --- events from the channel layer --------------------------------------------------

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Live events go straight to their handler, without a trip to the sync thread.

        channels runs ``close_old_connections`` in a worker thread before every handler,
        that is one thread hop per event and socket: with hundreds of sockets, thousands a
        second queued on one thread and contending for the GIL with the requests, which
        delayed pushes by seconds under load. The handlers of these events never use the
        database; those that do go through ``database_sync_to_async``, which closes stale
        connections itself.
        """
        if message.get("type") == "realtime.event":
            await self.realtime_event(message)
        elif message.get("type") == "collision.event":
            await self.collision_event(message)
        else:
            await super().dispatch(message)

    async def realtime_event(self, message: dict[str, Any]) -> None:
        event = message["event"]
        event_id = event.get("id")
        if event_id:
            if event_id in self.seen:
                return
            self.seen[event_id] = None
            if len(self.seen) > SEEN_EVENT_IDS:
                self.seen.popitem(last=False)
        text = message.get("text")
        if text is not None:  # serialised once by the publisher, for every socket
            await self.send(text_data=text)
        else:
            await self.send_json(event)

    async def collision_event(self, message: dict[str, Any]) -> None:
        if message.get("origin") == self.channel_name:
            return
        event = message["event"]
        await self.send_json(event)
        ticket_id = event.get("ticket_id")
        if (
            event.get("type") == "ticket.viewing"
            and event.get("hello")
            and ticket_id in self.viewing
        ):
            await self._announce(ticket_id, hello=False)  # introduce ourselves to the newcomer

    # --- viewing, typing, presence ------------------------------------------------------

    async def _view(self, ticket_id: Any) -> None:
        if not isinstance(ticket_id, int) or isinstance(ticket_id, bool):
            await self._error("bad_request", "ticket_id must be an integer.")
            return
        if ticket_id in self.viewing:
            return
        if len(self.viewing) >= MAX_VIEWED_TICKETS or not await self._may_see(ticket_id):
            await self._error("forbidden", "You may not view this ticket.")
            return
        self.viewing[ticket_id] = False
        await self.channel_layer.group_add(f"ticket.{ticket_id}", self.channel_name)
        await self._announce(ticket_id, hello=True)

    async def _stop_viewing(self, ticket_id: int) -> None:
        if self.relayed.get(ticket_id):
            await self._relay_to_customer(ticket_id, False)
        self.viewing.pop(ticket_id, None)
        await self._broadcast(
            ticket_id, {"type": "ticket.left", "ticket_id": ticket_id, "user_id": self.user.pk}
        )
        if f"ticket.{ticket_id}" not in self.groups_joined:
            await self.channel_layer.group_discard(f"ticket.{ticket_id}", self.channel_name)

    async def _typing(self, ticket_id: Any, replying: bool) -> None:
        if ticket_id not in self.viewing:
            await self._error("bad_request", "View the ticket before typing in it.")
            return
        if self.viewing[ticket_id] != replying:
            self.viewing[ticket_id] = replying
            await self._announce(ticket_id, hello=False)

    async def _relay_to_customer(self, ticket_id: Any, typing: bool) -> None:
        """A reply (not a note) being written shows as typing in the customer's web chat."""
        if ticket_id not in self.viewing or self.relayed.get(ticket_id, False) == typing:
            return
        self.relayed[ticket_id] = typing
        groups = await database_sync_to_async(agent_typing_groups)(ticket_id)
        event = agent_typing_event(name=self.display_name, typing=typing)
        for group in groups:
            await self.channel_layer.group_send(group, {"type": "webchat.typing", "event": event})

    async def _announce(self, ticket_id: int, *, hello: bool) -> None:
        await self._broadcast(
            ticket_id,
            {
                "type": "ticket.viewing",
                "ticket_id": ticket_id,
                "user_id": self.user.pk,
                "name": self.display_name,
                "replying": self.viewing.get(ticket_id, False),
                "hello": hello,
            },
        )

    async def _broadcast(self, ticket_id: int, event: dict[str, Any]) -> None:
        await self.channel_layer.group_send(
            f"ticket.{ticket_id}",
            {"type": "collision.event", "origin": self.channel_name, "event": event},
        )

    async def _error(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "message": message})

    # --- database work ------------------------------------------------------------------

    @database_sync_to_async
    def _setup(self) -> tuple[list[str], str] | None:
        user = self.user
        if user is None or not user.is_authenticated or not user.is_active:
            return None
        profile = profile_of(user)
        if profile is None and not user.is_superuser:
            return None
        name = (profile.display_name if profile else "") or user.get_username()
        return console_groups_for(user), name

    @database_sync_to_async
    def _may_see(self, ticket_id: int) -> bool:
        ticket = Ticket.objects.filter(pk=ticket_id).first()
        return ticket is not None and can_see(self.user, ticket)

    @database_sync_to_async
    def _set_presence(self, state: str) -> None:
        profile = profile_of(self.user)
        if profile is not None:
            set_presence(profile=profile, presence=state)

    @database_sync_to_async
    def _connection_opened(self) -> None:
        key = f"console-connections:{self.user.pk}"
        cache.add(key, 0, timeout=CONNECTIONS_TTL)
        cache.incr(key)
        profile = profile_of(self.user)
        if profile is not None:
            set_presence(profile=profile, presence=Presence.ONLINE)

    @database_sync_to_async
    def _connection_closed(self) -> None:
        """Offline only when the user's last console tab closed."""
        key = f"console-connections:{self.user.pk}"
        try:
            remaining = cache.decr(key)
        except ValueError:
            remaining = 0
        if remaining <= 0:
            cache.delete(key)
            profile = profile_of(self.user)
            if profile is not None:
                set_presence(profile=profile, presence=Presence.OFFLINE)
