"""The embedded mode keeps its schedule: without REDIS_URL a ``celery -A omniservice beat``
(the one ``make run`` starts beside the web server) runs each due periodic task itself,
in its own process (eager, no broker), against the same database.

Here a real beat subprocess sends the NPS surveys on a one-second schedule read from
the database, and the outbox delivers them inside that process. Waiting is a bounded
poll of the database: there is no other way to see another process finish.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from customers.models import Consent, ConsentPurpose, ContactChannel
from tests.factories import CustomerFactory, TicketFactory
from tickets.models import Survey, SurveyDelivery, SurveyKind

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))
TIMEOUT = 60
BEAT_OPTIONS = ["--max-interval", "1", "--pidfile="]


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_without_redis_beat_runs_the_periodic_tasks_itself(tmp_path):
    if connection.vendor == "sqlite" and str(connection.settings_dict["NAME"]).startswith(
        (":memory:", "file:memorydb")
    ):
        pytest.skip("another process cannot open an in-memory database")
    customer = CustomerFactory()
    TicketFactory(customer=customer, status="solved", solved_at=timezone.now() - timedelta(hours=1))
    Consent.objects.create(
        customer=customer,
        channel=ContactChannel.EMAIL,
        purpose=ConsentPurpose.FEEDBACK,
        granted=True,
        updated_at=timezone.now(),
    )
    every_second, _ = IntervalSchedule.objects.get_or_create(
        every=1, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.create(
        name="nps every second",
        task="tickets.surveys.tasks.send_nps_surveys",
        interval=every_second,
    )
    env = {
        k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CELERY_TASK_ALWAYS_EAGER"}
    }
    env.update({"DATABASE_URL": database_url(), "PYTHONPATH": str(ROOT)})
    log = tmp_path / "beat.log"
    with log.open("wb") as out:
        beat = subprocess.Popen(  # noqa: S603 - our own command line, as in `make run`
            [CELERY, "-A", "omniservice", "beat", "--loglevel", "INFO", *BEAT_OPTIONS],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + TIMEOUT
            survey = None
            while time.monotonic() < deadline and beat.poll() is None:
                survey = Survey.objects.filter(customer=customer).first()
                delivered = survey is not None and survey.delivery != SurveyDelivery.QUEUED
                if delivered and "succeeded" in log.read_text(errors="replace"):
                    break
                time.sleep(0.2)
        finally:
            beat.terminate()
            try:
                beat.wait(timeout=30)
            except subprocess.TimeoutExpired:
                beat.kill()
                beat.wait(timeout=10)
    output = log.read_text(errors="replace")
    assert survey is not None, f"no survey was sent:\n{output}"
    assert survey.kind == SurveyKind.NPS
    assert survey.delivery != SurveyDelivery.QUEUED, output  # delivered in the beat process
    assert "succeeded" in output  # the task ran in beat itself: there is no worker
    task = PeriodicTask.objects.get(name="nps every second")
    assert task.total_run_count >= 1
    # Run after run, the frequency cap keeps it to one survey for this customer.
    assert Survey.objects.filter(customer=customer).count() == 1
