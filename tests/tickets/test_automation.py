"""Automation rules: each condition and action, ordering and stop, the run log, loop
protection, idempotent tasks and time rules that fire once per ticket per period."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.identity import IdentityClaim
from customers.models import IdentityKind
from omniservice.org.models import Role
from omniservice.outbox.models import OutboxMessage
from tests.factories import (
    AutomationRuleFactory,
    AutomationWebhookFactory,
    CustomerFactory,
    IdentityFactory,
    MacroFactory,
    MessageFactory,
    StaffProfileFactory,
    StoreFactory,
    TeamFactory,
    TicketFactory,
)
from tickets import services
from tickets.automation import tasks
from tickets.automation.actions import NOTIFICATION_EVENT, WEBHOOK_TOPIC
from tickets.automation.conditions import (
    Facts,
    SlaState,
    detect_language,
    prefilter,
    rule_matches,
    sla_state,
    with_status_since,
)
from tickets.automation.engine import MAX_RUNS_PER_RULE_PER_HOUR, forget_active_triggers
from tickets.models import (
    AuthorKind,
    AutomationRun,
    Direction,
    Message,
    RunOutcome,
    Survey,
    Ticket,
    TicketStatus,
    TicketStatusChange,
)

pytestmark = pytest.mark.django_db

PHONE = "+8613800001111"


def make_rule(**kwargs):
    rule = AutomationRuleFactory(**kwargs)
    forget_active_triggers()
    return rule


def inbound(text, *, channel="wechat", phone=PHONE, store=None):
    return services.thread_inbound_message(
        channel=channel,
        external_id=None,
        identities=[IdentityClaim(IdentityKind.PHONE, phone)],
        text=text,
        store=store,
    )


def fresh(ticket) -> Ticket:
    return Ticket.objects.get(pk=ticket.pk)


@pytest.fixture
def committing(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (and the eager tasks they start) at the end of the block."""

    def block():
        return django_capture_on_commit_callbacks(execute=True)

    return block


# --- the headline rule ------------------------------------------------------------------


def test_vip_writing_on_wechat_about_a_refund_is_urgent_and_goes_to_the_vip_team(committing):
    vip_team = TeamFactory(slug="vip")
    customer = CustomerFactory(tier="vip", name="王先生")
    IdentityFactory(customer=customer, kind=IdentityKind.PHONE, value=PHONE)
    rule = make_rule(
        events=["inbound_message"],
        conditions=[
            {"field": "customer_tier", "operator": "is", "value": "vip"},
            {"field": "channel", "operator": "is", "value": "wechat"},
            {"field": "message_text", "operator": "contains", "value": "refund, 退款"},
        ],
        actions=[
            {"action": "set_priority", "value": "urgent"},
            {"action": "set_team", "value": str(vip_team.pk)},
        ],
    )
    with committing():
        result = inbound("我要退款，订单还没到")
    ticket = fresh(result.ticket)
    assert (ticket.priority, ticket.team_id) == ("urgent", vip_team.pk)
    run = AutomationRun.objects.get(rule=rule)
    assert run.trigger == "inbound_message" and run.matched
    assert run.outcome == RunOutcome.APPLIED
    assert run.actions_applied == ["priority=urgent", f"team={vip_team.pk}"]
    assert run.event_key == f"msg:{result.message.pk}"


def test_the_same_rule_leaves_a_standard_customer_alone_and_logs_the_miss(committing):
    make_rule(
        events=["inbound_message"],
        conditions=[{"field": "customer_tier", "operator": "is", "value": "vip"}],
        actions=[{"action": "set_priority", "value": "urgent"}],
    )
    with committing():
        result = inbound("refund please")
    assert fresh(result.ticket).priority == "normal"
    run = AutomationRun.objects.get()
    assert (run.matched, run.outcome, run.actions_applied) == (False, "no_match", [])


# --- conditions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("我的订单还没有到", "zh-hans"),
        ("Hi, 我想退款", "zh-hans"),
        ("订单 order 12345 没收到", "zh-hans"),
        ("Where is my order?", "en"),
        ("Where is my order 订单", "en"),
        ("12345 !!!", ""),
        ("", ""),
    ],
)
def test_message_language_is_told_by_the_share_of_chinese_characters(text, language):
    assert detect_language(text) == language


def _ticket_for_conditions():
    store, team = StoreFactory(), TeamFactory()
    customer = CustomerFactory(tier="gold")
    ticket = TicketFactory(
        customer=customer,
        store=store,
        team=team,
        status="open",
        priority="high",
        origin_channel="email",
        last_channel="whatsapp",
    )
    services.update_ticket(ticket=ticket, actor=None, tags=["Refund", "late"])
    MessageFactory(ticket=ticket, body_text="Where is my REFUND?", channel="whatsapp")
    return store, team, fresh(ticket)


CASES = [
    ("channel", "is", "whatsapp", True),
    ("channel", "is", "email", False),
    ("channel", "is_not", "email", True),
    ("message_text", "contains", "parcel, refund", True),
    ("message_text", "contains", "退款", False),
    ("message_text", "not_contains", "退款", True),
    ("message_language", "is", "en", True),
    ("message_language", "is_not", "en", False),
    ("customer_tier", "is", "gold", True),
    ("customer_tier", "is_not", "gold", False),
    ("customer_tier", "at_least", "silver", True),
    ("customer_tier", "at_least", "vip", False),
    ("tag", "has", "refund", True),
    ("tag", "has", "vip", False),
    ("tag", "has_not", "vip", True),
    ("status", "is", "open", True),
    ("status", "is_not", "open", False),
    ("priority", "is", "high", True),
    ("priority", "at_least", "urgent", False),
    ("priority", "at_least", "normal", True),
    ("hours_since_update", "lt", 1, True),
    ("hours_since_update", "gt", 1, False),
    ("hours_in_status", "lt", 1, True),
    ("hours_in_status", "gt", 1, False),
    ("sla_state", "is", "none", True),
    ("sla_state", "is_not", "none", False),
]


@pytest.mark.parametrize(("field", "operator", "value", "expected"), CASES)
def test_each_condition_in_python_and_in_the_database_prefilter(field, operator, value, expected):
    _store, _team, ticket = _ticket_for_conditions()
    now = timezone.now()
    conditions = [{"field": field, "operator": operator, "value": value}]
    loaded = with_status_since(Ticket.objects.select_related("customer")).get(pk=ticket.pk)
    assert rule_matches("all", conditions, Facts(loaded, message=None, now=now)) is expected
    in_db = (
        with_status_since(Ticket.objects.filter(pk=ticket.pk))
        .filter(prefilter("all", conditions, now))
        .exists()
    )
    if field.startswith("message_"):
        assert in_db  # not expressible in SQL: the prefilter leaves it open
    else:
        assert in_db is expected


@pytest.mark.parametrize("operator", ["is", "is_not"])
def test_store_and_team_conditions_compare_ids_and_none(operator):
    store, team, ticket = _ticket_for_conditions()
    facts = Facts(ticket, message=None, now=timezone.now())
    expected = operator == "is"
    for field, value in (("store", store.pk), ("team", team.pk)):
        row = {"field": field, "operator": operator, "value": value}
        assert rule_matches("all", [row], facts) is expected
    nobody = {"field": "team", "operator": operator, "value": None}
    assert rule_matches("all", [nobody], facts) is not expected


def test_match_all_needs_every_condition_and_match_any_one():
    _store, _team, ticket = _ticket_for_conditions()
    facts = Facts(ticket, message=None, now=timezone.now())
    rows = [
        {"field": "priority", "operator": "is", "value": "high"},
        {"field": "channel", "operator": "is", "value": "sms"},
    ]
    assert not rule_matches("all", rows, facts)
    assert rule_matches("any", rows, facts)
    assert rule_matches("all", [], facts)


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        ({}, SlaState.NONE),
        ({"resolution_due_at": timedelta(hours=5)}, SlaState.OK),
        ({"first_response_due_at": timedelta(minutes=30)}, SlaState.AT_RISK),
        ({"next_response_due_at": timedelta(minutes=-1)}, SlaState.BREACHED),
        ({"resolution_due_at": timedelta(hours=5), "sla_breached_at": timedelta(0)}, "breached"),
    ],
)
def test_sla_state_is_derived_from_the_due_times(fields, state):
    now = timezone.now()
    ticket = TicketFactory(status="open", **{k: now + v for k, v in fields.items()})
    assert sla_state(ticket, now) == state
    condition = [{"field": "sla_state", "operator": "is", "value": state}]
    assert Ticket.objects.filter(pk=ticket.pk).filter(prefilter("all", condition, now)).exists()


def test_an_answered_first_response_target_no_longer_counts():
    now = timezone.now()
    ticket = TicketFactory(
        status="open", first_response_due_at=now - timedelta(hours=1), first_response_at=now
    )
    assert sla_state(ticket, now) == SlaState.NONE


# --- actions ----------------------------------------------------------------------------


def _run_on_created(actions, committing, **ticket_kwargs):
    make_rule(actions=actions)
    customer = CustomerFactory(name="Li Lei", language=ticket_kwargs.pop("language", "zh-hans"))
    IdentityFactory(customer=customer, kind=IdentityKind.PHONE, value=PHONE)
    with committing():
        result = inbound("hello", **ticket_kwargs)
    return fresh(result.ticket)


def test_actions_set_priority_status_team_and_assignee(committing):
    team = TeamFactory()
    agent = StaffProfileFactory(role=Role.AGENT, teams=[team])
    ticket = _run_on_created(
        [
            {"action": "set_priority", "value": "high"},
            {"action": "set_status", "value": "pending"},
            {"action": "set_team", "value": str(team.pk)},
            {"action": "set_assignee", "value": str(agent.user_id)},
        ],
        committing,
    )
    assert (ticket.priority, ticket.status) == ("high", "pending")
    assert (ticket.team_id, ticket.assignee_id) == (team.pk, agent.user_id)
    change = TicketStatusChange.objects.filter(ticket=ticket, to_status="pending").get()
    assert change.reason.startswith("Automation rule") or "自动" in change.reason


def test_actions_add_and_remove_tags_case_insensitively(committing):
    ticket = _run_on_created(
        [
            {"action": "add_tags", "value": "VIP，refund, late"},
            {"action": "remove_tags", "value": "LATE"},
        ],
        committing,
    )
    assert sorted(ticket.tags.values_list("name", flat=True)) == ["VIP", "refund"]


def test_action_adds_an_internal_note_from_the_system_with_placeholders(committing):
    ticket = _run_on_created(
        [{"action": "add_note", "value": "Check {{customer.name}} on #{{ticket.number}}"}],
        committing,
    )
    note = Message.objects.get(ticket=ticket, direction=Direction.NOTE)
    assert note.body_text == f"Check Li Lei on #{ticket.pk}"
    assert (note.author_kind, note.author_user_id) == (AuthorKind.SYSTEM, None)


def test_action_replies_with_a_macro_in_the_customers_language(committing):
    macro = MacroFactory(actions=[{"action": "add_tags", "value": ["auto-replied"]}])
    ticket = _run_on_created(
        [{"action": "send_macro", "value": str(macro.pk)}], committing, language="en"
    )
    reply = Message.objects.get(ticket=ticket, direction=Direction.OUTBOUND)
    assert reply.body_text == f"Hello Li Lei, ticket {ticket.pk} is done."
    assert reply.author_kind == AuthorKind.SYSTEM
    assert reply.delivery_status in ("queued", "sent", "delivered", "failed")
    assert list(ticket.tags.values_list("name", flat=True)) == ["auto-replied"]


def test_action_notifies_a_team_with_a_thin_live_event(committing, monkeypatch):
    team = TeamFactory()
    sent = []
    monkeypatch.setattr(
        "omniservice.realtime.publish", lambda groups, kind, data: sent.append((groups, kind, data))
    )
    rule_ticket = _run_on_created([{"action": "notify", "value": f"team:{team.pk}"}], committing)
    notices = [item for item in sent if item[1] == NOTIFICATION_EVENT]
    assert len(notices) == 1
    groups, _kind, data = notices[0]
    assert groups == [f"team.{team.pk}"]
    assert set(data) == {"ticket_id", "rule_id", "rule_name"}
    assert data["ticket_id"] == rule_ticket.pk


def test_action_calls_a_webhook_through_the_outbox_without_message_text(committing, monkeypatch):
    hook = AutomationWebhookFactory()
    monkeypatch.setattr("omniservice.outbox.services._request_delivery", lambda pk: None)
    ticket = _run_on_created([{"action": "call_webhook", "value": str(hook.pk)}], committing)
    message = OutboxMessage.objects.get(topic=WEBHOOK_TOPIC)
    assert message.payload["webhook_id"] == hook.pk
    body = message.payload["body"]
    assert body["ticket"]["number"] == ticket.pk
    assert body["event"] == "automation.rule_matched"
    assert "hello" not in str(body)


def test_a_failing_action_rolls_the_rule_back_and_logs_the_error(committing):
    rule = make_rule(
        actions=[
            {"action": "add_tags", "value": "half-done"},
            {"action": "set_status", "value": "closed"},  # new -> closed is not allowed
        ]
    )
    with committing():
        ticket = inbound("hello").ticket
    run = AutomationRun.objects.get(rule=rule)
    assert run.outcome == RunOutcome.FAILED and run.matched
    assert run.error and run.actions_applied == []
    assert not fresh(ticket).tags.exists()


# --- ordering and stop ------------------------------------------------------------------


def test_rules_run_in_position_order_and_see_earlier_changes(committing):
    later = make_rule(
        position=2,
        conditions=[{"field": "tag", "operator": "has", "value": "first"}],
        actions=[{"action": "set_priority", "value": "urgent"}],
    )
    first = make_rule(position=1, actions=[{"action": "add_tags", "value": "first"}])
    with committing():
        ticket = inbound("hello").ticket
    assert fresh(ticket).priority == "urgent"
    runs = AutomationRun.objects.order_by("id")
    assert [r.rule_id for r in runs] == [first.pk, later.pk]


def test_a_rule_that_stops_processing_skips_the_rules_after_it(committing):
    make_rule(
        position=1, actions=[{"action": "set_priority", "value": "high"}], stop_processing=True
    )
    skipped = make_rule(position=2, actions=[{"action": "add_tags", "value": "never"}])
    with committing():
        ticket = inbound("hello").ticket
    assert fresh(ticket).priority == "high"
    assert not fresh(ticket).tags.exists()
    assert not AutomationRun.objects.filter(rule=skipped).exists()


def test_a_rule_that_stops_but_does_not_match_lets_the_next_one_run(committing):
    make_rule(
        position=1,
        conditions=[{"field": "channel", "operator": "is", "value": "sms"}],
        actions=[{"action": "set_priority", "value": "high"}],
        stop_processing=True,
    )
    make_rule(position=2, actions=[{"action": "add_tags", "value": "reached"}])
    with committing():
        ticket = inbound("hello").ticket
    assert list(fresh(ticket).tags.values_list("name", flat=True)) == ["reached"]


def test_disabled_rules_do_not_run(committing):
    make_rule(is_active=False, actions=[{"action": "set_priority", "value": "high"}])
    with committing():
        ticket = inbound("hello").ticket
    assert fresh(ticket).priority == "normal"
    assert not AutomationRun.objects.exists()


# --- loop protection --------------------------------------------------------------------


def test_a_rule_whose_actions_trigger_itself_runs_once_per_outside_change(committing):
    rule = make_rule(
        events=["updated"],
        conditions=[{"field": "status", "operator": "is", "value": "open"}],
        actions=[
            {"action": "set_status", "value": "pending"},
            {"action": "set_status", "value": "open"},
        ],
    )
    ticket = TicketFactory(status="open")
    with committing():
        services.update_ticket(ticket=ticket, actor=None, priority="high")
    assert AutomationRun.objects.filter(rule=rule, matched=True).count() == 1
    assert fresh(ticket).status == "open"


def test_two_rules_undoing_each_other_stop_after_one_round(committing):
    up = make_rule(
        events=["updated"],
        conditions=[{"field": "priority", "operator": "is", "value": "high"}],
        actions=[{"action": "set_priority", "value": "urgent"}],
    )
    down = make_rule(
        events=["updated"],
        conditions=[{"field": "priority", "operator": "is", "value": "urgent"}],
        actions=[{"action": "set_priority", "value": "high"}],
    )
    ticket = TicketFactory(status="open")
    with committing():
        services.update_ticket(ticket=ticket, actor=None, priority="high")
    applied = AutomationRun.objects.filter(outcome=RunOutcome.APPLIED)
    assert applied.filter(rule=up).count() == 1
    assert applied.filter(rule=down).count() == 1
    assert fresh(ticket).priority == "high"


def test_a_rule_applies_at_most_n_times_per_ticket_per_hour(committing):
    rule = make_rule(
        events=["inbound_message"], actions=[{"action": "add_note", "value": "Customer wrote"}]
    )
    for n in range(MAX_RUNS_PER_RULE_PER_HOUR + 2):
        with committing():
            ticket = inbound(f"message {n}").ticket
    runs = AutomationRun.objects.filter(rule=rule)
    assert runs.filter(outcome=RunOutcome.APPLIED).count() == MAX_RUNS_PER_RULE_PER_HOUR
    assert runs.filter(outcome=RunOutcome.CAPPED).count() == 2
    notes = Message.objects.filter(ticket=ticket, direction=Direction.NOTE)
    assert notes.count() == MAX_RUNS_PER_RULE_PER_HOUR


def test_a_redelivered_event_task_does_nothing_the_second_time():
    rule = make_rule(events=["updated"], actions=[{"action": "add_note", "value": "once"}])
    ticket = TicketFactory(status="open")
    assert tasks.apply_event_rules(ticket.pk, "updated", "evt-1") == 1
    assert tasks.apply_event_rules(ticket.pk, "updated", "evt-1") == 0
    assert AutomationRun.objects.filter(rule=rule).count() == 1
    assert Message.objects.filter(ticket=ticket, direction=Direction.NOTE).count() == 1


def test_without_enabled_rules_a_ticket_change_schedules_no_task(committing, monkeypatch):
    make_rule(is_active=False, actions=[{"action": "add_note", "value": "x"}])
    scheduled = []
    monkeypatch.setattr(
        tasks.apply_event_rules, "apply_async", lambda *a, **k: scheduled.append((a, k))
    )
    with committing():
        inbound("hello")
    assert scheduled == []
    make_rule(actions=[{"action": "add_note", "value": "x"}])
    with committing():
        inbound("hello again", phone="+8613800002222")
    assert len(scheduled) == 1


# --- time rules -------------------------------------------------------------------------


def _age(ticket, *, hours: float) -> None:
    """Pretend the ticket entered its status and was last updated ``hours`` ago."""
    past = timezone.now() - timedelta(hours=hours)
    TicketStatusChange.objects.filter(ticket=ticket).update(changed_at=past)
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=past)


def _pending_rules():
    reminder = MacroFactory(
        body_zh="{{customer.name}}，请问问题解决了吗？", body_en="Is it solved, {{customer.name}}?"
    )
    remind = make_rule(
        kind="time",
        events=[],
        position=1,
        conditions=[
            {"field": "status", "operator": "is", "value": "pending"},
            {"field": "hours_in_status", "operator": "gt", "value": 72},
        ],
        actions=[{"action": "send_macro", "value": str(reminder.pk)}],
    )
    solve = make_rule(
        kind="time",
        events=[],
        position=2,
        conditions=[
            {"field": "status", "operator": "is", "value": "pending"},
            {"field": "hours_in_status", "operator": "gt", "value": 96},
        ],
        actions=[{"action": "set_status", "value": "solved"}],
    )
    return remind, solve


def _pending_ticket(committing):
    customer = CustomerFactory(name="张三")
    IdentityFactory(customer=customer, kind=IdentityKind.PHONE, value=PHONE)
    with committing():
        ticket = inbound("在吗").ticket
        services.change_status(ticket=ticket, status="pending", actor=None)
    return ticket


def outbound_count(ticket) -> int:
    """Replies to the customer, not counting the satisfaction survey sent on solve."""
    surveys = Survey.objects.filter(ticket=ticket).values("message_id")
    return (
        Message.objects.filter(ticket=ticket, direction=Direction.OUTBOUND)
        .exclude(pk__in=surveys)
        .count()
    )


def test_pending_72h_reminds_once_then_solves_after_96h(committing):
    remind, solve = _pending_rules()
    ticket = _pending_ticket(committing)
    with committing():
        assert tasks.sweep_time_rules() == 0  # just went pending
    _age(ticket, hours=73)
    with committing():
        tasks.sweep_time_rules()
    assert outbound_count(ticket) == 1
    assert Message.objects.get(direction=Direction.OUTBOUND).body_text == "张三，请问问题解决了吗？"
    assert fresh(ticket).status == TicketStatus.PENDING
    with committing():
        assert tasks.sweep_time_rules() == 0  # fired in this period: not even a candidate
        tasks.apply_time_rules(ticket.pk)  # and a direct run is a no-op too
    assert outbound_count(ticket) == 1
    _age(ticket, hours=97)
    with committing():
        tasks.sweep_time_rules()
    assert fresh(ticket).status == TicketStatus.SOLVED
    assert outbound_count(ticket) == 1
    assert AutomationRun.objects.filter(rule=remind, matched=True).count() == 1
    assert AutomationRun.objects.filter(rule=solve, matched=True).count() == 1


def test_a_new_period_lets_a_time_rule_fire_again(committing):
    remind, _solve = _pending_rules()
    ticket = _pending_ticket(committing)
    _age(ticket, hours=80)
    with committing():
        tasks.sweep_time_rules()
    AutomationRun.objects.update(created_at=timezone.now() - timedelta(hours=100))
    with committing():
        inbound("还没好")  # the customer answers: open again, a new period
        services.change_status(ticket=ticket, status="pending", actor=None)
    Ticket.objects.filter(pk=ticket.pk).update(
        last_customer_message_at=timezone.now() - timedelta(hours=80)
    )
    _age(ticket, hours=80)
    with committing():
        tasks.sweep_time_rules()
    assert AutomationRun.objects.filter(rule=remind, matched=True).count() == 2
    assert outbound_count(ticket) == 2


def test_time_rules_never_touch_closed_or_merged_tickets(committing):
    _pending_rules()
    closed = TicketFactory(status="closed")
    _age(closed, hours=200)
    assert tasks.sweep_time_rules() == 0
