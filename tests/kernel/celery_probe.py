"""Probe tasks for the Celery tests, loaded into a real worker with ``-I``.

They count in the Django cache: Redis when ``REDIS_URL`` is set (shared by the test
process and the worker), local memory in the embedded mode.
"""

from __future__ import annotations

import os
import signal

from celery import shared_task
from django.core.cache import cache

from omniservice.celery import TRANSIENT_RETRY

TIMEOUT = 600


def bump(key: str) -> int:
    cache.add(key, 0, timeout=TIMEOUT)
    return cache.incr(key)


@shared_task(
    name="tests.kernel.celery_probe.flaky",
    **{**TRANSIENT_RETRY, "retry_backoff": 1, "retry_backoff_max": 2},
)
def flaky(key: str, failures: int) -> int:
    """Fails with a transient error ``failures`` times, then records its attempt count."""
    attempt = bump(f"{key}:attempts")
    if attempt <= failures:
        raise ConnectionError(f"attempt {attempt} fails on purpose")
    cache.set(f"{key}:done", attempt, timeout=TIMEOUT)
    return attempt


@shared_task(name="tests.kernel.celery_probe.tick", ignore_result=True)
def tick(key: str) -> int:
    return bump(key)


@shared_task(name="tests.kernel.celery_probe.dies_once", **TRANSIENT_RETRY)
def dies_once(key: str) -> int:
    """The first attempt kills its own worker process mid-task (as the OOM killer would)."""
    attempt = bump(f"{key}:attempts")
    if attempt == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    cache.set(f"{key}:done", attempt, timeout=TIMEOUT)
    return attempt
