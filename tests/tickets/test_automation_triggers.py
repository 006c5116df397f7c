"""Automation, one piece at a time: which event runs which rules, each action alone, the
time rules' beat schedule, managers-only rule services, and list pages whose query count
does not grow with the number of rules or macros."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.identity import IdentityClaim
from customers.models import IdentityKind
from omniservice.celery import app as celery_app
from omniservice.errors import DomainError
from omniservice.org.models import Role
from omniservice.outbox.models import OutboxMessage
from tests.factories import (
    AutomationRuleFactory,
    AutomationWebhookFactory,
    CustomerFactory,
    IdentityFactory,
    MacroFactory,
    StaffProfileFactory,
    StoreFactory,
    TeamFactory,
    TicketFactory,
)
from tickets import services
from tickets.automation import rules as rule_services
from tickets.automation import tasks
from tickets.automation.actions import NOTIFICATION_EVENT, WEBHOOK_TOPIC
from tickets.automation.conditions import Facts, prefilter, rule_matches
from tickets.automation.engine import forget_active_triggers
from tickets.models import (
    AuthorKind,
    AutomationRule,
    AutomationRun,
    Direction,
    Message,
    RunOutcome,
    Ticket,
)

pytestmark = pytest.mark.django_db

PHONE = "+8613800003333"


@pytest.fixture
def committing(django_capture_on_commit_callbacks):
    def block():
        return django_capture_on_commit_callbacks(execute=True)

    return block


def make_rule(**kwargs) -> AutomationRule:
    rule = AutomationRuleFactory(**kwargs)
    forget_active_triggers()
    return rule


def inbound(text: str, *, phone: str = PHONE, channel: str = "wechat"):
    return services.thread_inbound_message(
        channel=channel,
        external_id=None,
        identities=[IdentityClaim(IdentityKind.PHONE, phone)],
        text=text,
    )


def fresh(ticket) -> Ticket:
    return Ticket.objects.get(pk=ticket.pk)


def applied(rule) -> int:
    return AutomationRun.objects.filter(rule=rule, outcome=RunOutcome.APPLIED).count()


# --- which event runs which rules -------------------------------------------------------


def test_a_created_rule_runs_once_on_the_new_ticket_and_not_on_later_changes(committing):
    rule = make_rule(events=["created"], actions=[{"action": "add_tags", "value": "new"}])
    with committing():
        ticket = inbound("hello").ticket
    assert applied(rule) == 1
    assert AutomationRun.objects.get(rule=rule).trigger == "created"
    with committing():
        inbound("anyone there?")
        services.update_ticket(ticket=fresh(ticket), actor=None, priority="high")
    assert applied(rule) == 1


def test_an_updated_rule_runs_on_an_agent_change_and_not_on_creation(committing, personas):
    rule = make_rule(
        events=["updated"],
        conditions=[{"field": "priority", "operator": "is", "value": "urgent"}],
        actions=[{"action": "notify", "value": "managers"}],
    )
    with committing():
        ticket = inbound("hello").ticket
    assert applied(rule) == 0
    with committing():
        services.update_ticket(ticket=fresh(ticket), actor=personas.agent.user, priority="urgent")
    assert applied(rule) == 1
    run = AutomationRun.objects.get(rule=rule, matched=True)
    assert run.trigger == "updated" and run.actions_applied == ["notify=managers"]


def test_an_inbound_rule_runs_on_each_customer_message_not_on_replies_or_notes(
    committing, personas
):
    rule = make_rule(events=["inbound_message"], actions=[{"action": "add_tags", "value": "wrote"}])
    with committing():
        ticket = inbound("first").ticket
        inbound("second")
    runs = AutomationRun.objects.filter(rule=rule, matched=True)
    assert runs.count() == 2
    assert {r.event_key for r in runs} == {
        f"msg:{m.pk}" for m in Message.objects.filter(direction=Direction.INBOUND)
    }
    with committing():
        services.reply(ticket=fresh(ticket), author=personas.agent.user, text="On it")
        services.add_note(ticket=fresh(ticket), author=personas.agent.user, text="checking")
    assert runs.count() == 2


def test_a_rule_listening_to_several_events_runs_on_each(committing):
    rule = make_rule(
        events=["created", "inbound_message"],
        actions=[{"action": "add_note", "value": "seen"}],
    )
    with committing():
        inbound("hello")
    triggers = sorted(AutomationRun.objects.filter(rule=rule).values_list("trigger", flat=True))
    assert triggers == ["created", "inbound_message"]


def test_the_message_text_condition_reads_the_message_of_the_event(committing):
    rule = make_rule(
        events=["inbound_message"],
        conditions=[{"field": "message_text", "operator": "contains", "value": "退款"}],
        actions=[{"action": "add_tags", "value": "refund"}],
    )
    with committing():
        ticket = inbound("你好").ticket
        inbound("我要退款")
        inbound("谢谢")
    assert applied(rule) == 1
    assert list(fresh(ticket).tags.values_list("name", flat=True)) == ["refund"]


# --- each action alone ------------------------------------------------------------------


def _ticket_with_rule(actions, committing, *, language="zh-hans"):
    make_rule(events=["created"], actions=actions)
    customer = CustomerFactory(name="Li Lei", language=language)
    IdentityFactory(customer=customer, kind=IdentityKind.PHONE, value=PHONE)
    with committing():
        ticket = inbound("hello").ticket
    run = AutomationRun.objects.get(matched=True)
    assert run.outcome == RunOutcome.APPLIED, run.error
    return fresh(ticket), run


def test_action_set_priority_alone(committing):
    ticket, run = _ticket_with_rule([{"action": "set_priority", "value": "low"}], committing)
    assert ticket.priority == "low"
    assert (ticket.status, ticket.team_id, ticket.assignee_id) == ("new", None, None)
    assert run.actions_applied == ["priority=low"]


def test_action_set_status_alone_records_the_rule_as_reason(committing):
    ticket, run = _ticket_with_rule([{"action": "set_status", "value": "open"}], committing)
    assert (ticket.status, ticket.priority) == ("open", "normal")
    change = ticket.status_changes.get(to_status="open")
    assert change.actor_id is None and change.reason
    assert run.actions_applied == ["status=open"]


def test_action_set_team_alone(committing):
    team = TeamFactory()
    ticket, _run = _ticket_with_rule([{"action": "set_team", "value": str(team.pk)}], committing)
    assert (ticket.team_id, ticket.assignee_id, ticket.priority) == (team.pk, None, "normal")


def test_action_set_team_to_none_takes_the_ticket_off_its_team(committing):
    team = TeamFactory()
    make_rule(
        events=["updated"],
        conditions=[{"field": "priority", "operator": "is", "value": "low"}],
        actions=[{"action": "set_team", "value": ""}],
    )
    ticket = TicketFactory(status="open", team=team)
    with committing():
        services.update_ticket(ticket=ticket, actor=None, priority="low")
    assert fresh(ticket).team_id is None


def test_action_set_assignee_alone(committing):
    agent = StaffProfileFactory(role=Role.AGENT)
    ticket, run = _ticket_with_rule(
        [{"action": "set_assignee", "value": str(agent.user_id)}], committing
    )
    assert (ticket.assignee_id, ticket.team_id) == (agent.user_id, None)
    assert run.actions_applied == [f"assignee={agent.user_id}"]


def test_action_set_assignee_to_an_inactive_user_fails_the_run(committing):
    agent = StaffProfileFactory(role=Role.AGENT)
    rule = make_rule(actions=[{"action": "set_assignee", "value": str(agent.user_id)}])
    agent.user.is_active = False
    agent.user.save()
    with committing():
        ticket = inbound("hello").ticket
    assert fresh(ticket).assignee_id is None
    assert AutomationRun.objects.get(rule=rule).outcome == RunOutcome.FAILED


def test_action_add_tags_alone_keeps_existing_tags():
    make_rule(events=["updated"], actions=[{"action": "add_tags", "value": "b、c"}])
    ticket = TicketFactory(status="open")
    services.update_ticket(ticket=ticket, actor=None, tags=["a"])
    tasks.apply_event_rules(ticket.pk, "updated", "evt-add")  # as the event task runs it
    assert sorted(fresh(ticket).tags.values_list("name", flat=True)) == ["a", "b", "c"]


def test_action_remove_tags_alone_ignores_missing_tags():
    make_rule(events=["updated"], actions=[{"action": "remove_tags", "value": "A, missing"}])
    ticket = TicketFactory(status="open")
    services.update_ticket(ticket=ticket, actor=None, tags=["a", "keep"])
    tasks.apply_event_rules(ticket.pk, "updated", "evt-remove")
    assert list(fresh(ticket).tags.values_list("name", flat=True)) == ["keep"]


def test_action_add_note_alone_is_internal_and_not_delivered(committing):
    ticket, run = _ticket_with_rule(
        [{"action": "add_note", "value": "VIP: call back {{customer.name}}"}], committing
    )
    note = Message.objects.get(ticket=ticket, direction=Direction.NOTE)
    assert note.body_text == "VIP: call back Li Lei"
    assert note.author_kind == AuthorKind.SYSTEM
    assert not Message.objects.filter(ticket=ticket, direction=Direction.OUTBOUND).exists()
    assert run.actions_applied == ["note"]


def test_action_send_macro_alone_replies_in_chinese_for_a_chinese_customer(committing):
    macro = MacroFactory()
    ticket, run = _ticket_with_rule([{"action": "send_macro", "value": str(macro.pk)}], committing)
    reply = Message.objects.get(ticket=ticket, direction=Direction.OUTBOUND)
    assert reply.body_text == f"您好 Li Lei，工单 {ticket.pk} 已处理。"
    assert reply.channel == "wechat" and reply.author_kind == AuthorKind.SYSTEM
    assert run.actions_applied == [f"macro={macro.pk}"]


def test_action_send_macro_refuses_a_personal_macro(committing):
    owner = StaffProfileFactory(role=Role.AGENT)
    macro = MacroFactory(owner=owner.user)
    rule = make_rule(actions=[{"action": "send_macro", "value": str(macro.pk)}])
    with committing():
        ticket = inbound("hello").ticket
    assert AutomationRun.objects.get(rule=rule).outcome == RunOutcome.FAILED
    assert not Message.objects.filter(ticket=ticket, direction=Direction.OUTBOUND).exists()


@pytest.mark.parametrize(
    ("target", "groups"),
    [
        ("assignee", lambda t: [f"agent.{t.assignee_id}"]),
        ("ticket_team", lambda t: [f"team.{t.team_id}"]),
        ("managers", lambda t: ["managers"]),
        ("user", lambda t: [f"agent.{t.assignee_id}"]),
    ],
)
def test_action_notify_alone_publishes_to_the_chosen_group(committing, monkeypatch, target, groups):
    team = TeamFactory()
    agent = StaffProfileFactory(role=Role.AGENT, teams=[team])
    value = f"user:{agent.user_id}" if target == "user" else target
    make_rule(
        events=["updated"],
        conditions=[{"field": "priority", "operator": "is", "value": "urgent"}],
        actions=[{"action": "notify", "value": value}],
    )
    sent = []
    monkeypatch.setattr(
        "omniservice.realtime.publish", lambda g, kind, data: sent.append((g, kind, data))
    )
    ticket = TicketFactory(status="open", team=team, assignee=agent.user)
    with committing():
        services.update_ticket(ticket=ticket, actor=None, priority="urgent")
    notices = [(g, data) for g, kind, data in sent if kind == NOTIFICATION_EVENT]
    assert [g for g, _data in notices] == [groups(ticket)]
    assert notices[0][1]["ticket_id"] == ticket.pk


def test_action_notify_the_assignee_of_an_unassigned_ticket_publishes_nothing(
    committing, monkeypatch
):
    make_rule(actions=[{"action": "notify", "value": "assignee"}])
    sent = []
    monkeypatch.setattr(
        "omniservice.realtime.publish", lambda g, kind, data: sent.append((g, kind))
    )
    with committing():
        inbound("hello")
    assert not [s for s in sent if s[1] == NOTIFICATION_EVENT]
    assert AutomationRun.objects.get(matched=True).actions_applied == ["notify=-"]


def test_action_call_webhook_alone_enqueues_one_signed_delivery_per_run(committing, monkeypatch):
    hook = AutomationWebhookFactory()
    monkeypatch.setattr("omniservice.outbox.services._request_delivery", lambda pk: None)
    ticket, run = _ticket_with_rule([{"action": "call_webhook", "value": str(hook.pk)}], committing)
    message = OutboxMessage.objects.get(topic=WEBHOOK_TOPIC)
    assert message.dedupe_key == f"automation-webhook:{run.pk}:{hook.pk}"
    assert message.payload["body"]["rule"]["id"] == run.rule_id
    assert message.payload["body"]["ticket"]["number"] == ticket.pk
    assert "Li Lei" not in str(message.payload)  # no customer contact data


def test_action_call_a_disabled_webhook_fails_the_run(committing, monkeypatch):
    hook = AutomationWebhookFactory(is_active=False)
    rule = make_rule(actions=[{"action": "call_webhook", "value": str(hook.pk)}])
    with committing():
        inbound("hello")
    assert AutomationRun.objects.get(rule=rule).outcome == RunOutcome.FAILED
    assert not OutboxMessage.objects.filter(topic=WEBHOOK_TOPIC).exists()


# --- time rules on the beat schedule ----------------------------------------------------


def test_the_time_rule_sweep_is_on_the_beat_schedule():
    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if "time_rules" in e["task"]]
    assert len(entries) == 1
    assert entries[0]["task"] == "tickets.automation.tasks.sweep_time_rules"
    assert 0 < float(entries[0]["schedule"]) <= 3600
    assert entries[0]["task"] in celery_app.tasks


def test_a_time_rule_on_a_breached_sla_escalates_once(committing, monkeypatch):
    rule = make_rule(
        kind="time",
        events=[],
        conditions=[
            {"field": "sla_state", "operator": "is", "value": "breached"},
            {"field": "hours_since_update", "operator": "gt", "value": 0},
        ],
        actions=[
            {"action": "set_priority", "value": "urgent"},
            {"action": "notify", "value": "managers"},
        ],
    )
    now = timezone.now()
    late = TicketFactory(status="open", first_response_due_at=now - timedelta(minutes=5))
    on_time = TicketFactory(status="open", first_response_due_at=now + timedelta(hours=4))
    Ticket.objects.update(updated_at=now - timedelta(hours=1))
    with committing():
        assert tasks.sweep_time_rules() == 1
    assert fresh(late).priority == "urgent" and fresh(on_time).priority == "normal"
    with committing():
        tasks.sweep_time_rules()
        tasks.apply_time_rules(late.pk)
    assert applied(rule) == 1


def test_a_time_rule_for_a_store_and_tier_only_picks_matching_tickets(committing):
    store = StoreFactory()
    rule = make_rule(
        kind="time",
        events=[],
        conditions=[
            {"field": "store", "operator": "is", "value": store.pk},
            {"field": "customer_tier", "operator": "at_least", "value": "gold"},
            {"field": "hours_since_update", "operator": "gt", "value": 24},
        ],
        actions=[{"action": "add_tags", "value": "follow-up"}],
    )
    gold_here = TicketFactory(status="open", store=store, customer=CustomerFactory(tier="vip"))
    TicketFactory(status="open", store=store, customer=CustomerFactory(tier="standard"))
    TicketFactory(status="open", customer=CustomerFactory(tier="vip"))
    Ticket.objects.update(updated_at=timezone.now() - timedelta(hours=30))
    assert tasks.engine.time_rule_candidates() == [gold_here.pk]
    with committing():
        tasks.sweep_time_rules()
    assert applied(rule) == 1
    assert AutomationRun.objects.get(matched=True).ticket_id == gold_here.pk


# --- managers only, at the service too --------------------------------------------------


def _rule_fields():
    return {
        "name": "Urgent VIPs",
        "kind": "event",
        "events": ["created"],
        "match": "all",
        "conditions": [{"field": "customer_tier", "operator": "is", "value": "vip"}],
        "actions": [{"action": "set_priority", "value": "urgent"}],
    }


@pytest.mark.parametrize("who", ["agent", "store_clerk"])
def test_rule_services_refuse_anyone_but_managers(personas, who):
    actor = getattr(personas, who).user
    rule = make_rule(actions=[{"action": "set_priority", "value": "high"}])
    calls = [
        lambda: rule_services.save_rule(actor=actor, rule=None, **_rule_fields()),
        lambda: rule_services.save_rule(actor=actor, rule=rule, **_rule_fields()),
        lambda: rule_services.set_rule_active(actor=actor, rule=rule, active=False),
        lambda: rule_services.move_rule(actor=actor, rule=rule, step=1),
        lambda: rule_services.delete_rule(actor=actor, rule=rule),
    ]
    for call in calls:
        with pytest.raises(DomainError) as caught:
            call()
        assert caught.value.code == "forbidden"
    assert list(AutomationRule.objects.values_list("name", "is_active")) == [(rule.name, True)]


def test_a_manager_saves_a_rule_through_the_service(personas):
    rule = rule_services.save_rule(actor=personas.manager.user, rule=None, **_rule_fields())
    assert (rule.created_by, rule.events, rule.position) == (
        personas.manager.user,
        ["created"],
        0,
    )


# --- list pages: queries do not grow with the rows --------------------------------------


def _rules_with_lookups(count: int, team, store, agent, macro, hook) -> None:
    for n in range(count):
        AutomationRuleFactory(
            name=f"Rule {n}",
            conditions=[
                {"field": "store", "operator": "is", "value": store.pk},
                {"field": "team", "operator": "is_not", "value": team.pk},
                {"field": "sla_state", "operator": "is", "value": "at_risk"},
            ],
            actions=[
                {"action": "set_team", "value": str(team.pk)},
                {"action": "set_assignee", "value": str(agent.user_id)},
                {"action": "send_macro", "value": str(macro.pk)},
                {"action": "notify", "value": f"team:{team.pk}"},
                {"action": "call_webhook", "value": str(hook.pk)},
            ],
        )


def _count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def test_the_rule_list_costs_the_same_queries_for_3_or_30_rules_with_lookups(
    client, personas, django_assert_max_num_queries
):
    team, store, macro, hook = (
        TeamFactory(),
        StoreFactory(),
        MacroFactory(),
        AutomationWebhookFactory(),
    )
    _rules_with_lookups(3, team, store, personas.agent, macro, hook)
    client.force_login(personas.manager.user)
    url = reverse("console:automation-rules")
    few = _count_queries(client, url)
    _rules_with_lookups(27, team, store, personas.agent, macro, hook)
    many = _count_queries(client, url)
    assert many == few
    with django_assert_max_num_queries(16):
        page = client.get(url).content.decode()
    assert page.count("Rule ") >= 30 and team.name in page and store.name in page


def test_the_macro_list_costs_the_same_queries_for_3_or_30_macros(client, personas):
    def add(count):
        for n in range(count):
            MacroFactory(
                name=f"Shared {n}",
                actions=[
                    {"action": "set_status", "value": "pending"},
                    {"action": "add_tags", "value": ["x"]},
                ],
            )
            MacroFactory(name=f"Mine {n}", owner=personas.agent.user)
            MacroFactory(name=f"Theirs {n}", owner=personas.teammate.user)

    add(3)
    client.force_login(personas.agent.user)
    url = reverse("console:macros")
    few = _count_queries(client, url)
    add(27)
    many = _count_queries(client, url)
    assert many == few
    page = client.get(url).content.decode()
    assert "Theirs" not in page and page.count("Mine ") == 30


def test_the_macro_picker_costs_the_same_queries_for_3_or_30_macros(client, personas):
    ticket = TicketFactory(team=personas.team_a, status="open")
    for n in range(3):
        MacroFactory(name=f"M{n}", actions=[{"action": "set_status", "value": "solved"}])
    client.force_login(personas.agent.user)
    url = reverse("console:macro-options", args=[ticket.pk])
    few = _count_queries(client, url)
    for n in range(27):
        MacroFactory(name=f"N{n}", actions=[{"action": "set_status", "value": "solved"}])
    assert _count_queries(client, url) == few


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [("is", "email", True), ("is_not", "email", False), ("is", "wechat", False)],
)
def test_the_channel_of_a_ticket_without_customer_messages_is_its_origin(operator, value, expected):
    ticket = TicketFactory(status="open", origin_channel="email", last_channel="")
    now = timezone.now()
    rows = [{"field": "channel", "operator": operator, "value": value}]
    assert rule_matches("all", rows, Facts(ticket, message=None, now=now)) is expected
    assert (
        Ticket.objects.filter(pk=ticket.pk).filter(prefilter("all", rows, now)).exists() is expected
    )


def test_an_updated_rule_ignores_messages_that_change_no_ticket_property(committing, personas):
    rule = make_rule(events=["updated"], actions=[{"action": "add_note", "value": "changed"}])
    with committing():
        ticket = inbound("hello").ticket
        services.change_status(ticket=fresh(ticket), status="open", actor=personas.agent.user)
    assert applied(rule) == 1  # the status change
    with committing():
        inbound("one more thing")
        services.reply(ticket=fresh(ticket), author=personas.agent.user, text="Sure")
        services.add_note(ticket=fresh(ticket), author=personas.agent.user, text="fyi")
    assert applied(rule) == 1
    with committing():
        services.change_status(ticket=fresh(ticket), status="solved", actor=personas.agent.user)
        inbound("it broke again")  # reopens the solved ticket: a status change
    assert applied(rule) == 3
    assert fresh(ticket).status == "open"
