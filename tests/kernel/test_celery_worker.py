"""Celery for real: a ``celery -A omniservice worker`` (and ``beat``) subprocess on
PostgreSQL + Redis, started with the same command as ``make worker`` / ``make beat`` and
the docker-compose services.

Skipped without PostgreSQL (DATABASE_URL) and Redis (REDIS_URL). The test process sends
through the broker (eager mode off); the worker uses the test database. Waiting is a
bounded poll of the database or the cache: there is no other way to see another process
finish.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from omniservice.celery import app as celery_app
from tests.factories import TicketFactory
from tests.kernel import celery_probe
from tickets.models import Channel, DeliveryStatus, Survey, TicketStatus
from tickets.services import change_status

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))
START_TIMEOUT = 60
RUN_TIMEOUT = 60


def test_database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{credentials}@{host}/{db['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


def wait_for(check: Callable[[], Any], timeout: float = RUN_TIMEOUT, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what or check}")


class Process:
    """A Celery subprocess with its log in a file; stopped by its own pid."""

    def __init__(self, args: list[str], log: Path) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "PYTHONPATH": str(ROOT),
        }
        self.log = log
        self._file = log.open("wb")
        self.proc = subprocess.Popen(  # noqa: S603 - our own command line
            [CELERY, "-A", "omniservice", *args],
            cwd=ROOT,
            env=env,
            stdout=self._file,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str) -> None:
        def seen() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"celery exited early:\n{self.output()}")
            return text in self.output()

        wait_for(seen, START_TIMEOUT, f"{text!r} in the celery log")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # warm shutdown: finish the running task, then exit
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._file.close()


@pytest.fixture
def through_the_broker(monkeypatch) -> None:
    monkeypatch.setattr(celery_app.conf, "task_always_eager", False)


@pytest.fixture
def worker(tmp_path, through_the_broker) -> Iterator[Process]:
    process = Process(
        [
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
            "--hostname",
            f"test-{uuid.uuid4().hex[:8]}@%h",
            "--include",
            "tests.kernel.celery_probe",
            "--without-gossip",
            "--without-mingle",
        ],
        tmp_path / "worker.log",
    )
    try:
        process.wait_for_output("ready.")
        yield process
    finally:
        process.stop()


def test_a_ticket_solved_here_gets_its_survey_from_the_worker(personas, worker):
    ticket = TicketFactory(status=TicketStatus.OPEN, last_channel=Channel.API)

    change_status(ticket=ticket, status=TicketStatus.SOLVED, actor=personas.agent.user)

    survey = wait_for(
        lambda: Survey.objects.filter(
            ticket=ticket, message__delivery_status=DeliveryStatus.SENT
        ).first(),
        what="the survey message delivered by the worker",
    )
    assert survey.message.author_kind == "system"
    assert "deliver_outbox_message" in worker.output()


def test_a_failing_then_succeeding_task_is_retried_by_the_worker(worker):
    key = f"probe-{uuid.uuid4().hex}"

    celery_probe.flaky.delay(key, 2)

    assert wait_for(lambda: cache.get(f"{key}:done"), what="the third attempt") == 3
    assert worker.output().count("retry: Retry in") == 2


def test_a_task_whose_worker_process_dies_mid_task_is_run_again(worker):
    """acks_late + reject_on_worker_lost: the message goes back to the queue, not lost."""
    key = f"probe-{uuid.uuid4().hex}"

    celery_probe.dies_once.delay(key)

    assert wait_for(lambda: cache.get(f"{key}:done"), what="the second attempt") == 2
    assert "WorkerLostError" in worker.output()


def test_beat_sends_database_scheduled_tasks_and_seeds_the_settings_schedule(tmp_path, worker):
    key = f"tick-{uuid.uuid4().hex}"
    every_second, _ = IntervalSchedule.objects.get_or_create(
        every=1, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.create(
        name=f"probe {key}",
        task="tests.kernel.celery_probe.tick",
        interval=every_second,
        args=json.dumps([key]),
    )
    beat = Process(
        [
            "beat",
            "--loglevel",
            "INFO",
            "--scheduler",
            "omniservice.beat:SeededDatabaseScheduler",
            "--max-interval",
            "1",
            "--pidfile=",
        ],
        tmp_path / "beat.log",
    )
    try:
        assert wait_for(lambda: (cache.get(key) or 0) >= 2, what="two ticks run by the worker")
    finally:
        beat.stop()
    names = set(PeriodicTask.objects.values_list("name", flat=True))
    assert set(settings.CELERY_BEAT_SCHEDULE) <= names
