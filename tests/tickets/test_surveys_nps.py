"""NPS surveys: who is asked (recent solve, feedback consent, frequency cap), on which
channel, how they leave (the outbox, no ticket) and how they are answered."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from channels_hub import adapters
from channels_hub.adapters import Adapter, Notice, PermanentDeliveryError, SendResult
from customers.models import Consent, ConsentPurpose, ContactChannel, CustomerStatus, IdentityKind
from omniservice.outbox.models import OutboxMessage
from tests.channels_hub.conftest import fake_provider, make_connection  # noqa: F401 - fixtures
from tests.channels_hub.fake_provider import Answer
from tests.factories import CustomerFactory, IdentityFactory, TicketFactory
from tickets.models import SatisfactionPolicy, Survey, SurveyDelivery, SurveyKind
from tickets.surveys import nps
from tickets.surveys.services import survey_url
from tickets.surveys.tasks import send_nps_surveys

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


def consent(customer, channel, *, granted=True, purpose=ConsentPurpose.FEEDBACK):
    return Consent.objects.create(
        customer=customer, channel=channel, purpose=purpose, granted=granted, updated_at=NOW
    )


def solved_customer(days_ago: float = 2, **fields):
    customer = CustomerFactory(**fields)
    TicketFactory(customer=customer, status="solved", solved_at=NOW - timedelta(days=days_ago))
    return customer


def candidates() -> list[int]:
    return list(
        nps.nps_candidates(now=NOW, policy=SatisfactionPolicy.current()).values_list(
            "pk", flat=True
        )
    )


def test_a_customer_with_a_recent_solve_and_feedback_consent_is_selected():
    customer = solved_customer()
    consent(customer, ContactChannel.EMAIL)

    assert candidates() == [customer.pk]


def test_customers_without_a_granted_feedback_consent_are_not_selected():
    no_consent = solved_customer()
    refused = solved_customer()
    consent(refused, ContactChannel.EMAIL, granted=False)
    marketing_only = solved_customer()
    consent(marketing_only, ContactChannel.EMAIL, purpose=ConsentPurpose.MARKETING)
    phone_only = solved_customer()
    consent(phone_only, ContactChannel.PHONE)  # a call cannot carry a link

    assert no_consent and candidates() == []


def test_customers_without_a_recent_solve_or_merged_are_not_selected():
    long_ago = solved_customer(days_ago=30)
    consent(long_ago, ContactChannel.EMAIL)
    survivor = CustomerFactory()
    merged = solved_customer(status=CustomerStatus.MERGED, merged_into=survivor)
    consent(merged, ContactChannel.EMAIL)
    open_only = CustomerFactory()
    TicketFactory(customer=open_only, status="open")
    consent(open_only, ContactChannel.EMAIL)

    assert candidates() == []


def test_the_frequency_cap_skips_customers_asked_lately():
    asked_lately = solved_customer()
    consent(asked_lately, ContactChannel.EMAIL)
    Survey.objects.create(
        kind=SurveyKind.NPS,
        customer=asked_lately,
        channel="email",
        language="zh-hans",
        created_at=NOW - timedelta(days=30),
        expires_at=NOW,
    )
    asked_long_ago = solved_customer()
    consent(asked_long_ago, ContactChannel.EMAIL)
    Survey.objects.create(
        kind=SurveyKind.NPS,
        customer=asked_long_ago,
        channel="email",
        language="zh-hans",
        created_at=NOW - timedelta(days=91),
        expires_at=NOW,
    )

    assert candidates() == [asked_long_ago.pk]


def test_a_csat_survey_does_not_count_against_the_nps_cap():
    customer = solved_customer()
    consent(customer, ContactChannel.EMAIL)
    Survey.objects.create(
        kind=SurveyKind.CSAT,
        customer=customer,
        ticket=customer.tickets.get(),
        channel="email",
        language="zh-hans",
        created_at=NOW - timedelta(days=1),
        expires_at=NOW,
    )

    assert candidates() == [customer.pk]


def test_the_preferred_channel_is_used_when_consented_else_the_first_consented():
    prefers_sms = solved_customer(preferred_channel=ContactChannel.SMS)
    consent(prefers_sms, ContactChannel.EMAIL)
    consent(prefers_sms, ContactChannel.SMS)
    prefers_wechat = solved_customer(preferred_channel=ContactChannel.WECHAT)
    consent(prefers_wechat, ContactChannel.WHATSAPP)
    consent(prefers_wechat, ContactChannel.EMAIL)
    consent(prefers_wechat, ContactChannel.WECHAT, granted=False)

    assert nps.send_due_nps_surveys(now=NOW) == 2

    channels = dict(Survey.objects.values_list("customer_id", "channel"))
    assert channels == {prefers_sms.pk: "sms", prefers_wechat.pk: "email"}


def test_customers_outside_their_contact_hours_wait_for_a_later_run():
    evening_only = solved_customer(
        contact_hours_start=time(18, 0), contact_hours_end=time(21, 0), timezone="Asia/Shanghai"
    )
    consent(evening_only, ContactChannel.EMAIL)
    overnight = solved_customer(
        contact_hours_start=time(22, 0), contact_hours_end=time(13, 0), timezone="Asia/Shanghai"
    )
    consent(overnight, ContactChannel.EMAIL)

    assert nps.send_due_nps_surveys(now=NOW) == 1
    assert list(Survey.objects.values_list("customer_id", flat=True)) == [overnight.pk]
    assert nps.send_due_nps_surveys(now=NOW + timedelta(hours=7)) == 1  # 19:00 local


def test_running_the_task_twice_asks_each_customer_once():
    customer = solved_customer()
    consent(customer, ContactChannel.EMAIL)

    assert nps.send_due_nps_surveys(now=NOW) == 1
    assert nps.send_due_nps_surveys(now=NOW + timedelta(hours=1)) == 0

    survey = Survey.objects.get()
    assert (survey.kind, survey.ticket_id, survey.channel) == ("nps", None, "email")
    assert OutboxMessage.objects.get().topic == nps.SURVEY_DELIVER_TOPIC


def test_the_batch_size_bounds_a_run_and_disabled_sends_nothing():
    for _ in range(3):
        consent(solved_customer(), ContactChannel.EMAIL)
    SatisfactionPolicy.objects.create(pk=1, nps_batch_size=2)

    assert nps.send_due_nps_surveys(now=NOW) == 2
    SatisfactionPolicy.objects.filter(pk=1).update(nps_enabled=False)
    assert nps.send_due_nps_surveys(now=NOW) == 0


class NoticeAdapter(Adapter):
    channels = (ContactChannel.EMAIL,)
    needs_connection = False

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.notices: list[Notice] = []

    def send_notice(self, notice: Notice, connection=None) -> SendResult:
        if self.error is not None:
            raise self.error
        self.notices.append(notice)
        return SendResult(status="sent", provider_message_id="mail-1")


def test_the_survey_leaves_through_the_outbox_on_the_channels_adapter(
    monkeypatch, django_capture_on_commit_callbacks
):
    adapter = NoticeAdapter()
    monkeypatch.setitem(adapters._ADAPTERS, ContactChannel.EMAIL, adapter)
    customer = solved_customer(language="en")
    consent(customer, ContactChannel.EMAIL)

    with django_capture_on_commit_callbacks(execute=True):
        nps.send_due_nps_surveys(now=NOW)

    survey = Survey.objects.get()
    assert survey.delivery == SurveyDelivery.SENT
    [notice] = adapter.notices
    assert (notice.customer, notice.channel) == (customer, "email")
    assert survey_url(survey) in notice.text
    assert "recommend us" in notice.text


def test_a_channel_that_refuses_or_is_not_connected_marks_the_survey_failed(
    monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setitem(
        adapters._ADAPTERS, ContactChannel.EMAIL, NoticeAdapter(PermanentDeliveryError("bounced"))
    )
    bounced = solved_customer()
    consent(bounced, ContactChannel.EMAIL)
    unconnected = solved_customer()
    consent(unconnected, ContactChannel.WECHAT)

    with django_capture_on_commit_callbacks(execute=True):
        nps.send_due_nps_surveys(now=NOW)

    assert Survey.objects.get(customer=bounced).failure_reason == "bounced"
    assert "微信" in Survey.objects.get(customer=unconnected).failure_reason  # zh-hans default
    assert set(Survey.objects.values_list("delivery", flat=True)) == {SurveyDelivery.FAILED}


def test_an_sms_customer_gets_the_survey_from_the_sms_provider(
    make_connection,  # noqa: F811 - the fixtures of tests/channels_hub
    fake_provider,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    account = "AC0123456789abcdef0123456789abcdef"
    make_connection(
        ContactChannel.SMS,
        secrets={"auth_token": "token"},
        account_sid=account,
        from_number="+14155550100",
    )
    path = f"/2010-04-01/Accounts/{account}/Messages.json"
    fake_provider.answer("POST", path, Answer(201, {"sid": "SMnps1", "status": "queued"}))
    customer = solved_customer(language="en", preferred_channel=ContactChannel.SMS)
    IdentityFactory(customer=customer, kind=IdentityKind.PHONE, value="+14155550123")
    consent(customer, ContactChannel.SMS)

    with django_capture_on_commit_callbacks(execute=True):
        nps.send_due_nps_surveys(now=NOW)

    survey = Survey.objects.get()
    assert (survey.channel, survey.delivery) == ("sms", SurveyDelivery.SENT)
    [sent] = fake_provider.received(path)
    assert sent.form()["To"] == ["+14155550123"]
    assert survey_url(survey) in sent.form()["Body"][0]


def test_the_periodic_task_runs_in_process_in_the_embedded_mode():
    customer = CustomerFactory()
    TicketFactory(customer=customer, status="solved", solved_at=timezone.now() - timedelta(hours=1))
    consent(customer, ContactChannel.EMAIL)

    result = send_nps_surveys.delay()

    assert result.get() == 1
    assert Survey.objects.get().customer_id == customer.pk


def test_the_nps_page_offers_eleven_scores_and_accepts_zero():
    customer = CustomerFactory(language="en")
    survey = Survey.objects.create(
        kind=SurveyKind.NPS,
        customer=customer,
        channel="email",
        language="en",
        expires_at=timezone.now() + timedelta(days=14),
    )
    url = reverse("surveys:page", args=[survey.token])

    page = Client().get(url).content.decode()
    refused = Client().post(url, {"score": "11"})
    accepted = Client().post(url, {"score": "0", "comment": "too expensive"})

    assert [f'name="score" value="{n}"' in page for n in range(11)] == [True] * 11
    assert "Would you recommend us?" in page
    assert refused.status_code == 400
    assert accepted.status_code == 302
    survey.refresh_from_db()
    assert (survey.score, survey.comment, survey.outcome) == (0, "too expensive", "")
