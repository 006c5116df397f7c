"""The Celery app. Without REDIS_URL tasks run in-process (eager), so no broker is needed.

``TRANSIENT_RETRY`` is the retry policy of every task: a database or broker hiccup
(connection lost, deadlock victim, serialization failure) is retried with exponential
backoff and jitter, a few times; any other error is a bug and fails at once. Tasks are
idempotent, so a retry or a redelivery after a lost worker (``acks_late``) is harmless.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

from celery import Celery, Task
from django.core.cache import cache
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError

from omniservice.outages import REDIS_UNREACHABLE, log_outage

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omniservice.settings")

logger = logging.getLogger(__name__)

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


def queue_task(task: Task, /, **kwargs: Any) -> bool:
    """Queue ``task`` without waiting on a broker that is down (no publish retries, which
    would hold the caller for seconds). False, with a warning at most every half-minute,
    when the broker is unreachable: the caller does the work itself or leaves it to its
    periodic sweep."""
    try:
        task.apply_async(kwargs=kwargs, retry=False)
    except REDIS_UNREACHABLE as exc:
        log_outage(logger, f"{task.name} not queued", exc)
        return False
    return True


def queue_or_run(task: Task, /, **kwargs: Any) -> None:
    """Queue ``task``; when the broker is unreachable, run it here and now (for work that
    no periodic sweep would find later)."""
    if not queue_task(task, **kwargs):
        task(**kwargs)


def queue_unless_waiting(
    task: Task, /, *, waiting_marker: str, marker_seconds: int, **kwargs: Any
) -> None:
    """Queue ``task`` unless a run marked ``waiting_marker`` already waits for a worker
    (it will see the caller's work: the task deletes the marker when it starts). The
    timeout bounds what a lost task holds up; without Redis nothing is queued, and the
    work waits for the task's periodic sweep."""
    try:
        marked = cache.add(waiting_marker, 1, timeout=marker_seconds)
    except REDIS_UNREACHABLE as exc:
        log_outage(logger, f"{task.name} not queued", exc)
        return
    if marked and not queue_task(task, **kwargs):
        with contextlib.suppress(*REDIS_UNREACHABLE):  # the next caller tries again
            cache.delete(waiting_marker)
