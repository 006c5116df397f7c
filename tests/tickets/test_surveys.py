"""CSAT surveys: sent once per solve on the ticket's channel, answered on the public page,
stored on the ticket, and a bad score reopens or flags the ticket per policy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from customers.models import Consent, ConsentPurpose
from customers.services import merge_customers
from omniservice.outbox.models import OutboxMessage
from tests.factories import CustomerFactory, SurveyFactory, TicketFactory
from tickets.models import (
    AuthorKind,
    BadScoreAction,
    Channel,
    DeliveryStatus,
    Direction,
    Message,
    SatisfactionPolicy,
    Survey,
    SurveyOutcome,
    Ticket,
    TicketStatus,
    TicketStatusChange,
)
from tickets.services import change_status, merge_tickets
from tickets.surveys import services as surveys

pytestmark = pytest.mark.django_db


@pytest.fixture
def solve(personas, django_capture_on_commit_callbacks):
    """Solve a ticket as the agent, running what happens after commit (the outbox)."""

    def run(ticket: Ticket) -> Ticket:
        with django_capture_on_commit_callbacks(execute=True):
            return change_status(
                ticket=ticket, status=TicketStatus.SOLVED, actor=personas.agent.user
            )

    return run


def page_url(survey: Survey) -> str:
    return reverse("surveys:page", args=[survey.token])


# --- sending ----------------------------------------------------------------------------


def test_solving_a_ticket_sends_one_survey_as_a_system_message_on_its_channel(solve):
    ticket = TicketFactory(status=TicketStatus.OPEN, last_channel=Channel.API)

    solve(ticket)

    survey = Survey.objects.get()
    assert (survey.kind, survey.ticket_id, survey.customer_id) == (
        "csat",
        ticket.pk,
        ticket.customer_id,
    )
    message = survey.message
    assert (message.direction, message.channel, message.author_kind) == (
        Direction.OUTBOUND,
        Channel.API,
        AuthorKind.SYSTEM,
    )
    assert surveys.survey_url(survey) in message.body_text
    assert message.delivery_status == DeliveryStatus.SENT  # the partner-app adapter took it
    assert len(survey.token) >= 32
    assert survey.solve == TicketStatusChange.objects.get(ticket=ticket, to_status="solved")


def test_the_survey_message_is_no_first_response_and_leaves_the_ticket_solved(solve):
    ticket = TicketFactory(status=TicketStatus.OPEN, last_channel=Channel.API)

    solve(ticket)

    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.SOLVED
    assert ticket.first_response_at is None
    assert ticket.last_agent_message_at is None


def test_the_same_solve_event_twice_sends_one_survey(solve):
    ticket = solve(TicketFactory(status=TicketStatus.OPEN, last_channel=Channel.API))
    solve_change = TicketStatusChange.objects.get(ticket=ticket, to_status="solved")

    again = surveys.send_csat_survey(solve_id=solve_change.pk)
    surveys.schedule_csat_survey(Ticket, ticket=ticket, event="updated", changed=["status"])

    assert again == Survey.objects.get()
    assert OutboxMessage.objects.filter(topic=surveys.CSAT_TOPIC).count() == 1
    assert Message.objects.filter(ticket=ticket, author_kind=AuthorKind.SYSTEM).count() == 1


def test_a_new_solve_after_a_reopen_sends_a_new_survey(personas, solve):
    ticket = solve(TicketFactory(status=TicketStatus.OPEN, last_channel=Channel.API))
    change_status(ticket=ticket, status=TicketStatus.OPEN, actor=personas.agent.user)

    solve(ticket)

    assert Survey.objects.filter(ticket=ticket).count() == 2


def test_no_survey_when_the_ticket_was_reopened_before_the_survey_went_out(personas):
    ticket = change_status(
        ticket=TicketFactory(status=TicketStatus.OPEN, last_channel=Channel.API),
        status=TicketStatus.SOLVED,
        actor=personas.agent.user,
    )
    solve_change = TicketStatusChange.objects.get(ticket=ticket, to_status="solved")
    change_status(ticket=ticket, status=TicketStatus.OPEN, actor=personas.agent.user)

    assert surveys.send_csat_survey(solve_id=solve_change.pk) is None
    assert not Survey.objects.exists()


def test_no_survey_when_disabled_by_the_policy(solve):
    SatisfactionPolicy.objects.create(pk=1, csat_enabled=False)

    solve(TicketFactory(status=TicketStatus.OPEN, last_channel=Channel.API))

    assert not Survey.objects.exists()


def test_no_survey_for_a_merged_ticket(personas, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    source = TicketFactory(customer=customer, status=TicketStatus.OPEN, last_channel="api")
    target = TicketFactory(customer=customer, status=TicketStatus.OPEN, last_channel="api")

    with django_capture_on_commit_callbacks(execute=True):
        merge_tickets(source=source, target=target, actor=personas.agent.user)

    assert Ticket.objects.get(pk=source.pk).status == TicketStatus.CLOSED
    assert not Survey.objects.exists()


@pytest.mark.parametrize("channel", [Channel.CONSOLE, Channel.PHONE, Channel.STORE])
def test_no_survey_on_a_channel_that_cannot_carry_a_link(solve, channel):
    solve(TicketFactory(status=TicketStatus.OPEN, origin_channel=channel, last_channel=channel))

    assert not Survey.objects.exists()


def test_no_survey_when_the_customer_refused_feedback_on_that_channel(solve):
    ticket = TicketFactory(status=TicketStatus.OPEN, last_channel=Channel.EMAIL)
    Consent.objects.create(
        customer=ticket.customer,
        channel="email",
        purpose=ConsentPurpose.FEEDBACK,
        granted=False,
        updated_at=timezone.now(),
    )

    solve(ticket)

    assert not Survey.objects.exists()


# --- the public page --------------------------------------------------------------------


def test_the_page_speaks_the_customers_chinese():
    survey = SurveyFactory(language="zh-hans")

    response = Client(HTTP_ACCEPT_LANGUAGE="en").get(page_url(survey))

    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    assert "我们的服务怎么样？" in html
    assert response["Content-Language"] == "zh-hans"
    assert [f'value="{n}"' in html for n in range(1, 6)] == [True] * 5
    assert 'name="viewport"' in html
    assert response["Referrer-Policy"] == "same-origin"  # the token never leaves the site
    assert response["Cache-Control"] == "no-store"


def test_the_page_speaks_the_customers_english_and_can_switch():
    survey = SurveyFactory(language="en")

    english = Client(HTTP_ACCEPT_LANGUAGE="zh-hans").get(page_url(survey))
    chinese = Client().get(page_url(survey) + "?lang=zh-hans")

    assert "How did we do?" in english.content.decode()
    assert "我们的服务怎么样？" in chinese.content.decode()


def test_an_answer_is_stored_and_written_on_the_ticket_timeline():
    survey = SurveyFactory()

    response = Client().post(page_url(survey), {"score": "4", "comment": " 很快，谢谢 "})

    assert response.status_code == 302
    survey.refresh_from_db()
    assert (survey.score, survey.comment, survey.outcome) == (4, "很快，谢谢", "")
    assert survey.answered_at is not None
    event = Message.objects.get(ticket=survey.ticket, direction=Direction.EVENT)
    assert "4/5" in event.body_text and "很快，谢谢" in event.body_text
    thanks = Client().get(response["Location"])
    assert "4" in thanks.content.decode() and 'name="score"' not in thanks.content.decode()


@pytest.mark.parametrize("score", ["0", "6", "-1", "five", ""])
def test_a_score_out_of_range_is_a_form_error(score):
    survey = SurveyFactory(language="en")

    response = Client().post(page_url(survey), {"score": score})

    assert response.status_code == 400
    assert 'class="survey-errors"' in response.content.decode()
    survey.refresh_from_db()
    assert survey.answered_at is None


def test_a_survey_is_answered_once_the_second_score_is_ignored():
    survey = SurveyFactory()
    Client().post(page_url(survey), {"score": "5"})

    response = Client().post(page_url(survey), {"score": "1"})

    assert response.status_code == 302
    survey.refresh_from_db()
    assert survey.score == 5
    assert Message.objects.filter(ticket=survey.ticket, direction=Direction.EVENT).count() == 1


def test_the_comment_can_be_changed_within_the_window_only():
    survey = SurveyFactory(language="en")
    Client().post(page_url(survey), {"score": "3", "comment": "ok"})

    changed = Client().post(page_url(survey), {"comment": "ok, but slow"})
    Survey.objects.filter(pk=survey.pk).update(answered_at=timezone.now() - timedelta(hours=25))
    late = Client().post(page_url(survey), {"comment": "actually bad"})

    assert changed.status_code == 302
    assert late.status_code == 409
    assert "can no longer be changed" in late.content.decode()
    survey.refresh_from_db()
    assert (survey.score, survey.comment) == (3, "ok, but slow")
    assert survey.comment_updated_at is not None


def test_an_unknown_token_gets_a_404_page():
    response = Client(HTTP_ACCEPT_LANGUAGE="en").get("/survey/not-a-real-token/")

    assert response.status_code == 404
    assert "Survey not found" in response.content.decode()


def test_an_expired_survey_gets_a_clear_404_page_in_the_customers_language():
    survey = SurveyFactory(language="zh-hans", expires_at=timezone.now() - timedelta(minutes=1))

    page = Client().get(page_url(survey))
    post = Client().post(page_url(survey), {"score": "5"})

    assert page.status_code == post.status_code == 404
    assert "此调查已过期" in page.content.decode()
    survey.refresh_from_db()
    assert survey.answered_at is None


def test_the_page_is_rate_limited_per_client():
    survey = SurveyFactory()
    client = Client()

    codes = [client.get(page_url(survey)).status_code for _ in range(31)]

    assert codes[:30] == [200] * 30
    assert codes[30] == 429


def test_a_post_without_the_csrf_token_is_refused():
    survey = SurveyFactory()

    response = Client(enforce_csrf_checks=True).post(page_url(survey), {"score": "5"})

    assert response.status_code == 403
    survey.refresh_from_db()
    assert survey.answered_at is None


def test_the_page_carries_a_csrf_token_and_a_csrf_checked_client_can_answer():
    survey = SurveyFactory()
    client = Client(enforce_csrf_checks=True)
    client.get(page_url(survey))

    response = client.post(
        page_url(survey), {"score": "5", "csrfmiddlewaretoken": client.cookies["csrftoken"].value}
    )

    assert response.status_code == 302
    assert Survey.objects.get(pk=survey.pk).score == 5


# --- bad scores -------------------------------------------------------------------------


def test_a_bad_score_flags_the_ticket_for_the_managers(monkeypatch):
    published = []
    monkeypatch.setattr(
        surveys.realtime,
        "publish",
        lambda groups, kind, data: published.append((set(groups), kind, data)),
    )
    survey = SurveyFactory()

    surveys.answer_survey(token=survey.token, score=2, comment="太慢了")

    survey.refresh_from_db()
    assert survey.outcome == SurveyOutcome.FLAGGED
    ticket = Ticket.objects.get(pk=survey.ticket_id)
    assert ticket.status == TicketStatus.SOLVED
    assert list(ticket.tags.values_list("name", flat=True)) == ["csat-bad"]
    assert (
        {"managers"},
        "satisfaction.flagged",
        {"ticket_id": ticket.pk, "survey_id": survey.pk, "score": 2},
    ) in published


def test_a_bad_score_reopens_the_ticket_when_the_policy_says_so():
    SatisfactionPolicy.objects.create(pk=1, bad_score_action=BadScoreAction.REOPEN)
    survey = SurveyFactory()

    surveys.answer_survey(token=survey.token, score=1)

    ticket = Ticket.objects.get(pk=survey.ticket_id)
    assert (ticket.status, ticket.reopen_count) == (TicketStatus.OPEN, 1)
    assert Survey.objects.get(pk=survey.pk).outcome == SurveyOutcome.REOPENED
    assert not ticket.tags.exists()


def test_a_closed_ticket_cannot_be_reopened_so_a_bad_score_flags_it():
    SatisfactionPolicy.objects.create(pk=1, bad_score_action=BadScoreAction.REOPEN)
    survey = SurveyFactory(ticket__status=TicketStatus.CLOSED)

    surveys.answer_survey(token=survey.token, score=1)

    assert Survey.objects.get(pk=survey.pk).outcome == SurveyOutcome.FLAGGED
    assert Ticket.objects.get(pk=survey.ticket_id).status == TicketStatus.CLOSED


def test_the_threshold_is_configurable_and_a_good_score_changes_nothing():
    SatisfactionPolicy.objects.create(pk=1, bad_score_threshold=3)
    bad, good = SurveyFactory(), SurveyFactory()

    surveys.answer_survey(token=bad.token, score=3)
    surveys.answer_survey(token=good.token, score=4)

    assert Survey.objects.get(pk=bad.pk).outcome == SurveyOutcome.FLAGGED
    assert Survey.objects.get(pk=good.pk).outcome == ""
    assert not Ticket.objects.get(pk=good.ticket_id).tags.exists()


def test_surveys_follow_the_customer_into_a_merge():
    survey = SurveyFactory()
    target = CustomerFactory()

    merge_customers(source_id=survey.customer_id, target_id=target.pk, actor="test", reason="same")

    assert Survey.objects.get(pk=survey.pk).customer_id == target.pk


# --- console and API --------------------------------------------------------------------


def test_the_ticket_page_shows_the_answer(personas, console_client):
    survey = SurveyFactory(ticket__team=personas.team_a)
    surveys.answer_survey(token=survey.token, score=5, comment="Perfect service")

    response = console_client(personas.agent).get(
        reverse("console:ticket", args=[survey.ticket_id]), HTTP_ACCEPT_LANGUAGE="en"
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="csat-panel"' in html
    assert "5/5" in html and "Perfect service" in html


def satisfaction_url(ticket_id: int) -> str:
    return f"/api/v1/tickets/{ticket_id}/satisfaction/"


def test_partners_read_the_satisfaction_of_a_ticket(partner, django_assert_max_num_queries):
    survey = SurveyFactory()
    for _ in range(3):
        SurveyFactory(ticket=survey.ticket)
    surveys.answer_survey(token=survey.token, score=4, comment="good")

    with django_assert_max_num_queries(6):
        response = partner.get(satisfaction_url(survey.ticket_id))

    assert response.status_code == 200
    body = response.json()
    assert body["ticket"] == survey.ticket_id
    assert body["latest_score"] == 4
    assert len(body["surveys"]) == 4
    answered = next(s for s in body["surveys"] if s["id"] == survey.pk)
    assert answered["score"] == 4 and answered["comment"] == "good"
    assert answered["kind"] == "csat" and answered["outcome"] == ""
    assert "token" not in answered


def test_the_satisfaction_api_needs_the_tickets_read_scope(partner_read_only):
    survey = SurveyFactory()

    response = partner_read_only.get(satisfaction_url(survey.ticket_id))

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "missing_scope"


def test_the_satisfaction_api_hides_tickets_a_console_user_may_not_see(personas, console_client):
    survey = SurveyFactory(ticket__team=personas.team_a)

    assert console_client(personas.agent).get(satisfaction_url(survey.ticket_id)).status_code == 200
    response = console_client(personas.outsider).get(satisfaction_url(survey.ticket_id))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ticket_not_found"


def test_the_satisfaction_api_of_an_unknown_ticket_is_404(partner):
    assert partner.get(satisfaction_url(999999)).status_code == 404


def test_behind_the_proxy_each_client_has_its_own_rate_limit(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # BEHIND_TLS_PROXY
    survey = SurveyFactory()
    proxy = {"REMOTE_ADDR": "10.0.0.2"}

    for _ in range(30):
        Client().get(page_url(survey), HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7", **proxy)
    limited = Client().get(page_url(survey), HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy)
    other = Client().get(page_url(survey), HTTP_X_FORWARDED_FOR="203.0.113.8", **proxy)

    assert (limited.status_code, other.status_code) == (429, 200)


def test_a_partner_app_posts_the_score_the_customer_tapped(partner):
    SatisfactionPolicy.objects.create(pk=1, bad_score_action=BadScoreAction.REOPEN)
    older = SurveyFactory()
    survey = SurveyFactory(ticket=older.ticket)

    response = partner.post(
        satisfaction_url(survey.ticket_id), {"score": 1, "comment": "没解决"}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["id"], body["score"], body["comment"]) == (survey.pk, 1, "没解决")
    assert body["outcome"] == SurveyOutcome.REOPENED  # the bad-score policy applies
    assert Ticket.objects.get(pk=survey.ticket_id).status == TicketStatus.OPEN
    assert Survey.objects.get(pk=older.pk).answered_at is None  # the newest unanswered one

    again = partner.post(
        satisfaction_url(survey.ticket_id), {"survey": survey.pk, "score": 5}, format="json"
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "survey_answered"
    assert Survey.objects.get(pk=survey.pk).score == 1


def test_a_posted_answer_is_checked_like_the_page(partner):
    survey = SurveyFactory()
    other_ticket = SurveyFactory()
    url = satisfaction_url(survey.ticket_id)

    assert partner.post(url, {"score": 6}, format="json").status_code == 400
    wrong = partner.post(url, {"survey": other_ticket.pk, "score": 4}, format="json")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (404, "survey_not_found")
    Survey.objects.filter(pk=survey.pk).update(expires_at=timezone.now() - timedelta(days=1))
    expired = partner.post(url, {"score": 4}, format="json")
    assert (expired.status_code, expired.json()["error"]["code"]) == (404, "survey_expired")
    assert not Survey.objects.filter(answered_at__isnull=False).exists()


def test_an_agent_never_answers_for_the_customer(personas, console_client, partner_read_only):
    survey = SurveyFactory(ticket__team=personas.team_a)
    url = satisfaction_url(survey.ticket_id)

    response = console_client(personas.agent).post(url, {"score": 5}, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (
        403,
        "customer_answers_only",
    )
    assert partner_read_only.post(url, {"score": 5}, format="json").status_code == 403
    assert Survey.objects.get(pk=survey.pk).answered_at is None
