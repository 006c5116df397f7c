"""Celery without a broker: tasks' retry policy, the embedded in-process mode, and the
database beat schedule seeded from the settings without overwriting the admin's edits."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from omniservice.beat import SeededDatabaseScheduler, seed_periodic_tasks
from omniservice.celery import app as celery_app
from tests.kernel import celery_probe

celery_app.loader.import_default_modules()  # what a worker does at start: register every task

APPS = ("omniservice.", "customers.", "knowledge.", "tickets.", "analytics.", "channels_hub.")
# Every task of the project, whoever adds it, follows the policy (test probes excluded).
PROJECT_TASKS = sorted(name for name in celery_app.tasks if name.startswith(APPS))


def test_the_known_tasks_are_registered():
    assert {
        "omniservice.outbox.tasks.deliver_outbox_message",
        "omniservice.outbox.tasks.sweep_outbox",
        "omniservice.api.tasks.purge_idempotency_records",
        "tickets.surveys.tasks.send_nps_surveys",
        "channels_hub.inbox.thread_pending_deliveries",
        "channels_hub.inbox.sweep_inbox",
        "channels_hub.phone_calls.write_call_to_ticket",
    } <= set(PROJECT_TASKS)


def test_a_worker_reserves_one_task_at_a_time():
    assert celery_app.conf.worker_prefetch_multiplier == 1
    assert celery_app.conf.task_acks_late and celery_app.conf.task_reject_on_worker_lost


@pytest.mark.parametrize("name", PROJECT_TASKS)
def test_tasks_retry_transient_errors_with_backoff_and_ack_late(name):
    task = celery_app.tasks[name]

    assert OperationalError in task.autoretry_for
    assert ConnectionError in task.autoretry_for
    assert task.retry_backoff and task.retry_jitter
    assert 0 < task.max_retries <= 10
    assert task.acks_late and task.reject_on_worker_lost


def test_every_beat_entry_names_a_registered_task():
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in celery_app.tasks, name


def test_a_transient_failure_is_retried_until_it_succeeds_in_process(monkeypatch):
    monkeypatch.setattr(celery_app.conf, "task_eager_propagates", False)

    result = celery_probe.flaky.apply(args=["probe-eager", 2], throw=False)

    assert result.successful()
    assert result.get() == 3
    assert cache.get("probe-eager:attempts") == 3


def test_without_redis_tasks_run_in_process():
    assert celery_app.conf.task_always_eager
    assert celery_probe.tick.delay("probe-tick").get() == 1


@pytest.mark.django_db
def test_the_settings_schedule_seeds_the_database_once():
    created = seed_periodic_tasks(settings.CELERY_BEAT_SCHEDULE)

    assert sorted(created) == sorted(settings.CELERY_BEAT_SCHEDULE)
    sweep = PeriodicTask.objects.select_related("interval").get(name="outbox-sweep")
    assert (sweep.task, sweep.interval.every, sweep.interval.period, sweep.enabled) == (
        "omniservice.outbox.tasks.sweep_outbox",
        30,
        IntervalSchedule.SECONDS,
        True,
    )
    assert seed_periodic_tasks(settings.CELERY_BEAT_SCHEDULE) == []


@pytest.mark.django_db(transaction=True)  # the scheduler closes connections between ticks
def test_an_interval_changed_or_a_task_disabled_in_the_admin_survives_a_beat_restart():
    seed_periodic_tasks(settings.CELERY_BEAT_SCHEDULE)
    every_minute, _ = IntervalSchedule.objects.get_or_create(
        every=60, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.filter(name="outbox-sweep").update(interval=every_minute)
    PeriodicTask.objects.filter(name="nps-surveys").update(enabled=False)

    scheduler = SeededDatabaseScheduler(app=celery_app)  # what `celery beat` builds at start

    sweep = PeriodicTask.objects.select_related("interval").get(name="outbox-sweep")
    assert sweep.interval.every == 60
    assert not PeriodicTask.objects.get(name="nps-surveys").enabled
    assert "outbox-sweep" in scheduler.schedule
    assert "nps-surveys" not in scheduler.schedule
    assert scheduler.schedule["outbox-sweep"].schedule.run_every.total_seconds() == 60


def test_beat_uses_the_seeded_database_scheduler():
    assert settings.CELERY_BEAT_SCHEDULER == "omniservice.beat:SeededDatabaseScheduler"
    assert celery_app.conf.beat_scheduler == settings.CELERY_BEAT_SCHEDULER
