"""The reply box proposes the channel the customer used last, and falls back along the
preferred channel, the messaging apps, SMS and email when a window is closed, the
customer has no address there or refused service messages on it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from customers.models import Consent, ConsentPurpose, IdentityKind
from tests.factories import IdentityFactory, MessageFactory, TicketFactory
from tests.tickets.test_console_views import client_for, ticket_url
from tickets.models import Channel, Message
from tickets.reply_channels import reply_choice

pytestmark = pytest.mark.django_db


def whatsapp_ticket(*, hours_ago: float, **identities: str):
    ticket = TicketFactory(origin_channel=Channel.WHATSAPP)
    IdentityFactory(customer=ticket.customer, kind=IdentityKind.WHATSAPP_ID, value="8613812345678")
    for kind, value in identities.items():
        IdentityFactory(customer=ticket.customer, kind=kind, value=value)
    message = MessageFactory(ticket=ticket, channel=Channel.WHATSAPP)
    Message.objects.filter(pk=message.pk).update(
        created_at=timezone.now() - timedelta(hours=hours_ago)
    )
    return ticket


def test_last_channel_is_proposed_inside_its_window():
    choice = reply_choice(whatsapp_ticket(hours_ago=2))
    assert choice.proposed == Channel.WHATSAPP
    assert choice.notice == ""


def test_closed_whatsapp_window_falls_back_to_sms_and_says_why():
    ticket = whatsapp_ticket(hours_ago=30, phone="+8613812345678", email="li@example.com")

    with translation.override("en"):
        choice = reply_choice(ticket)
    with translation.override("zh-hans"):
        chinese = reply_choice(ticket).notice

    assert choice.proposed == Channel.SMS
    assert choice.notice == "WhatsApp: the 24-hour reply window is closed. SMS is proposed instead."
    assert chinese == "WhatsApp：24 小时回复窗口已关闭。已改为建议使用短信。"
    whatsapp = next(o for o in choice.options if o.channel == Channel.WHATSAPP)
    assert not whatsapp.available
    assert whatsapp.window_closed  # so the console offers its approved templates


def test_without_a_phone_the_fallback_is_email():
    choice = reply_choice(whatsapp_ticket(hours_ago=30, email="li@example.com"))
    assert choice.proposed == Channel.EMAIL


def test_the_customers_preferred_channel_comes_before_the_default_order():
    ticket = whatsapp_ticket(hours_ago=30, phone="+8613812345678", email="li@example.com")
    ticket.customer.preferred_channel = "email"
    ticket.customer.save()
    assert reply_choice(ticket).proposed == Channel.EMAIL


def test_a_refused_channel_is_skipped():
    ticket = whatsapp_ticket(hours_ago=30, phone="+8613812345678", email="li@example.com")
    Consent.objects.create(
        customer=ticket.customer,
        channel="sms",
        purpose=ConsentPurpose.SERVICE,
        granted=False,
        updated_at=timezone.now(),
    )
    with translation.override("en"):
        choice = reply_choice(ticket)
    assert choice.proposed == Channel.EMAIL
    sms = next(o for o in choice.options if o.channel == Channel.SMS)
    assert sms.reason == "the customer refused service messages."
    assert not sms.window_closed


def test_the_console_shows_the_notice_and_preselects_the_fallback(personas):
    ticket = whatsapp_ticket(hours_ago=30, phone="+8613812345678")
    ticket.team = personas.team_a
    ticket.save()

    body = client_for(personas.agent).get(ticket_url(ticket)).content.decode()

    assert '<option value="sms" selected>' in body
    assert 'id="reply-notice"' in body and "24" in body


def test_the_choice_takes_three_queries(django_assert_num_queries):
    ticket = whatsapp_ticket(hours_ago=1, phone="+8613812345678")
    ticket = type(ticket).objects.select_related("customer").get(pk=ticket.pk)
    with django_assert_num_queries(3):
        reply_choice(ticket)


def test_the_human_agent_permission_keeps_messenger_proposed_for_7_days(settings):
    from datetime import timedelta

    from django.utils import timezone

    ticket = TicketFactory(origin_channel=Channel.MESSENGER, last_channel=Channel.MESSENGER)
    IdentityFactory(customer=ticket.customer, kind="facebook_psid", value="6543210987654321")
    message = MessageFactory(ticket=ticket, channel=Channel.MESSENGER, direction="inbound")
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(days=3))

    with translation.override("en"):
        closed = reply_choice(ticket)
        settings.META_HUMAN_AGENT_TAG = True
        open_for_a_week = reply_choice(ticket)

    messenger = next(o for o in closed.options if o.channel == Channel.MESSENGER)
    assert not messenger.available
    assert messenger.reason == "the 24-hour reply window is closed."
    assert open_for_a_week.proposed == Channel.MESSENGER
