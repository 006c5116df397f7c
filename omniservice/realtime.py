"""Publish live events to channel-layer groups, after the surrounding transaction commits.

Events are thin: ``{"type", "id", "stream", "seq", ...ids and changed fields}`` and never carry
customer PII; a client refetches details over HTTP. Each group is a stream with its own
increasing ``seq`` so that a client noticing a gap (the channel layer is at-most-once)
knows to refetch. One publish sent to several groups keeps one ``id``, so a socket that
is in two of them (an agent of the team who is also the assignee) drops the second copy.
The group a message is sent to IS the access decision: consumers only
join groups their user may see.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

GROUP_NAME = re.compile(r"^[a-z_]+(\.[A-Za-z0-9_-]+)?$")
SEQ_TIMEOUT = 7 * 24 * 3600


def next_seq(stream: str) -> int:
    """The next sequence number of a stream (atomic in Redis; per process in memory)."""
    key = f"realtime-seq:{stream}"
    cache.add(key, 0, timeout=SEQ_TIMEOUT)
    try:
        return cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.add(key, 1, timeout=SEQ_TIMEOUT)
        return 1


def publish(groups: Iterable[str], event_type: str, data: dict[str, Any]) -> None:
    """Send ``event_type`` with ``data`` to every group once the transaction commits."""
    targets = sorted(set(groups))
    for group in targets:
        if not GROUP_NAME.match(group):
            raise ValueError(f"invalid realtime group name {group!r}")
    event_id = uuid.uuid4().hex
    transaction.on_commit(lambda: _send(targets, event_type, event_id, data))


def _send(groups: list[str], event_type: str, event_id: str, data: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for group in groups:
        event = {
            "type": event_type,
            "id": event_id,
            "stream": group,
            "seq": next_seq(group),
            **data,
        }
        try:
            async_to_sync(layer.group_send)(group, {"type": "realtime.event", "event": event})
        except Exception:  # the layer is best effort; clients resync on a seq gap
            logger.warning("realtime: could not send %s to %s", event_type, group, exc_info=True)
