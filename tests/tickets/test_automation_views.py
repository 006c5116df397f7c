"""Managing automation rules in the console: managers only, a usable row form, clear
errors for invalid rules, order, enable/disable, delete, and the rule's run log."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from tests.factories import AutomationRuleFactory, TicketFactory
from tickets.automation.engine import run_rules
from tickets.models import AutomationRule

pytestmark = pytest.mark.django_db

RULES = reverse("console:automation-rules")
CREATE = reverse("console:automation-rule-create")


def rule_post(**overrides):
    """A valid POST of the rule form: one condition, one action."""
    data = {
        "name": "VIP refunds",
        "description": "",
        "kind": "event",
        "events": ["created", "inbound_message"],
        "match": "all",
        "is_active": "on",
        "conditions-TOTAL_FORMS": "2",
        "conditions-INITIAL_FORMS": "0",
        "conditions-MIN_NUM_FORMS": "0",
        "conditions-MAX_NUM_FORMS": "30",
        "conditions-0-field": "customer_tier",
        "conditions-0-operator": "is",
        "conditions-0-value": "vip",
        "conditions-1-field": "message_text",
        "conditions-1-operator": "contains",
        "conditions-1-value": "refund, 退款",
        "actions-TOTAL_FORMS": "2",
        "actions-INITIAL_FORMS": "0",
        "actions-MIN_NUM_FORMS": "0",
        "actions-MAX_NUM_FORMS": "30",
        "actions-0-action": "set_priority",
        "actions-0-value": "urgent",
        "actions-1-action": "add_tags",
        "actions-1-value": "vip, refund",
    }
    data.update(overrides)
    return data


def as_user(client, profile):
    client.force_login(profile.user)
    return client


# --- permissions ------------------------------------------------------------------------


def test_agents_and_store_staff_get_403_on_every_rule_page(client, personas):
    rule = AutomationRuleFactory(actions=[{"action": "set_priority", "value": "high"}])
    pages = [
        ("get", RULES),
        ("get", CREATE),
        ("post", CREATE),
        ("get", reverse("console:automation-rule", args=[rule.pk])),
        ("get", reverse("console:automation-rule-edit", args=[rule.pk])),
        ("post", reverse("console:automation-rule-edit", args=[rule.pk])),
        ("post", reverse("console:automation-rule-toggle", args=[rule.pk])),
        ("post", reverse("console:automation-rule-move", args=[rule.pk])),
        ("post", reverse("console:automation-rule-delete", args=[rule.pk])),
    ]
    for persona in (personas.agent, personas.store_clerk):
        as_user(client, persona)
        for method, url in pages:
            data = rule_post() if method == "post" else None
            response = getattr(client, method)(url, data)
            assert response.status_code == 403, (persona, url)
    assert AutomationRule.objects.get().is_active
    assert AutomationRule.objects.get().name == rule.name


def test_anonymous_users_are_sent_to_the_login_page(client):
    response = client.get(RULES)
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_managers_see_the_nav_link_and_agents_do_not(client, personas):
    TicketFactory()
    as_user(client, personas.manager)
    assert RULES.encode() in client.get(reverse("console:inbox")).content
    as_user(client, personas.agent)
    page = client.get(reverse("console:inbox")).content
    assert RULES.encode() not in page
    assert reverse("console:macros").encode() in page


# --- list -------------------------------------------------------------------------------


def test_the_list_shows_rules_in_order_with_readable_summaries(
    client, personas, django_assert_max_num_queries
):
    for n in range(12):
        AutomationRuleFactory(
            name=f"Rule number {n}",
            position=12 - n,
            conditions=[{"field": "customer_tier", "operator": "at_least", "value": "gold"}],
            actions=[{"action": "set_priority", "value": "urgent"}],
        )
    as_user(client, personas.manager)
    with django_assert_max_num_queries(12):
        response = client.get(RULES)
    page = response.content.decode()
    assert response.status_code == 200
    assert page.index("Rule number 11") < page.index("Rule number 0")
    assert page.count("Rule number") == 12


# --- create / edit ----------------------------------------------------------------------


def test_the_empty_form_has_a_row_editor_and_the_schema(client, personas):
    as_user(client, personas.manager)
    response = client.get(CREATE)
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="conditions-template"' in page and 'id="actions-template"' in page
    assert "__prefix__" in page
    assert "automation.js" in page
    schema = json.loads(page.split('id="rule-schema" type="application/json">')[1].split("<")[0])
    assert schema["fields"]["customer_tier"]["operators"][0][0] == "is"
    assert any(value == "vip" for value, _label in schema["fields"]["customer_tier"]["choices"])


def test_a_manager_creates_a_rule_from_rows(client, personas):
    as_user(client, personas.manager)
    response = client.post(CREATE, rule_post())
    rule = AutomationRule.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("console:automation-rule", args=[rule.pk])
    assert rule.events == ["created", "inbound_message"]
    assert rule.conditions == [
        {"field": "customer_tier", "operator": "is", "value": "vip"},
        {"field": "message_text", "operator": "contains", "value": "refund, 退款"},
    ]
    assert rule.actions == [
        {"action": "set_priority", "value": "urgent"},
        {"action": "add_tags", "value": ["vip", "refund"]},
    ]
    assert rule.created_by == personas.manager.user


def test_editing_keeps_rows_and_deleted_rows_are_dropped(client, personas):
    as_user(client, personas.manager)
    client.post(CREATE, rule_post())
    rule = AutomationRule.objects.get()
    edit = reverse("console:automation-rule-edit", args=[rule.pk])
    page = client.get(edit).content.decode()
    assert 'value="refund, 退款"' in page and "vip, refund" in page
    client.post(edit, rule_post(**{"conditions-1-DELETE": "on", "name": "VIP only"}))
    rule.refresh_from_db()
    assert rule.name == "VIP only"
    assert [c["field"] for c in rule.conditions] == ["customer_tier"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"conditions-0-operator": "contains"}, "does not apply"),
        ({"conditions-0-value": "platinum"}, "Choose one of the listed values"),
        ({"conditions-1-value": ""}, "Enter the text to look for"),
        ({"actions-0-value": "whenever"}, "Choose one of the listed values"),
        ({"actions-1-value": " , "}, "Enter at least one tag"),
        ({"events": []}, "Choose at least one event"),
        ({"name": ""}, "This field is required"),
        ({"actions-0-action": "", "actions-1-action": ""}, "Add at least one action"),
        ({"kind": "time"}, "needs a waiting time"),
    ],
)
def test_invalid_rules_are_refused_with_a_clear_form_error(client, personas, overrides, message):
    as_user(client, personas.manager)
    with_english = {**rule_post(**overrides)}
    response = client.post(CREATE, with_english, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not AutomationRule.objects.exists()


def test_a_time_rule_may_not_test_the_message_text(client, personas):
    as_user(client, personas.manager)
    data = rule_post(
        kind="time",
        **{
            "conditions-0-field": "hours_in_status",
            "conditions-0-operator": "gt",
            "conditions-0-value": "72",
        },
    )
    response = client.post(CREATE, data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "only applies to rules run by a customer message" in response.content.decode()


def test_a_valid_time_rule_is_saved_without_events(client, personas):
    as_user(client, personas.manager)
    data = rule_post(
        kind="time",
        **{
            "conditions-0-field": "status",
            "conditions-0-value": "pending",
            "conditions-1-field": "hours_in_status",
            "conditions-1-operator": "gt",
            "conditions-1-value": "72",
        },
    )
    assert client.post(CREATE, data).status_code == 302
    rule = AutomationRule.objects.get()
    assert (rule.kind, rule.events) == ("time", [])
    assert rule.conditions[1] == {"field": "hours_in_status", "operator": "gt", "value": 72}


# --- order, enable, delete --------------------------------------------------------------


def test_moving_a_rule_up_and_down_renumbers_positions(client, personas):
    first, second, third = (
        AutomationRuleFactory(position=p, actions=[{"action": "add_tags", "value": ["x"]}])
        for p in (5, 9, 12)
    )
    as_user(client, personas.manager)
    client.post(reverse("console:automation-rule-move", args=[third.pk]), {"direction": "up"})
    order = list(AutomationRule.objects.order_by("position").values_list("pk", flat=True))
    assert order == [first.pk, third.pk, second.pk]
    client.post(reverse("console:automation-rule-move", args=[first.pk]), {"direction": "down"})
    order = list(AutomationRule.objects.order_by("position").values_list("pk", "position"))
    assert order == [(third.pk, 0), (first.pk, 1), (second.pk, 2)]
    bad = client.post(reverse("console:automation-rule-move", args=[first.pk]), {"direction": "x"})
    assert bad.status_code == 400


def test_toggling_disables_and_enables_a_rule(client, personas):
    rule = AutomationRuleFactory(actions=[{"action": "add_tags", "value": ["x"]}])
    as_user(client, personas.manager)
    toggle = reverse("console:automation-rule-toggle", args=[rule.pk])
    client.post(toggle)
    assert not AutomationRule.objects.get().is_active
    client.post(toggle)
    assert AutomationRule.objects.get().is_active


def test_deleting_asks_first_then_deletes(client, personas):
    rule = AutomationRuleFactory(actions=[{"action": "add_tags", "value": ["x"]}])
    as_user(client, personas.manager)
    url = reverse("console:automation-rule-delete", args=[rule.pk])
    assert client.get(url).status_code == 200
    assert AutomationRule.objects.exists()
    assert client.post(url).status_code == 302
    assert not AutomationRule.objects.exists()


# --- the run log ------------------------------------------------------------------------


def test_the_rule_page_shows_its_runs_with_outcome_and_error(
    client, personas, django_assert_max_num_queries
):
    rule = AutomationRuleFactory(
        events=["updated"],
        actions=[{"action": "set_status", "value": "closed"}],  # new -> closed: refused
    )
    tickets = [TicketFactory() for _ in range(5)]
    for ticket in tickets:
        run_rules(ticket_id=ticket.pk, trigger="updated", event_key=f"e{ticket.pk}")
    as_user(client, personas.manager)
    with django_assert_max_num_queries(10):
        response = client.get(reverse("console:automation-rule", args=[rule.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    for ticket in tickets:
        assert f"#{ticket.pk}" in page
    assert page.count("outcome-failed") == 5
    assert rule.runs.first().error in page
