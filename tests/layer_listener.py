"""A channel-layer receiver for tests, on its own event loop, as a consumer has.

The Redis pub/sub layer keeps its subscriptions per event loop, so creating a channel,
joining groups and receiving must all happen on ONE loop (``async_to_sync`` would start
a new loop per call). The listener runs that loop in a thread; publishers stay in the test's
thread. ``received()`` ends with a sentinel of its own sent after everything published so
far, so "nothing else arrived" is known without sleeping.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

from channels.layers import get_channel_layer

GUARD_SECONDS = 10  # a safety net against a hang, never waited for when things work


class LayerListener:
    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.sentinel_group = f"test.sentinel-{uuid.uuid4().hex}"
        self.groups: list[str] = []
        self._kept: list[dict[str, Any]] = []
        self.channel: str = self._run(self.layer.new_channel())
        self._run(self.layer.group_add(self.sentinel_group, self.channel))

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(GUARD_SECONDS)

    def join(self, *groups: str) -> str:
        """Join groups; returns once the subscriptions are live (a sentinel came back)."""
        for group in groups:
            self._run(self.layer.group_add(group, self.channel))
            self.groups.append(group)
        self._kept.extend(self._run(self._drain()))
        return self.channel

    def messages(self) -> list[dict[str, Any]]:
        """Every layer message received since the last call."""
        kept, self._kept = self._kept, []
        return kept + self._run(self._drain())

    def received(self) -> list[dict[str, Any]]:
        """The realtime events received since the last call."""
        return [m["event"] for m in self.messages() if m.get("type") == "realtime.event"]

    async def _drain(self) -> list[dict[str, Any]]:
        token = uuid.uuid4().hex
        await self.layer.group_send(self.sentinel_group, {"type": "test.sentinel", "token": token})
        messages = []
        while True:
            message = await asyncio.wait_for(self.layer.receive(self.channel), GUARD_SECONDS)
            if message.get("type") == "test.sentinel":
                if message.get("token") == token:
                    return messages
                continue
            messages.append(message)

    def close(self) -> None:
        for group in [*self.groups, self.sentinel_group]:
            self._run(self.layer.group_discard(group, self.channel))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(GUARD_SECONDS)
