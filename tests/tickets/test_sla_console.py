"""The SLA in the console: inbox badges, the ticket panel, the managers' policy page, admin."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import TicketFactory
from tests.tickets.sla_support import (
    customer_writes,
    install_clock,
    policy,
    shanghai,
    shanghai_calendar,
)
from tickets import services
from tickets.models import Ticket, TicketStatus
from tickets.models.sla import BusinessCalendar, SlaPolicy
from tickets.sla.clock import recompute
from tickets.sla.jobs import check_sla_deadlines

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch):
    return install_clock(monkeypatch)


INBOX = reverse("console:inbox")
POLICIES = reverse("console:sla-policies")
DUE = re.compile(r'data-sla-due="([^"]+)"')


def local(instant) -> str:
    return timezone.localtime(instant).isoformat()


def client_for(profile) -> Client:
    client = Client()
    client.force_login(profile.user)
    return client


def team_ticket(personas, **fields) -> Ticket:
    ticket = TicketFactory(team=personas.team_a, **fields)
    recompute(ticket)
    return Ticket.objects.get(pk=ticket.pk)


@pytest.fixture
def standard(personas):
    shanghai_calendar(personas.team_a, default=True)
    return policy(warning_minutes=20)


def test_inbox_rows_show_the_nearest_due_time(clock, personas, standard):
    ticket = team_ticket(personas)

    html = client_for(personas.agent).get(INBOX, {"view": "teams"}).content.decode()

    assert DUE.findall(html) == [local(ticket.first_response_due_at)]
    assert 'data-sla-warn="1200"' in html
    assert "console/sla.js" in html


def test_inbox_marks_a_ticket_that_breached_earlier(clock, personas, standard):
    standard.resolution_minutes = None
    standard.save()
    ticket = team_ticket(personas, assignee=personas.agent.user)
    clock.advance(hours=2)
    check_sla_deadlines()
    services.reply(ticket=ticket, author=personas.agent.user, text="Sorry")

    html = client_for(personas.agent).get(INBOX, {"view": "teams"}).content.decode()

    assert "data-sla-due" not in html  # nothing left to count down...
    assert "sla-badge sla-overdue" in html  # ...but the breach shows


@pytest.mark.parametrize("count", [5, 50])
def test_inbox_with_sla_badges_runs_a_fixed_number_of_queries(
    clock, personas, standard, django_assert_max_num_queries, count
):
    for n in range(count):
        ticket = team_ticket(personas, assignee=personas.teammate.user)
        if n % 3 == 0:
            services.change_status(ticket=ticket, status=TicketStatus.PENDING, actor=None)
    client = client_for(personas.agent)

    with django_assert_max_num_queries(9):
        response = client.get(INBOX, {"view": "teams"})

    assert response.content.decode().count('class="sla-badge') == count


def test_the_ticket_page_shows_the_countdowns(clock, personas, standard):
    ticket = team_ticket(personas)

    html = client_for(personas.agent).get(reverse("console:ticket", args=[ticket.pk])).content
    html = html.decode()

    assert 'id="sla-panel"' in html
    assert standard.name in html
    assert set(DUE.findall(html)) == {
        local(ticket.first_response_due_at),
        local(ticket.resolution_due_at),
    }


def test_the_panel_shows_met_and_paused_targets(clock, personas, standard):
    ticket = customer_writes().ticket
    services.assign(ticket=ticket, actor=None, team=personas.team_a)
    clock.advance(minutes=10)
    services.reply(ticket=ticket, author=personas.agent.user, text="On it")
    services.change_status(ticket=ticket, status=TicketStatus.PENDING, actor=None)

    response = client_for(personas.agent).get(reverse("console:sla-panel", args=[ticket.pk]))

    html = response.content.decode()
    assert 'class="sla-met"' in html
    assert 'class="sla-paused"' in html
    assert "7h 50m" in html or "7小时50分" in html
    assert "data-sla-due" not in html


def test_the_panel_fragment_is_only_for_those_who_see_the_ticket(clock, personas, standard):
    ticket = team_ticket(personas)
    url = reverse("console:sla-panel", args=[ticket.pk])

    assert client_for(personas.agent).get(url).status_code == 200
    assert client_for(personas.outsider).get(url).status_code == 404
    assert Client().get(url).status_code == 302


def test_the_ticket_page_query_count_does_not_grow_with_sla_events(
    clock, personas, standard, django_assert_max_num_queries
):
    ticket = customer_writes(phone="+8613700000001").ticket
    services.assign(ticket=ticket, actor=None, team=personas.team_a)
    services.reply(ticket=ticket, author=personas.agent.user, text="Hi")
    for hour in range(10, 16):
        clock.set(shanghai(2026, 12, 7, hour, 0))
        customer_writes("again", phone="+8613700000001")
        clock.advance(minutes=45)
        check_sla_deadlines()
        services.reply(ticket=ticket, author=personas.agent.user, text="yes")
    client = client_for(personas.agent)

    with django_assert_max_num_queries(33):  # the ticket page bound of test_console_views
        response = client.get(reverse("console:ticket", args=[ticket.pk]))

    assert response.status_code == 200


# --- managers ---------------------------------------------------------------------------


def test_managers_see_the_policies_in_the_order_they_are_tried(personas):
    policy("Catch-all", position=100)
    policy("VIP", position=1, tiers=["vip"], first_response_minutes=5)
    shanghai_calendar(personas.team_a, name="CC hours")

    response = client_for(personas.manager).get(POLICIES)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("VIP") < html.index("Catch-all")
    assert "CC hours" in html


def test_agents_may_not_open_the_policy_page(personas):
    assert client_for(personas.agent).get(POLICIES).status_code == 403
    assert client_for(personas.store_clerk).get(POLICIES).status_code == 403


def test_the_policy_page_sends_strangers_to_the_login(personas):
    response = Client().get(POLICIES)

    assert response.status_code == 302
    assert "login" in response["Location"]


def test_agents_may_not_edit_policies_in_the_admin(personas):
    policy()
    client = client_for(personas.agent)

    assert client.get(reverse("admin:tickets_slapolicy_changelist")).status_code in (302, 403)
    assert client.post(reverse("admin:tickets_slapolicy_add"), {"name": "x"}).status_code in (
        302,
        403,
    )
    assert SlaPolicy.objects.count() == 1


def test_a_manager_edits_policies_in_the_admin_with_validation(personas):
    client = client_for(personas.manager)
    url = reverse("admin:tickets_slapolicy_add")

    assert client.get(url).status_code == 200
    response = client.post(
        url, {"name": "Empty", "position": 1, "is_active": "on", "warning_minutes": 15}
    )
    assert response.status_code == 200  # the form again, with the error
    assert not SlaPolicy.objects.exists()

    response = client.post(
        url,
        {
            "name": "VIP WeChat",
            "position": 1,
            "is_active": "on",
            "tiers": ["vip"],
            "channels": ["wechat"],
            "first_response_minutes": 10,
            "warning_minutes": 5,
            "business_hours_only": "on",
            "escalate_notify_managers": "on",
        },
    )
    assert response.status_code == 302
    created = SlaPolicy.objects.get()
    assert (created.tiers, created.channels, created.priorities) == (["vip"], ["wechat"], [])


def test_the_calendar_admin_refuses_overlapping_hours(personas):
    client = client_for(personas.manager)

    response = client.post(
        reverse("admin:tickets_businesscalendar_add"),
        {
            "name": "Bad",
            "timezone": "Asia/Shanghai",
            "hours": '{"mon": [["09:00", "12:00"], ["11:00", "18:00"]]}',
            "holidays-TOTAL_FORMS": "0",
            "holidays-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert not BusinessCalendar.objects.exists()


def test_editing_a_policy_in_the_admin_recomputes_open_tickets(
    clock, personas, standard, django_capture_on_commit_callbacks
):
    ticket = team_ticket(personas)
    assert ticket.first_response_due_at == shanghai(2026, 12, 7, 10, 0)
    fields = {
        "name": standard.name,
        "position": standard.position,
        "is_active": "on",
        "first_response_minutes": 120,
        "next_response_minutes": 30,
        "resolution_minutes": 480,
        "warning_minutes": 20,
        "business_hours_only": "on",
        "escalate_reassign": "queue",
    }

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(personas.manager).post(
            reverse("admin:tickets_slapolicy_change", args=[standard.pk]), fields
        )

    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.first_response_due_at == shanghai(2026, 12, 7, 11, 0)
    assert SlaPolicy.objects.get().escalate_reassign == "queue"


def test_a_new_holiday_in_the_admin_moves_the_due_times(
    clock, personas, standard, django_capture_on_commit_callbacks
):
    clock.set(shanghai(2026, 12, 7, 17, 30))  # 30 minutes left on Monday
    ticket = team_ticket(personas)
    assert ticket.first_response_due_at == shanghai(2026, 12, 8, 9, 30)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(personas.manager).post(
            reverse("admin:tickets_holiday_add"), {"date": "2026-12-08", "name": "Day off"}
        )

    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.first_response_due_at == shanghai(2026, 12, 9, 9, 30)


@pytest.mark.parametrize(
    ("language", "expected", "absent"),
    [
        ("en", ["SLA policies", "First response", "On breach", "reassign: to the team lead"], []),
        (
            "zh-hans",
            ["SLA 策略", "重新分配：转给团队负责人"],
            ["First response", "On breach", "reassign:", "Business-hours calendars"],
        ),
    ],
)
def test_the_policy_page_speaks_the_managers_language(personas, language, expected, absent):
    policy("Standard", escalate_reassign="lead")
    shanghai_calendar(personas.team_a)

    html = (
        client_for(personas.manager).get(POLICIES, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    )

    assert all(text in html for text in expected), [t for t in expected if t not in html]
    assert not [text for text in absent if text in html]


@pytest.mark.parametrize(
    ("language", "present", "absent"),
    [
        ("zh-hans", ["首次响应", "解决"], ["First response", "Resolution", "due"]),
        ("en", ["First response", "Resolution"], ["首次响应", "解决"]),
    ],
)
def test_the_ticket_panel_speaks_the_agents_language(
    clock, personas, standard, language, present, absent
):
    ticket = team_ticket(personas)

    response = client_for(personas.agent).get(
        reverse("console:sla-panel", args=[ticket.pk]), HTTP_ACCEPT_LANGUAGE=language
    )

    html = re.sub(r"<[^>]+>", " ", response.content.decode())
    assert all(text in html for text in present)
    assert not [text for text in absent if text in html]
