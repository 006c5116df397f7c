"""Celery tasks of the satisfaction surveys (importing this module also connects the
survey receivers and registers the outbox handlers of ``tickets.surveys.services``)."""

from __future__ import annotations

from celery import shared_task

from omniservice.celery import TRANSIENT_RETRY
from tickets.surveys import nps
from tickets.surveys import services as _services  # noqa: F401 - receivers, outbox handler


@shared_task(**TRANSIENT_RETRY)
def send_nps_surveys() -> int:
    """Periodic (beat entry ``nps-surveys``): NPS surveys to the customers due one.

    Idempotent: each customer is locked and re-checked against the frequency cap, so two
    overlapping runs never ask anyone twice.
    """
    return nps.send_due_nps_surveys()
