"""Accept verified provider messages at the door; thread them onto tickets in batches.

``accept()`` (the webhook's part): one INSERT of the batch's messages into
``InboundDelivery``, unique on (channel, provider id) so that a provider's retry is a
no-op, then the webhook answers. After commit a drain is scheduled (at most one waits in
the broker at a time); ``thread_pending_deliveries`` claims pending rows in arrival order
with ``FOR UPDATE SKIP LOCKED`` under a lease (several workers never take the same row)
and threads up to ``CHANNEL_INBOX_BATCH`` of them, each in its own transaction (one
batch-wide transaction would hold customers' locks for the whole batch and overflow
PostgreSQL's cache of subtransactions with the savepoints of fifty messages), sending
the live events of what was threaded in each tenth of a second in one pipeline. A
message the tickets app refuses (too long, unknown channel) is dropped with its reason
logged; an unexpected error leaves the row pending with a growing delay and marks it
failed after ``MAX_ATTEMPTS``, its payload kept for a replay from the admin.

When Celery runs tasks in-process (the embedded quick start, the test suite) there is no
worker to hand over to: the webhook threads what it accepted itself before answering.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from channels_hub.adapters.base import InboundMessage, MediaRef
from channels_hub.inbox_models import DeliveryState, InboundDelivery
from channels_hub.media import schedule_media
from channels_hub.models import ChannelConnection
from customers.identity import IdentityClaim
from omniservice import realtime
from omniservice.celery import TRANSIENT_RETRY, queue_unless_waiting, tasks_run_in_process
from omniservice.errors import DomainError
from omniservice.org.models import Store
from omniservice.outbox.services import backoff_seconds
from tickets.attachments import UploadedContent
from tickets.services import InboundResult, thread_inbound_message

logger = logging.getLogger(__name__)

DRAIN_MARKER = "channel-inbox-drain-scheduled"
DRAIN_MARKER_SECONDS = 300  # a lost task frees the marker; the sweep drains meanwhile
MAX_ATTEMPTS = 8
PURGE_AFTER = timedelta(days=3)
LEASE = timedelta(minutes=5)
LIVE_FLUSH_SECONDS = 0.1


# --- the normalised message as stored --------------------------------------------------


def to_payload(inbound: InboundMessage) -> dict[str, Any]:
    return {
        "channel": inbound.channel,
        "external_id": inbound.external_id,
        "identities": [[c.kind, c.value, c.verified] for c in inbound.identities],
        "text": inbound.text,
        "html": inbound.html,
        "subject": inbound.subject,
        "attachments": [
            {
                "filename": a.filename,
                "content": base64.b64encode(a.content).decode("ascii"),
                "content_type": a.content_type,
                "sha256": a.sha256,
                "content_id": a.content_id,
            }
            for a in inbound.attachments
        ],
        "profile": inbound.profile,
        "store_code": inbound.store_code,
        "media": [[m.ref, m.filename] for m in inbound.media],
    }


def from_payload(payload: dict[str, Any]) -> InboundMessage:
    return InboundMessage(
        channel=payload["channel"],
        external_id=payload["external_id"],
        identities=[
            IdentityClaim(kind, value, verified) for kind, value, verified in payload["identities"]
        ],
        text=payload.get("text", ""),
        html=payload.get("html", ""),
        subject=payload.get("subject", ""),
        attachments=[
            UploadedContent(
                filename=a["filename"],
                content=base64.b64decode(a["content"]),
                content_type=a["content_type"],
                sha256=a["sha256"],
                content_id=a.get("content_id", ""),
            )
            for a in payload.get("attachments", ())
        ],
        profile=payload.get("profile") or {},
        store_code=payload.get("store_code", ""),
        media=[MediaRef(ref=ref, filename=filename) for ref, filename in payload.get("media", ())],
    )


# --- at the door --------------------------------------------------------------------------


@dataclass
class Accepted:
    accepted: int = 0
    duplicates: int = 0
    threaded: int = 0  # in-process mode: threaded before answering
    dropped: int = 0


def accept(messages: Sequence[InboundMessage], *, connection: ChannelConnection) -> Accepted:
    """Store the messages for threading; a provider id seen before is a duplicate."""
    summary = Accepted()
    if not messages:
        return summary
    # A batch may repeat a message; one without a provider id cannot be told from its
    # retry, so it gets a key of its own (and its ticket message no external id).
    by_key = {(m.channel, m.external_id or f"no-id:{uuid.uuid4().hex}"): m for m in messages}
    inserted = _insert_new(by_key, connection=connection)
    summary.accepted = len(inserted)
    summary.duplicates = len(messages) - len(inserted)
    if not inserted:
        return summary
    if tasks_run_in_process():
        rows = list(
            InboundDelivery.objects.filter(pk__in=inserted, state=DeliveryState.PENDING).order_by(
                "pk"
            )
        )
        done = _thread_rows(rows)
        summary.threaded, summary.dropped = done.threaded, done.dropped
    else:
        transaction.on_commit(schedule_drain)
    return summary


def _insert_new(
    by_key: dict[tuple[str, str], InboundMessage], *, connection: ChannelConnection
) -> list[int]:
    """One ``INSERT ... ON CONFLICT DO NOTHING RETURNING id``: the ids of the rows that
    are new (a provider id already stored, or stored by a concurrent retry, is not)."""
    table = InboundDelivery._meta.db_table
    is_postgres = db_connection.vendor == "postgresql"
    payload_value = "%s::jsonb" if is_postgres else "%s"
    rows_sql, params = [], []
    received_at = db_connection.ops.adapt_datetimefield_value(timezone.now())
    for (channel, external_id), message in by_key.items():
        rows_sql.append(f"(%s, %s, %s, {payload_value}, %s, 0, '', %s)")
        params += [
            connection.pk,
            channel,
            external_id,
            json.dumps(to_payload(message)),
            DeliveryState.PENDING,
            received_at,
        ]
    sql = (
        f"INSERT INTO {table} "  # noqa: S608 - the table name is ours, values are parameters
        "(connection_id, channel, external_id, payload, state, attempts, last_error, "
        f"received_at) VALUES {', '.join(rows_sql)} "
        "ON CONFLICT (channel, external_id) DO NOTHING RETURNING id"
    )
    with db_connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def replay_failed(deliveries: QuerySet[InboundDelivery]) -> int:
    """Put failed deliveries back in line with fresh attempts (a manager fixed the cause);
    how many."""
    count = deliveries.filter(state=DeliveryState.FAILED).update(
        state=DeliveryState.PENDING, attempts=0, available_at=None
    )
    if count:
        transaction.on_commit(schedule_drain)
    return count


def schedule_drain() -> None:
    """Queue a drain unless one already waits for a worker (that one will see our rows).

    Runs after commit: the rows are stored, so without Redis (cache and broker) the
    request still succeeds and the beat's ``sweep_inbox`` threads them."""
    queue_unless_waiting(
        thread_pending_deliveries,
        waiting_marker=DRAIN_MARKER,
        marker_seconds=DRAIN_MARKER_SECONDS,
        marker=True,
    )


# --- the worker ------------------------------------------------------------------------------


@dataclass
class Drained:
    claimed: int = 0
    threaded: int = 0
    duplicates: int = 0
    dropped: int = 0
    retried: int = 0
    failed: int = 0

    def add(self, other: Drained) -> None:
        for name in ("claimed", "threaded", "duplicates", "dropped", "retried", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@shared_task(**TRANSIENT_RETRY)
def thread_pending_deliveries(marker: bool = False) -> int:
    """Thread pending deliveries batch after batch for ``CHANNEL_INBOX_RUN_SECONDS``;
    while there is a backlog, another drain waits for the next free worker process.
    Returns how many rows were handled."""
    if marker:  # from now on a new delivery schedules its own drain: this one may miss it
        cache.delete(DRAIN_MARKER)
    deadline = time.monotonic() + settings.CHANNEL_INBOX_RUN_SECONDS
    total = Drained()
    while True:
        batch = thread_batch()
        total.add(batch)
        if batch.claimed < settings.CHANNEL_INBOX_BATCH:
            break
        # A full batch: there is a backlog. Another drain may start beside this one on an
        # idle worker process (SKIP LOCKED keeps them apart), so every worker helps.
        if not tasks_run_in_process():
            schedule_drain()
        if time.monotonic() >= deadline:
            break
    return total.claimed


@shared_task(**TRANSIENT_RETRY)
def sweep_inbox() -> int:
    """Beat: drain what a lost task left and retry what is due; purge old done rows."""
    InboundDelivery.objects.filter(
        state__in=[DeliveryState.DONE, DeliveryState.DROPPED],
        received_at__lt=timezone.now() - PURGE_AFTER,
    ).delete()
    return thread_pending_deliveries()


def thread_batch(size: int | None = None) -> Drained:
    """Claim one batch of due pending deliveries and thread them."""
    return _thread_rows(claim(size or settings.CHANNEL_INBOX_BATCH))


def claim(size: int) -> list[InboundDelivery]:
    """Lease up to ``size`` due pending rows, oldest first, for ``LEASE``. Concurrent
    workers skip each other's locked rows; a worker that dies leaves its rows to the next
    claim once the lease is over (a message it had threaded is then a duplicate)."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            InboundDelivery.objects.select_for_update(skip_locked=True)
            .filter(state=DeliveryState.PENDING)
            .filter(Q(available_at__isnull=True) | Q(available_at__lte=now))
            .order_by("pk")[:size]
        )
        if rows:
            InboundDelivery.objects.filter(pk__in=[row.pk for row in rows]).update(
                available_at=now + LEASE
            )
    return rows


def _thread_rows(rows: list[InboundDelivery]) -> Drained:
    """Thread each row in a transaction of its own (short locks; a failure is the row's
    alone); live events leave in a few pipelines rather than one per message."""
    drained = Drained(claimed=len(rows))
    if not rows:
        return drained
    connections = ChannelConnection.objects.in_bulk({row.connection_id for row in rows})
    stores = stores_by_code({row.payload.get("store_code", "") for row in rows} - {""})
    remaining = deque(rows)
    while remaining:
        # One pipeline for the live events of what was threaded in the last moment: a
        # console sees each message within LIVE_FLUSH_SECONDS of its commit, not at the
        # end of the whole batch.
        with realtime.coalesced():
            flush_at = time.monotonic() + LIVE_FLUSH_SECONDS
            while remaining:
                row = remaining.popleft()
                _thread_row(row, connections.get(row.connection_id), stores, drained)
                if time.monotonic() >= flush_at:
                    break
    return drained


def _thread_row(
    row: InboundDelivery,
    connection: ChannelConnection | None,
    stores: dict[str, Store],
    drained: Drained,
) -> None:
    """Thread one row; its outcome is written in the same transaction as its message, so
    a worker that dies in between leaves neither (the next claim threads it again)."""
    try:
        with transaction.atomic():
            inbound = from_payload(row.payload)
            result = ingest_message(inbound, store=stores.get(inbound.store_code))
            if inbound.media and not result.duplicate and connection is not None:
                schedule_media(inbound, message_id=result.message.pk, connection=connection)
            _record_outcome(row, state=DeliveryState.DONE, message_id=result.message.pk)
    except DomainError as exc:  # bad content: a retry would fail the same way
        logger.warning("inbound %s/%s dropped: %s", row.channel, row.external_id, exc.code)
        _record_outcome(row, state=DeliveryState.DROPPED, last_error=exc.code[:500])
        drained.dropped += 1
        return
    except Exception as exc:  # a bug or an outage: keep the row, retry later
        _record_failed_attempt(row, exc, drained)
        return
    if result.duplicate:
        drained.duplicates += 1
    else:
        drained.threaded += 1


def _record_outcome(
    row: InboundDelivery, *, state: str, message_id: int | None = None, last_error: str = ""
) -> None:
    """A final outcome: the payload is no longer needed (the ticket keeps the text)."""
    row.state, row.payload, row.message_id = state, {}, message_id
    row.available_at, row.last_error, row.processed_at = None, last_error, timezone.now()
    row.save(
        update_fields=["state", "payload", "message", "available_at", "last_error", "processed_at"]
    )


def _record_failed_attempt(row: InboundDelivery, exc: Exception, drained: Drained) -> None:
    row.attempts += 1
    row.last_error = f"{type(exc).__name__}: {exc}"[:500]
    row.processed_at = timezone.now()
    if row.attempts >= MAX_ATTEMPTS:
        row.state = DeliveryState.FAILED
        drained.failed += 1
        logger.exception("inbound %s/%s failed for good", row.channel, row.external_id)
    else:
        row.available_at = timezone.now() + timedelta(seconds=backoff_seconds(row.attempts))
        drained.retried += 1
        logger.warning(
            "inbound %s/%s: attempt %s failed (%s)",
            row.channel,
            row.external_id,
            row.attempts,
            row.last_error,
        )
    row.save(update_fields=["state", "attempts", "available_at", "last_error", "processed_at"])


def ingest_message(inbound: InboundMessage, *, store: Store | None = None) -> InboundResult:
    """Thread one normalised message now (the web chat, and each claimed delivery)."""
    return thread_inbound_message(
        channel=inbound.channel,
        external_id=inbound.external_id,
        identities=inbound.identities,
        text=inbound.text,
        html=inbound.html,
        attachments=inbound.attachments,
        store=store,
        subject=inbound.subject,
        profile=inbound.profile,
    )


def stores_by_code(codes: set[str]) -> dict[str, Store]:
    if not codes:
        return {}
    return {store.code: store for store in Store.objects.filter(code__in=codes)}
