from datetime import timedelta
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone

from omniservice.outbox import services
from omniservice.outbox.handlers import PermanentFailure, register
from omniservice.outbox.models import OutboxMessage, OutboxStatus
from omniservice.outbox.tasks import deliver_outbox_message, sweep_outbox

pytestmark = pytest.mark.django_db
delivered: list[dict] = []


@register("test.effect")
def _handle_test_effect(payload: dict) -> None:
    mode = payload.get("mode", "ok")
    if mode == "fail":
        raise ConnectionError("provider timed out")
    if mode == "permanent":
        raise PermanentFailure("provider said 400: bad address")
    delivered.append(payload)


@pytest.fixture(autouse=True)
def _reset_delivered():
    delivered.clear()


def test_message_is_delivered_only_after_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = services.enqueue("test.effect", {"n": 1})
        assert delivered == []  # still inside the transaction
    message.refresh_from_db()
    assert message.status == OutboxStatus.DONE
    assert message.attempts == 1
    assert delivered == [{"n": 1}]


def test_rolled_back_transaction_leaves_no_message_and_no_effect(
    django_capture_on_commit_callbacks,
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.enqueue("test.effect", {"n": 2})
        raise RuntimeError("business rule failed")
    assert callbacks == []
    assert not OutboxMessage.objects.exists()
    assert delivered == []


def test_failed_attempt_is_retried_later_with_backoff(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = services.enqueue("test.effect", {"mode": "fail"})
    message.refresh_from_db()
    assert message.status == OutboxStatus.PENDING
    assert message.attempts == 1
    assert "timed out" in message.last_error
    assert message.available_at > timezone.now() + timedelta(seconds=3)
    assert deliver_outbox_message(message.pk) == "skipped"  # not due yet


def test_permanent_failure_gives_up_at_once(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = services.enqueue("test.effect", {"mode": "permanent"})
    message.refresh_from_db()
    assert message.status == OutboxStatus.DEAD
    assert "bad address" in message.last_error


def test_message_dies_after_the_last_attempt():
    message = OutboxMessage.objects.create(
        topic="test.effect",
        payload={"mode": "fail"},
        available_at=timezone.now(),
        attempts=services.MAX_ATTEMPTS - 1,
    )
    assert services.deliver(message.pk) == OutboxStatus.DEAD


def test_dedupe_key_records_an_effect_once(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = services.enqueue("test.effect", {"n": 3}, dedupe_key="effect-3")
        second = services.enqueue("test.effect", {"n": 3}, dedupe_key="effect-3")
    assert first.pk == second.pk
    assert OutboxMessage.objects.count() == 1
    assert delivered == [{"n": 3}]


def test_broker_outage_loses_nothing_the_sweeper_delivers(django_capture_on_commit_callbacks):
    with (
        mock.patch.object(
            deliver_outbox_message, "apply_async", side_effect=ConnectionError("redis down")
        ),
        django_capture_on_commit_callbacks(execute=True),
    ):
        message = services.enqueue("test.effect", {"n": 4})
    message.refresh_from_db()
    assert message.status == OutboxStatus.PENDING
    assert delivered == []
    assert sweep_outbox() == 1
    message.refresh_from_db()
    assert message.status == OutboxStatus.DONE
    assert delivered == [{"n": 4}]


def test_a_claimed_message_cannot_be_claimed_twice():
    message = OutboxMessage.objects.create(
        topic="test.effect", payload={}, available_at=timezone.now()
    )
    assert services.claim(message.pk) is not None
    assert services.claim(message.pk) is None


def test_sweeper_releases_the_lock_of_a_dead_worker():
    message = OutboxMessage.objects.create(
        topic="test.effect",
        payload={"n": 5},
        available_at=timezone.now(),
        status=OutboxStatus.PROCESSING,
        locked_until=timezone.now() - timedelta(seconds=1),
        attempts=1,
    )
    sweep_outbox()
    message.refresh_from_db()
    assert message.status == OutboxStatus.DONE
    assert delivered == [{"n": 5}]


def test_unknown_topic_is_kept_for_retry_not_dropped():
    message = OutboxMessage.objects.create(
        topic="nobody.handles.this", payload={}, available_at=timezone.now()
    )
    assert services.deliver(message.pk) == OutboxStatus.PENDING
    message.refresh_from_db()
    assert "no outbox handler" in message.last_error


def test_backoff_grows_and_is_capped():
    assert 4 <= services.backoff_seconds(1) <= 6
    assert 32 <= services.backoff_seconds(4) <= 48
    assert services.backoff_seconds(50) <= services.MAX_BACKOFF_SECONDS * 1.2
