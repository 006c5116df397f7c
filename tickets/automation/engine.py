"""Running rules on a ticket: in order, stopping when a rule says so, logging every run.

Loop protection, in two layers:

1. While a rule's actions run, the context variable ``automation_chain`` holds the ids of
   the rules that led to this change. The ``ticket_changed`` receiver passes it on to the
   task it schedules, and a rule in the chain is skipped: a change made by a rule never
   triggers that rule again, directly or through other rules (A -> B -> A stops at A).
2. A rule applies at most ``MAX_RUNS_PER_RULE_PER_HOUR`` times per ticket per hour, for
   loops through the outside world (an auto-reply answering an auto-reply).

Idempotency: a matched run is unique per (rule, ticket, event_key); the rules of one
event run in one transaction under the ticket's row lock, so a redelivered task finds
the event's runs and does nothing. A time rule's event key is the start of its condition
period, so it fires once per ticket per period.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta

from django.core.cache import cache
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from omniservice.errors import DomainError
from omniservice.outages import REDIS_UNREACHABLE, log_outage
from tickets.automation.actions import ActionContext, apply_action
from tickets.automation.conditions import Facts, prefilter, rule_matches, with_status_since
from tickets.models import (
    AutomationRule,
    AutomationRun,
    Message,
    RuleKind,
    RunOutcome,
    RunTrigger,
    Ticket,
    TicketStatus,
)

logger = logging.getLogger(__name__)

MAX_RUNS_PER_RULE_PER_HOUR = 5
TIME_RULE_BATCH = 500
ACTIVE_TRIGGERS_CACHE_KEY = "automation:active-triggers"
ACTIVE_TRIGGERS_TTL = 60

automation_chain: contextvars.ContextVar[tuple[int, ...]] = contextvars.ContextVar(
    "automation_chain", default=()
)


@contextmanager
def acting_as(chain: Sequence[int]) -> Iterator[None]:
    token = automation_chain.set(tuple(chain))
    try:
        yield
    finally:
        automation_chain.reset(token)


def active_event_triggers() -> frozenset[str]:
    """The events some enabled rule listens to, cached so an idle install pays nothing
    (without Redis: read from the database each time)."""
    try:
        cached = cache.get(ACTIVE_TRIGGERS_CACHE_KEY)
    except REDIS_UNREACHABLE as exc:
        log_outage(logger, "automation triggers read from the database", exc)
        return frozenset(_enabled_event_triggers())
    if cached is None:
        cached = sorted(_enabled_event_triggers())
        with suppress(*REDIS_UNREACHABLE):
            cache.set(ACTIVE_TRIGGERS_CACHE_KEY, cached, ACTIVE_TRIGGERS_TTL)
    return frozenset(cached)


def _enabled_event_triggers() -> set[str]:
    events: set[str] = set()
    for listed in AutomationRule.objects.filter(is_active=True, kind=RuleKind.EVENT).values_list(
        "events", flat=True
    ):
        events.update(listed or [])
    return events


def forget_active_triggers() -> None:
    cache.delete(ACTIVE_TRIGGERS_CACHE_KEY)


def _rules_for(trigger: str) -> list[AutomationRule]:
    rules = AutomationRule.objects.filter(is_active=True).order_by("position", "id")
    if trigger == RunTrigger.TIME:
        return list(rules.filter(kind=RuleKind.TIME))
    return [rule for rule in rules.filter(kind=RuleKind.EVENT) if trigger in (rule.events or [])]


def _load(ticket_id: int) -> Ticket:
    return with_status_since(
        Ticket.objects.select_related("customer", "store", "team", "assignee")
    ).get(pk=ticket_id)


def period_start(ticket: Ticket, status_since: datetime) -> datetime:
    """A time rule's condition period: the current status, restarted by a customer message."""
    customer = ticket.last_customer_message_at
    return max(status_since, customer) if customer else status_since


def _capped(rule: AutomationRule, ticket_id: int, now: datetime) -> bool:
    recent = AutomationRun.objects.filter(
        rule=rule,
        ticket_id=ticket_id,
        matched=True,
        outcome__in=[RunOutcome.APPLIED, RunOutcome.FAILED],
        created_at__gte=now - timedelta(hours=1),
    ).count()
    return recent >= MAX_RUNS_PER_RULE_PER_HOUR


def run_rules(
    *,
    ticket_id: int,
    trigger: str,
    event_key: str = "",
    message_id: int | None = None,
    chain: Sequence[int] = (),
) -> list[AutomationRun]:
    """Evaluate the enabled rules of ``trigger`` on one ticket, in order; returns the runs."""
    rules = [rule for rule in _rules_for(trigger) if rule.pk not in set(chain)]
    if not rules:
        return []
    with transaction.atomic():
        locked = (
            Ticket.objects.select_for_update()
            .filter(pk=ticket_id)
            .values_list("merged_into_id", "status")
        )
        row = locked.first()
        if row is None or row[0] is not None or row[1] == TicketStatus.CLOSED:
            return []
        if (
            trigger != RunTrigger.TIME
            and AutomationRun.objects.filter(
                ticket_id=ticket_id, trigger=trigger, event_key=event_key
            ).exists()
        ):
            return []  # this event was handled already (a redelivered task)
        message = Message.objects.filter(pk=message_id).first() if message_id else None
        return _run(rules, ticket_id, trigger, event_key, message, tuple(chain))


def _run(
    rules: list[AutomationRule],
    ticket_id: int,
    trigger: str,
    event_key: str,
    message: Message | None,
    chain: tuple[int, ...],
) -> list[AutomationRun]:
    now = timezone.now()
    ticket = _load(ticket_id)
    facts = Facts(ticket, message=message, now=now)
    runs: list[AutomationRun] = []
    misses: list[AutomationRun] = []
    for rule in rules:
        key = event_key
        if trigger == RunTrigger.TIME:
            key = f"time:{period_start(ticket, facts.status_since).isoformat()}"
            if AutomationRun.objects.filter(
                rule=rule, ticket_id=ticket_id, event_key=key, matched=True
            ).exists():
                continue  # already fired in this condition period
        if not rule_matches(rule.match, rule.conditions, facts):
            misses.append(
                AutomationRun(
                    rule=rule,
                    ticket_id=ticket_id,
                    trigger=trigger,
                    event_key=key,
                    matched=False,
                    outcome=RunOutcome.NO_MATCH,
                )
            )
            continue
        run = _apply(rule, ticket_id, trigger, key, chain, now)
        if run is None:
            continue
        runs.append(run)
        chain = (*chain, rule.pk)  # later rules' changes were caused by this one too
        if rule.stop_processing:
            break
        if run.outcome == RunOutcome.APPLIED:
            ticket = _load(ticket_id)  # the next rules see what this one changed
            facts = Facts(ticket, message=message, now=now)
    if misses and trigger != RunTrigger.TIME:  # time sweeps would log every ticket, every run
        AutomationRun.objects.bulk_create(misses)
    return runs


def _apply(
    rule: AutomationRule,
    ticket_id: int,
    trigger: str,
    key: str,
    chain: tuple[int, ...],
    now: datetime,
) -> AutomationRun | None:
    capped = _capped(rule, ticket_id, now)
    run = AutomationRun(
        rule=rule,
        ticket_id=ticket_id,
        trigger=trigger,
        event_key=key,
        matched=True,
        outcome=RunOutcome.CAPPED if capped else RunOutcome.APPLIED,
    )
    try:
        with transaction.atomic():
            run.save()
    except IntegrityError:
        return None  # a concurrent run of the same event got there first
    if capped:
        logger.warning("automation: rule %s hit its hourly cap on ticket %s", rule.pk, ticket_id)
        return run
    applied: list[str] = []
    try:
        with transaction.atomic(), acting_as((*chain, rule.pk)):
            ctx = ActionContext(rule=rule, run=run)
            for row in rule.actions:
                applied.append(apply_action(Ticket.objects.get(pk=ticket_id), row, ctx))
    except (DomainError, ObjectDoesNotExist, ValueError) as exc:
        # The rule's changes roll back together; the run records why.
        run.outcome = RunOutcome.FAILED
        run.error = exc.text if isinstance(exc, DomainError) else str(exc)
        applied = []
        logger.info("automation: rule %s failed on ticket %s: %s", rule.pk, ticket_id, run.error)
    run.actions_applied = applied
    run.save(update_fields=["outcome", "error", "actions_applied"])
    return run


# --- time rules -------------------------------------------------------------------------


def time_rule_candidates(now: datetime | None = None, limit: int = TIME_RULE_BATCH) -> list[int]:
    """Tickets some time rule may match and that it has not fired on in this period."""
    now = now or timezone.now()
    ids: set[int] = set()
    base = with_status_since(
        Ticket.objects.filter(merged_into__isnull=True).exclude(status=TicketStatus.CLOSED)
    )
    for rule in _rules_for(RunTrigger.TIME):
        fired = AutomationRun.objects.filter(
            rule=rule,
            ticket_id=OuterRef("pk"),
            matched=True,
            created_at__gte=Greatest(
                OuterRef("status_since"),
                Coalesce(OuterRef("last_customer_message_at"), OuterRef("status_since")),
            ),
        )
        matching = base.filter(prefilter(rule.match, rule.conditions, now)).filter(~Exists(fired))
        ids.update(matching.order_by("pk").values_list("pk", flat=True)[:limit])
    return sorted(ids)[:limit]


def run_time_rules(ticket_id: int) -> list[AutomationRun]:
    return run_rules(ticket_id=ticket_id, trigger=RunTrigger.TIME)
