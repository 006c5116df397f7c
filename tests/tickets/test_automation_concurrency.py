"""Automation under real concurrency: several threads, one connection each, racing to run
the same rules on the same ticket. PostgreSQL only (SQLite serialises writers)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import AutomationRuleFactory, MacroFactory, TicketFactory
from tests.tickets.test_concurrency import run_together
from tickets.automation import tasks
from tickets.automation.engine import forget_active_triggers
from tickets.models import AutomationRun, Direction, Message, Ticket, TicketStatusChange

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 6


def test_concurrent_time_rule_runs_remind_a_pending_ticket_once():
    reminder = MacroFactory(body_en="Still there?", body_zh="还在吗？")
    rule = AutomationRuleFactory(
        kind="time",
        events=[],
        conditions=[
            {"field": "status", "operator": "is", "value": "pending"},
            {"field": "hours_in_status", "operator": "gt", "value": 72},
        ],
        actions=[{"action": "send_macro", "value": str(reminder.pk)}],
    )
    forget_active_triggers()
    ticket = TicketFactory(status="pending")
    past = timezone.now() - timedelta(hours=80)
    TicketStatusChange.objects.create(ticket=ticket, from_status="open", to_status="pending")
    TicketStatusChange.objects.filter(ticket=ticket).update(changed_at=past)
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=past)

    results = run_together([lambda: tasks.apply_time_rules(ticket.pk)] * THREADS)

    assert sorted(results) == [0] * (THREADS - 1) + [1]
    assert AutomationRun.objects.filter(rule=rule, matched=True).count() == 1
    assert Message.objects.filter(ticket=ticket, direction=Direction.OUTBOUND).count() == 1


def test_concurrent_deliveries_of_one_event_task_apply_the_rule_once():
    rule = AutomationRuleFactory(
        events=["updated"], actions=[{"action": "add_note", "value": "escalated"}]
    )
    forget_active_triggers()
    ticket = TicketFactory(status="open")

    run_together([lambda: tasks.apply_event_rules(ticket.pk, "updated", "evt-race")] * THREADS)

    assert AutomationRun.objects.filter(rule=rule).count() == 1
    assert Message.objects.filter(ticket=ticket, direction=Direction.NOTE).count() == 1
