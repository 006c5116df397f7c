"""Celery tasks of automation: small, idempotent, taking ids (see ``engine`` for why)."""

from __future__ import annotations

from celery import shared_task

from omniservice.celery import TRANSIENT_RETRY
from tickets.automation import engine


@shared_task(**TRANSIENT_RETRY)
def apply_event_rules(
    ticket_id: int,
    trigger: str,
    event_key: str,
    message_id: int | None = None,
    chain: list[int] | None = None,
) -> int:
    runs = engine.run_rules(
        ticket_id=ticket_id,
        trigger=trigger,
        event_key=event_key,
        message_id=message_id,
        chain=chain or [],
    )
    return len(runs)


@shared_task(**TRANSIENT_RETRY)
def apply_time_rules(ticket_id: int) -> int:
    return len(engine.run_time_rules(ticket_id))


@shared_task(**TRANSIENT_RETRY)
def sweep_time_rules() -> int:
    """Periodic: hand every ticket a time rule may fire on to ``apply_time_rules``."""
    ids = engine.time_rule_candidates()
    for ticket_id in ids:
        apply_time_rules.delay(ticket_id)
    return len(ids)
