"""The webhooks' inbox: accepted at the door, threaded by a worker in batches.

The rest of the suite runs Celery in-process, where the webhook threads what it accepted
before answering; these tests switch that off to see the production split.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.contrib.admin.sites import site
from django.db import transaction
from django.utils import timezone

from channels_hub import inbox
from channels_hub.adapters.base import InboundMessage, MediaRef
from channels_hub.inbox_models import DeliveryState, InboundDelivery
from customers.identity import IdentityClaim
from omniservice import realtime
from omniservice.celery import app as celery_app
from omniservice.errors import DomainError
from tests.channels_hub.test_whatsapp import APP_SECRET, PHONE_ID, post_signed, text_payload
from tickets.attachments import UploadedContent
from tickets.models import Channel, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection(make_connection):
    return make_connection(
        Channel.WHATSAPP,
        secrets={"app_secret": APP_SECRET, "access_token": "t", "verify_token": "v"},
        phone_number_id=PHONE_ID,
    )


@pytest.fixture
def queued(monkeypatch):
    """Production mode: the webhook hands over to a worker; drains are recorded."""
    monkeypatch.setattr(celery_app.conf, "task_always_eager", False)
    scheduled = []
    monkeypatch.setattr(
        inbox.thread_pending_deliveries,
        "apply_async",
        lambda args=None, kwargs=None, **options: scheduled.append(kwargs),
    )
    return scheduled


def test_the_webhook_stores_the_message_for_the_worker_and_answers(
    client, connection, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_signed(client, connection, text_payload(message_id="wamid.one"))

    assert response.status_code == 200
    assert not Message.objects.exists()  # not threaded yet
    delivery = InboundDelivery.objects.get()
    assert (delivery.channel, delivery.external_id) == (Channel.WHATSAPP, "wamid.one")
    assert delivery.state == DeliveryState.PENDING
    assert abs(timezone.now() - delivery.received_at) < timedelta(seconds=30)
    assert delivery.connection_id == connection.pk
    assert delivery.payload["text"] == "Hello, is my order shipped?"
    assert queued == [{"marker": True}]

    assert inbox.thread_pending_deliveries(marker=True) == 1

    message = Message.objects.get()
    assert message.external_id == "wamid.one"
    assert message.ticket.customer.name == "Sheena Nelson"
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DONE
    assert delivery.message_id == message.pk
    assert delivery.payload == {}  # the ticket keeps the text; the inbox forgets it
    assert delivery.processed_at is not None


def test_one_drain_waits_for_a_worker_however_many_webhooks_arrive(
    client, connection, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            post_signed(client, connection, text_payload(message_id=f"wamid.{n}"))

    assert queued == [{"marker": True}]
    inbox.thread_pending_deliveries(marker=True)
    assert Message.objects.count() == 3
    with django_capture_on_commit_callbacks(execute=True):  # the drain freed the marker
        post_signed(client, connection, text_payload(message_id="wamid.later"))
    assert len(queued) == 2


def test_a_provider_retry_is_refused_at_the_door_before_and_after_threading(
    client, connection, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = post_signed(client, connection, text_payload(message_id="wamid.again"))
        retry = post_signed(client, connection, text_payload(message_id="wamid.again"))
    inbox.thread_pending_deliveries(marker=True)
    with django_capture_on_commit_callbacks(execute=True):
        late_retry = post_signed(client, connection, text_payload(message_id="wamid.again"))

    assert [first.status_code, retry.status_code, late_retry.status_code] == [200, 200, 200]
    assert InboundDelivery.objects.count() == 1
    assert Message.objects.filter(external_id="wamid.again").count() == 1
    assert len(queued) == 1  # nothing new to thread: no drain for the retries


def test_a_message_threaded_meanwhile_is_not_stored_twice(client, connection, queued):
    post_signed(client, connection, text_payload(message_id="wamid.raced"))
    row = InboundDelivery.objects.get()
    inbox.ingest_message(inbox.from_payload(row.payload))  # e.g. a worker whose lease ran out

    drained = inbox.thread_batch()

    assert (drained.threaded, drained.duplicates) == (0, 1)
    assert Message.objects.filter(external_id="wamid.raced").count() == 1
    row.refresh_from_db()
    assert row.state == DeliveryState.DONE


def test_an_error_keeps_the_row_with_a_growing_delay_then_fails_it_for_good(
    client, connection, queued, monkeypatch, caplog
):
    post_signed(client, connection, text_payload(message_id="wamid.broken"))

    def broken(inbound, *, store=None):
        raise RuntimeError("database fell over")

    monkeypatch.setattr(inbox, "ingest_message", broken)
    drained = inbox.thread_batch()

    assert drained.retried == 1
    row = InboundDelivery.objects.get()
    assert row.state == DeliveryState.PENDING
    assert row.attempts == 1
    assert row.last_error == "RuntimeError: database fell over"
    assert row.available_at > timezone.now()
    assert inbox.thread_batch().claimed == 0  # not due yet

    InboundDelivery.objects.update(attempts=inbox.MAX_ATTEMPTS - 1, available_at=None)
    with caplog.at_level(logging.ERROR, logger="channels_hub.inbox"):
        drained = inbox.thread_batch()
    assert drained.failed == 1
    row.refresh_from_db()
    assert row.state == DeliveryState.FAILED
    assert row.payload["external_id"] == "wamid.broken"  # kept for a replay
    assert "failed for good" in caplog.text
    assert not Message.objects.exists()


def test_a_manager_replays_failed_deliveries_from_the_admin(
    client, connection, queued, rf, personas
):
    post_signed(client, connection, text_payload(message_id="wamid.replay"))
    InboundDelivery.objects.update(state=DeliveryState.FAILED, attempts=inbox.MAX_ATTEMPTS)
    admin = site._registry[InboundDelivery]
    request = rf.post("/admin/")
    request.user = personas.manager
    request._messages = _Messages()

    admin.retry_deliveries(request, InboundDelivery.objects.all())

    row = InboundDelivery.objects.get()
    assert (row.state, row.attempts) == (DeliveryState.PENDING, 0)
    assert request._messages.texts == ["1 delivery will be threaded again."]
    inbox.thread_pending_deliveries(marker=True)
    assert Message.objects.filter(external_id="wamid.replay").exists()


class _Messages:
    def __init__(self):
        self.texts = []

    def add(self, level, message, extra_tags=""):
        self.texts.append(str(message))


def test_unusable_content_is_dropped_with_its_reason_logged(
    client, connection, queued, monkeypatch, caplog
):
    post_signed(client, connection, text_payload(message_id="wamid.toolong"))

    def refuse(inbound, *, store=None):
        raise DomainError("too long", code="message_too_long")

    monkeypatch.setattr(inbox, "ingest_message", refuse)
    with caplog.at_level(logging.WARNING, logger="channels_hub.inbox"):
        drained = inbox.thread_batch()

    assert drained.dropped == 1
    row = InboundDelivery.objects.get()
    assert (row.state, row.last_error, row.payload) == (
        DeliveryState.DROPPED,
        "message_too_long",
        {},
    )
    assert "wamid.toolong dropped: message_too_long" in caplog.text


def test_a_claimed_row_is_leased_and_not_claimed_again_until_the_lease_ends(
    client, connection, queued
):
    post_signed(client, connection, text_payload(message_id="wamid.leased"))

    assert [row.external_id for row in inbox.claim(10)] == ["wamid.leased"]
    assert inbox.claim(10) == []  # another worker finds nothing
    InboundDelivery.objects.update(available_at=timezone.now() - timedelta(seconds=1))
    assert len(inbox.claim(10)) == 1  # the first worker died: the row is free again


def test_batches_follow_arrival_order_and_the_size_setting(client, connection, queued, settings):
    settings.CHANNEL_INBOX_BATCH = 2
    for n in range(5):
        post_signed(client, connection, text_payload(message_id=f"wamid.order{n}", body=f"m{n}"))

    assert inbox.thread_batch().claimed == 2
    assert inbox.thread_pending_deliveries() == 3
    texts = list(Message.objects.order_by("pk").values_list("body_text", flat=True))
    assert texts == ["m0", "m1", "m2", "m3", "m4"]


def test_the_sweep_purges_old_handled_rows_and_drains_the_rest(client, connection, queued):
    post_signed(client, connection, text_payload(message_id="wamid.old"))
    inbox.thread_batch()
    InboundDelivery.objects.update(received_at=timezone.now() - timedelta(days=4))
    post_signed(client, connection, text_payload(message_id="wamid.new"))

    assert inbox.sweep_inbox() == 1

    assert list(InboundDelivery.objects.values_list("external_id", "state")) == [
        ("wamid.new", DeliveryState.DONE)
    ]


def test_the_stored_form_keeps_every_field_of_the_message():
    message = InboundMessage(
        channel=Channel.WECHAT,
        external_id="6000000000000000001",
        identities=[
            IdentityClaim("wechat_openid", "oAbc", False),
            IdentityClaim("phone", "+86", True),
        ],
        text="图片",
        html="<p>图片</p>",
        subject="subject",
        attachments=[
            UploadedContent(
                filename="a.png", content=b"\x89PNG\x00", content_type="image/png", sha256="ab"
            )
        ],
        profile={"name": "王芳", "nickname": "芳"},
        store_code="SH01",
        media=[MediaRef(ref="media-1", filename="wechat-1.jpg")],
    )

    assert inbox.from_payload(inbox.to_payload(message)) == message


def test_events_of_a_batch_leave_together_and_a_rolled_back_one_never(
    monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(realtime, "_send_many", lambda prepared: sent.append(list(prepared)))
    monkeypatch.setattr(realtime, "_send", lambda *args: pytest.fail("sent alone"))

    with django_capture_on_commit_callbacks(execute=True), realtime.coalesced():
        with transaction.atomic():
            realtime.publish(["team.1"], "first", {"n": 1})
        try:
            with transaction.atomic():
                realtime.publish(["team.1"], "rolled_back", {"n": 2})
                raise RuntimeError
        except RuntimeError:
            pass
        with transaction.atomic():
            realtime.publish_many([(["team.2"], "third", {"n": 3})])

    assert len(sent) == 1
    assert [(targets, kind) for targets, kind, _id, _data in sent[0]] == [
        (["team.1"], "first"),
        (["team.2"], "third"),
    ]


def test_a_slow_batch_sends_its_live_events_as_it_goes_not_at_its_end(
    client, connection, queued, monkeypatch, django_capture_on_commit_callbacks
):
    """Live events leave every LIVE_FLUSH_SECONDS: with no time allowed, one flush per
    message; with plenty, one flush for the whole batch."""
    for n in range(3):
        post_signed(client, connection, text_payload(message_id=f"wamid.f{n}"))
    flushes = []
    monkeypatch.setattr(realtime, "_send_many", lambda prepared: flushes.append(len(prepared)))
    monkeypatch.setattr(inbox, "LIVE_FLUSH_SECONDS", 0)

    with django_capture_on_commit_callbacks(execute=True):
        inbox.thread_batch()

    assert len(flushes) == 3 and all(flushes)
    for n in range(3, 6):
        post_signed(client, connection, text_payload(message_id=f"wamid.f{n}"))
    flushes.clear()
    monkeypatch.setattr(inbox, "LIVE_FLUSH_SECONDS", 60)

    with django_capture_on_commit_callbacks(execute=True):
        inbox.thread_batch()

    assert len(flushes) == 1


def test_the_webhook_sees_a_saved_connection_change_at_once_with_snapshots(
    client, connection, settings
):
    """Webhooks read connections from a per-process snapshot; saving one rebuilds it."""
    settings.CONFIG_SNAPSHOTS = True
    assert post_signed(client, connection, text_payload(message_id="wamid.s1")).status_code == 200

    connection.set_secrets({**connection.secrets, "app_secret": "rotated"})
    connection.save()
    old_secret = post_signed(client, connection, text_payload(message_id="wamid.s2"))
    new_secret = post_signed(
        client, connection, text_payload(message_id="wamid.s3"), secret="rotated"
    )
    connection.is_active = False
    connection.save()
    inactive = post_signed(
        client, connection, text_payload(message_id="wamid.s4"), secret="rotated"
    )

    assert (old_secret.status_code, new_secret.status_code) == (401, 200)
    assert inactive.status_code == 404
    assert set(Message.objects.values_list("external_id", flat=True)) == {"wamid.s1", "wamid.s3"}
