"""Publish live events to channel-layer groups, after the surrounding transaction commits.

Events are thin: ``{"type", "id", "stream", "seq", "seqs", ...ids and changed fields}`` and
never carry customer PII; a client refetches details over HTTP. Each group is a stream with
its own increasing ``seq`` so that a client noticing a gap (the channel layer is
at-most-once) knows to refetch; ``seqs`` maps every group of the publish to its seq, and
concurrent publishers may deliver out of order, so a client waits a moment for a missing
seq before refetching (static/console/console.js). One publish sent to several groups
keeps one ``id``, so a socket that is in two of them (an agent of the team who is also the
assignee) drops the second copy.
The group a message is sent to IS the access decision: consumers only
join groups their user may see.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import _consistent_hash, decode_hosts
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
    targets = _checked_targets(groups)
    event_id = uuid.uuid4().hex
    buffer = getattr(_coalescing, "buffer", None)
    if buffer is not None:
        prepared = (targets, event_type, event_id, data)
        transaction.on_commit(lambda: buffer.append(prepared))
        return
    transaction.on_commit(lambda: _send(targets, event_type, event_id, data))


def publish_many(events: Iterable[tuple[Iterable[str], str, dict[str, Any]]]) -> None:
    """Several ``(groups, event_type, data)`` events after commit, as ``publish`` would send
    them one by one, but with one sequence reservation and one event-loop trip for all
    (for writers that change many rows in one transaction, such as routing)."""
    prepared = [
        (_checked_targets(groups), event_type, uuid.uuid4().hex, data)
        for groups, event_type, data in events
    ]
    if not prepared:
        return
    buffer = getattr(_coalescing, "buffer", None)
    if buffer is not None:
        transaction.on_commit(lambda: buffer.extend(prepared))
        return
    transaction.on_commit(lambda: _send_many(prepared))


_coalescing = threading.local()


@contextlib.contextmanager
def coalesced() -> Iterator[None]:
    """Every event published inside is sent with the others in one go (one sequence
    reservation, one pipeline) once the transaction commits, in publishing order.

    For writers that change many tickets in one transaction (the channel inbox's
    batches). Each event still rides on ``on_commit``: an event of a savepoint that
    rolled back is never sent, and the batch is flushed after the events it holds.
    """
    if getattr(_coalescing, "buffer", None) is not None:  # nested: the outer one sends
        yield
        return
    buffer: list[tuple[list[str], str, str, dict[str, Any]]] = []
    _coalescing.buffer = buffer
    try:
        yield
    finally:
        _coalescing.buffer = None
    transaction.on_commit(lambda: _send_many(buffer) if buffer else None)


def _checked_targets(groups: Iterable[str]) -> list[str]:
    targets = sorted(set(groups))
    for group in targets:
        if not GROUP_NAME.match(group):
            raise ValueError(f"invalid realtime group name {group!r}")
    return targets


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
    events: list[dict[str, Any]] = []
    for targets, event_type, event_id, data in prepared:
        seqs = {group: following[group] for group in targets}
        for group in targets:
            following[group] += 1
        events.extend(
            {
                "type": event_type,
                "id": event_id,
                "stream": group,
                "seq": seqs[group],
                "seqs": seqs,
                **data,
            }
            for group in targets
        )
    if isinstance(layer, RedisPubSubChannelLayer):
        _publish_pubsub(layer, events)  # one pipeline: each stream stays in order
    else:
        async_to_sync(_stream_send_all)(layer, events)


async def _stream_send_all(layer: Any, events: list[dict[str, Any]]) -> None:
    """Each stream's events in order (no false gap), the streams concurrently."""
    per_stream: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        per_stream.setdefault(event["stream"], []).append(event)

    async def send_stream(stream_events: list[dict[str, Any]]) -> None:
        for event in stream_events:
            try:
                await layer.group_send(event["stream"], layer_message(event))
            except Exception:  # best effort; clients resync on a seq gap
                logger.warning(
                    "realtime: could not send %s to %s",
                    event["type"],
                    event["stream"],
                    exc_info=True,
                )

    await asyncio.gather(*(send_stream(stream_events) for stream_events in per_stream.values()))


def _send(groups: list[str], event_type: str, event_id: str, data: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None or not groups:
        return
    try:
        seqs = next_seqs(groups)
    except Exception:  # after the commit: a failure here must not fail the request
        logger.warning("realtime: no sequence numbers for %s", event_type, exc_info=True)
        return
    # Each copy also carries the seq of every group of this publish ("seqs"): a socket in
    # two of them keeps one copy, and its other stream's seq still advances (no false gap).
    events = [
        {
            "type": event_type,
            "id": event_id,
            "stream": group,
            "seq": seqs[group],
            "seqs": seqs,
            **data,
        }
        for group in groups
    ]
    if isinstance(layer, RedisPubSubChannelLayer):
        _publish_pubsub(layer, events)
    else:
        # One trip to the event loop for all the groups (not one per group), concurrently.
        async_to_sync(_group_send_all)(layer, events)


def layer_message(event: dict[str, Any]) -> dict[str, Any]:
    """The channel-layer message of an event: the JSON text is made once per group here,
    not once per receiving socket in the consumers."""
    return {"type": "realtime.event", "event": event, "text": json.dumps(event)}


# --- publishing from synchronous code on the Redis pub/sub layer -------------------------

_publishers: dict[int, list[redis.Redis]] = {}


def _publish_pubsub(layer: RedisPubSubChannelLayer, events: list[dict[str, Any]]) -> None:
    """PUBLISH every group's message in one pipeline per Redis shard, from this thread.

    ``async_to_sync(layer.group_send)`` from a WSGI thread starts an event loop in a new
    thread for each call, and the pub/sub layer keeps one connection per loop: one TCP
    connection, one thread and one loop per published event. Here a process-wide
    connection pool publishes the same bytes to the same Redis channel that
    ``group_send`` would (``<prefix>__group__<group>``, the layer's serializer), so the
    consumers' subscriptions receive them unchanged (tests/kernel/test_realtime.py checks
    this against a real subscriber).
    """
    clients = _publishers.get(id(layer))
    if clients is None:
        clients = [_client_of(host) for host in decode_hosts(layer._kwargs.get("hosts"))]
        _publishers[id(layer)] = clients
    prefix = layer._kwargs.get("prefix", "asgi")
    pipes: dict[int, Any] = {}
    for event in events:
        channel = f"{prefix}__group__{event['stream']}"
        shard = _consistent_hash(channel, len(clients))
        if shard not in pipes:
            pipes[shard] = clients[shard].pipeline(transaction=False)
        pipes[shard].publish(channel, layer.serialize(layer_message(event)))
    for pipe in pipes.values():
        try:
            pipe.execute()
        except redis.RedisError:  # best effort; clients resync on a seq gap
            logger.warning("realtime: could not publish %d events", len(events), exc_info=True)


def _client_of(host: dict[str, Any]) -> redis.Redis:
    options = dict(host)
    if "address" in options:
        return redis.Redis.from_url(options.pop("address"), **options)
    if "master_name" in options:
        raise ValueError("realtime: Redis Sentinel hosts are not supported for publishing")
    return redis.Redis(**options)


async def _group_send_all(layer: Any, events: list[dict[str, Any]]) -> None:
    results = await asyncio.gather(
        *(layer.group_send(event["stream"], layer_message(event)) for event in events),
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
