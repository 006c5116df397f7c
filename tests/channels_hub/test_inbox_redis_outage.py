"""Redis (cache and broker) unreachable: the webhooks keep accepting into PostgreSQL.

PostgreSQL is the inbox's durable store; Redis only carries the drain's wake-up call,
configuration versions and live events. When it is gone, a provider's delivery must
still be stored and answered 200 (a 5xx would make the provider retry, and give up
after its own window); the beat's sweep threads what no wake-up call announced.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest
from django.core.cache import caches

from channels_hub import inbox
from channels_hub.inbox_models import DeliveryState, InboundDelivery
from omniservice import outages
from omniservice.celery import app as celery_app
from tests.channels_hub.test_inbox import connection as connection  # the fixture
from tests.channels_hub.test_whatsapp import post_signed, text_payload
from tickets.models import Message

pytestmark = pytest.mark.django_db

DEAD_REDIS = "redis://127.0.0.1:9/0"  # the discard port: nothing answers


def redis_cache_at(location: str) -> dict:
    """CACHES for a Redis at ``location``, giving up after 0.2 s (REDIS_TIMEOUT_MS)."""
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": location,
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }


@pytest.fixture
def redis_down(settings, monkeypatch):
    """Cache and broker point at a port where nothing listens; call it to bring them back."""
    working_caches = settings.CACHES
    settings.CACHES = redis_cache_at(DEAD_REDIS)
    settings.CONFIG_SNAPSHOTS = True
    monkeypatch.setattr(outages, "_last_logged", {})  # each outage logs afresh
    monkeypatch.setattr(celery_app.conf, "task_always_eager", False)
    monkeypatch.setattr(celery_app.conf, "broker_url", DEAD_REDIS)

    def back() -> None:
        caches["default"].close()
        settings.CACHES = working_caches

    yield back
    caches["default"].close()


def test_a_webhook_is_stored_and_answered_while_redis_is_down(
    client, connection, redis_down, django_capture_on_commit_callbacks, caplog
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(client, connection, text_payload(message_id="wamid.outage"))
        retry = post_signed(client, connection, text_payload(message_id="wamid.outage"))

    assert (response.status_code, retry.status_code) == (200, 200)
    delivery = InboundDelivery.objects.get()
    assert (delivery.external_id, delivery.state) == ("wamid.outage", DeliveryState.PENDING)
    assert "thread_pending_deliveries not queued" in caplog.text
    assert not Message.objects.exists()

    redis_down()  # Redis is back: the beat's sweep threads what no drain was queued for
    inbox.sweep_inbox()

    assert Message.objects.get().external_id == "wamid.outage"
    assert InboundDelivery.objects.get().state == DeliveryState.DONE


def test_a_drain_that_loses_redis_midway_goes_on_threading_from_postgresql(
    client, connection, redis_down, django_capture_on_commit_callbacks
):
    """A worker already draining when Redis goes away: configuration, automation triggers
    and the wake-up calls of routing fall back or wait; the messages reach their tickets."""
    for n in range(3):
        post_signed(client, connection, text_payload(message_id=f"wamid.mid{n}"))

    with django_capture_on_commit_callbacks(execute=True):
        drained = inbox.thread_batch()

    assert (drained.threaded, drained.retried) == (3, 0)
    assert Message.objects.count() == 3
    assert set(InboundDelivery.objects.values_list("state", flat=True)) == {DeliveryState.DONE}


@pytest.fixture
def silent_redis():
    """A server that accepts connections and never answers: Redis behind a partition."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                accepted.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_a_redis_that_hangs_delays_the_webhook_by_its_timeout_not_forever(
    client, connection, settings, monkeypatch, silent_redis, django_capture_on_commit_callbacks
):
    """Production split (a worker threads): the door reads the connection snapshot's
    version and sets the drain marker, each giving up after the socket timeout."""
    monkeypatch.setattr(celery_app.conf, "task_always_eager", False)
    settings.CACHES = redis_cache_at(silent_redis)
    settings.CONFIG_SNAPSHOTS = True
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(client, connection, text_payload(message_id="wamid.hang"))
    took = time.monotonic() - started
    caches["default"].close()

    assert response.status_code == 200
    assert InboundDelivery.objects.get().external_id == "wamid.hang"
    assert took < 1.5  # two timed-out cache calls, not a TCP connect timeout of minutes
