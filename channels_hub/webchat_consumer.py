"""The customer's websocket: ``/ws/chat/?key=<widget key>&token=<socket token>``.

No session, no cookie: the socket is accepted only with a valid socket token of that
connection (two minutes old at most, from the session endpoint: the URL may be logged)
and from an allow-listed origin, and joins ONE group, ``webchat.<visitor
id>``, which only ever carries this customer's web chat events.

server -> client
  {"type": "hello", "online": bool}
  {"type": "message.added", "message_id", "from": "visitor"|"agent", "seq", ...}  refetch
  {"type": "typing", "typing": bool, "name", "initials"}      an agent writes a reply
  {"type": "pong"} / {"type": "error", "code", "message"}
client -> server
  {"type": "typing", "typing": bool}     shown in the console of the visitor's open ticket
  {"type": "seen", "message_id": int}    the replies up to it were shown: read receipts
  {"type": "ping"}
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from channels_hub import webchat
from channels_hub.webchat_access import (
    VisitorToken,
    WebChatRefused,
    availability,
    origin_allowed,
    read_socket_token,
    widget_connection,
)

logger = logging.getLogger(__name__)

TYPING_REPEAT = 1.0  # seconds


class WebChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.group = ""
        self.typing = False
        self.typing_at = 0.0
        setup = await self._setup()
        if isinstance(setup, int):
            await self.close(code=setup)
            return
        self.token, online = setup
        self.group = self.token.group
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "online": online})

    async def disconnect(self, code: int) -> None:
        if self.group:
            if self.typing:
                await self._customer_typing(False)
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "typing":
            # "typing" again while typing reaches agents who opened the ticket since; at
            # most one a second per socket.
            typing = bool(content.get("typing"))
            now = time.monotonic()
            if typing != self.typing or (typing and now - self.typing_at >= TYPING_REPEAT):
                self.typing, self.typing_at = typing, now
                await self._customer_typing(typing)
        elif kind == "seen":
            message_id = content.get("message_id")
            if isinstance(message_id, int) and not isinstance(message_id, bool):
                await self._mark_read(message_id)
        else:
            await self.send_json(
                {"type": "error", "code": "bad_request", "message": "Unknown message type."}
            )

    async def realtime_event(self, message: dict[str, Any]) -> None:
        event = message["event"]
        await self.send_json(
            {
                "type": event["type"],
                "message_id": event.get("message_id"),
                "from": event.get("from"),
                "seq": event.get("seq"),
            }
        )

    async def webchat_typing(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])

    async def _customer_typing(self, typing: bool) -> None:
        ticket_id = await self._open_ticket_id()
        if ticket_id is None:
            return
        await self.channel_layer.group_send(
            f"ticket.{ticket_id}",
            {
                "type": "collision.event",
                "origin": self.channel_name,
                "event": {"type": "customer.typing", "ticket_id": ticket_id, "typing": typing},
            },
        )

    # --- database work ------------------------------------------------------------------

    @database_sync_to_async
    def _setup(self) -> tuple[VisitorToken, bool] | int:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        connection = widget_connection((query.get("key") or [""])[0])
        if connection is None:
            return 4404
        headers = dict(self.scope.get("headers") or [])
        origin = headers.get(b"origin")
        host = headers.get(b"host", b"").decode("latin-1")
        if origin is None or not origin_allowed(
            connection, origin.decode("latin-1"), own_host=host
        ):
            logger.warning("web chat socket: origin %r refused", origin)
            return 4403
        try:
            token = read_socket_token(connection, (query.get("token") or [""])[0])
        except WebChatRefused:
            return 4401
        return token, availability(connection, now=timezone.now()).online

    @database_sync_to_async
    def _open_ticket_id(self) -> int | None:
        return webchat.open_ticket_id(webchat.visitor_of(self.token))

    @database_sync_to_async
    def _mark_read(self, message_id: int) -> None:
        webchat.mark_read(webchat.visitor_of(self.token), up_to=message_id)
