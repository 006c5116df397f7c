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

import asyncio
import logging
import re
import uuid
from collections import Counter
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache
from django.db import transaction

logger = logging.getLogger(__name__)

GROUP_NAME = re.compile(r"^[a-z_]+(\.[A-Za-z0-9_-]+)?$")
SEQ_TIMEOUT = 7 * 24 * 3600


def next_seq(stream: str) -> int:
    """The next sequence number of a stream (atomic in Redis; per process in memory)."""
    return next_seqs([stream])[stream]


def next_seqs(streams: list[str]) -> dict[str, int]:
    """The next sequence number of each stream, in one Redis round trip.

    With the Redis cache, INCR creates a missing counter at 1 and EXPIRE renews the
    week-long lifetime on each event, in one pipeline (the per-stream ``add`` + ``incr``
    cost three round trips per stream, from the request thread). Other caches (tests,
    no Redis) count with ``add`` + ``incr``, per process.
    """
    keys = {stream: f"realtime-seq:{stream}" for stream in streams}
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        client = backend._cache.get_client(write=True)  # the cache's own pool
        pipe = client.pipeline(transaction=False)
        for key in keys.values():
            full_key = backend.make_and_validate_key(key)
            pipe.incr(full_key)
            pipe.expire(full_key, SEQ_TIMEOUT)
        replies = pipe.execute()
        return {stream: int(replies[2 * i]) for i, stream in enumerate(keys)}
    seqs = {}
    for stream, key in keys.items():
        cache.add(key, 0, timeout=SEQ_TIMEOUT)
        try:
            seqs[stream] = cache.incr(key)
        except ValueError:  # evicted between add and incr
            cache.add(key, 1, timeout=SEQ_TIMEOUT)
            seqs[stream] = 1
    return seqs


def reserve_seqs(counts: dict[str, int]) -> dict[str, int]:
    """Reserve ``counts[stream]`` consecutive numbers of each stream in one Redis round
    trip (INCRBY); returns the LAST number reserved per stream."""
    keys = {stream: f"realtime-seq:{stream}" for stream in counts}
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        client = backend._cache.get_client(write=True)
        pipe = client.pipeline(transaction=False)
        for stream, key in keys.items():
            full_key = backend.make_and_validate_key(key)
            pipe.incrby(full_key, counts[stream])
            pipe.expire(full_key, SEQ_TIMEOUT)
        replies = pipe.execute()
        return {stream: int(replies[2 * i]) for i, stream in enumerate(keys)}
    last = {}
    for stream, key in keys.items():
        cache.add(key, 0, timeout=SEQ_TIMEOUT)
        try:
            last[stream] = cache.incr(key, counts[stream])
        except ValueError:  # evicted between add and incr
            cache.add(key, counts[stream], timeout=SEQ_TIMEOUT)
            last[stream] = counts[stream]
    return last


def publish(groups: Iterable[str], event_type: str, data: dict[str, Any]) -> None:
    """Send ``event_type`` with ``data`` to every group once the transaction commits."""
    targets = sorted(set(groups))
    for group in targets:
        if not GROUP_NAME.match(group):
            raise ValueError(f"invalid realtime group name {group!r}")
    event_id = uuid.uuid4().hex
    transaction.on_commit(lambda: _send(targets, event_type, event_id, data))


def publish_many(events: Iterable[tuple[Iterable[str], str, dict[str, Any]]]) -> None:
    """Several ``(groups, event_type, data)`` events after commit, as ``publish`` would send
    them one by one, but with one sequence reservation and one event-loop trip for all
    (for writers that change many rows in one transaction, such as routing)."""
    prepared = []
    for groups, event_type, data in events:
        targets = sorted(set(groups))
        for group in targets:
            if not GROUP_NAME.match(group):
                raise ValueError(f"invalid realtime group name {group!r}")
        prepared.append((targets, event_type, uuid.uuid4().hex, data))
    if prepared:
        transaction.on_commit(lambda: _send_many(prepared))


def _send_many(prepared: list[tuple[list[str], str, str, dict[str, Any]]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    counts = Counter(group for targets, *_rest in prepared for group in targets)
    try:
        last = reserve_seqs(dict(counts))
    except Exception:  # after the commit: a failure here must not fail the request
        logger.warning("realtime: no sequence numbers for %s events", len(prepared), exc_info=True)
        return
    following = {group: last[group] - n + 1 for group, n in counts.items()}
    per_stream: dict[str, list[dict[str, Any]]] = {}
    for targets, event_type, event_id, data in prepared:
        for group in targets:
            event = {"type": event_type, "id": event_id, "stream": group, "seq": following[group]}
            following[group] += 1
            per_stream.setdefault(group, []).append({**event, **data})
    async_to_sync(_stream_send_all)(layer, per_stream)


async def _stream_send_all(layer: Any, per_stream: dict[str, list[dict[str, Any]]]) -> None:
    """Each stream's events in order (no false gap), the streams concurrently."""

    async def send_stream(events: list[dict[str, Any]]) -> None:
        for event in events:
            try:
                await layer.group_send(event["stream"], {"type": "realtime.event", "event": event})
            except Exception:  # best effort; clients resync on a seq gap
                logger.warning(
                    "realtime: could not send %s to %s",
                    event["type"],
                    event["stream"],
                    exc_info=True,
                )

    await asyncio.gather(*(send_stream(events) for events in per_stream.values()))


def _send(groups: list[str], event_type: str, event_id: str, data: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None or not groups:
        return
    try:
        seqs = next_seqs(groups)
    except Exception:  # after the commit: a failure here must not fail the request
        logger.warning("realtime: no sequence numbers for %s", event_type, exc_info=True)
        return
    events = [
        {"type": event_type, "id": event_id, "stream": group, "seq": seqs[group], **data}
        for group in groups
    ]
    # One trip to the event loop for all the groups (not one per group), sent concurrently.
    async_to_sync(_group_send_all)(layer, events)


async def _group_send_all(layer: Any, events: list[dict[str, Any]]) -> None:
    results = await asyncio.gather(
        *(
            layer.group_send(event["stream"], {"type": "realtime.event", "event": event})
            for event in events
        ),
        return_exceptions=True,
    )
    for event, result in zip(events, results, strict=True):
        if isinstance(result, Exception):  # best effort; clients resync on a seq gap
            logger.warning(
                "realtime: could not send %s to %s",
                event["type"],
                event["stream"],
                exc_info=result,
            )
