"""The Celery app. Without REDIS_URL tasks run in-process (eager), so no broker is needed.

``TRANSIENT_RETRY`` is the retry policy of every task: a database or broker hiccup
(connection lost, deadlock victim, serialization failure) is retried with exponential
backoff and jitter, a few times; any other error is a bug and fails at once. Tasks are
idempotent, so a retry or a redelivery after a lost worker (``acks_late``) is harmless.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omniservice.settings")

app = Celery("omniservice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    BrokerError,
    ConnectionError,
    TimeoutError,
)
TRANSIENT_RETRY: dict[str, Any] = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 6,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
}


def tasks_run_in_process() -> bool:
    """True when ``delay()`` runs the task at once in this process (no broker: the quick
    start, the test suite): work meant for a worker may then be done inline."""
    return bool(app.conf.task_always_eager)
