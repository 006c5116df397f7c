"""WhatsApp approved templates: synced from Graph (pages, statuses, templates that
disappear, provider errors), and replies made from them, which may leave after the
24-hour window, are checked before any provider call and are sent as ``type: template``."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from channels_hub.adapters import PermanentDeliveryError
from channels_hub.adapters.meta import meta_signature
from channels_hub.delivery import deliver_message
from channels_hub.models import TemplateReply, WhatsAppTemplate
from channels_hub.template_replies import TemplateChoice, send_template_reply
from channels_hub.template_sync import sync_templates
from channels_hub.template_tasks import sync_all_whatsapp_templates, sync_whatsapp_templates
from channels_hub.whatsapp_templates import TemplateRefused, parameter_names, template_from_graph
from customers.models import Consent, ConsentPurpose
from omniservice.celery import app as celery_app
from omniservice.outbox.models import OutboxMessage
from tests.channels_hub.fake_provider import Answer
from tests.channels_hub.template_samples import (
    MESSAGES_PATH,
    ORDER_BODY_EN,
    TEMPLATES_PATH,
    WA_ID,
    WHATSAPP_SECRETS,
    graph_page,
    graph_template,
    sent_answer,
    stored_template,
    whatsapp_connection,
    whatsapp_ticket,
)
from tickets.models import Channel, DeliveryStatus, Message
from tickets.services import reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection(fake_provider):
    return whatsapp_connection(fake_provider.base_url)


def order_choice(*parameters: str, language: str = "zh_CN") -> TemplateChoice:
    return TemplateChoice(name="order_shipped", language=language, parameters=parameters)


# --- sync ---------------------------------------------------------------------------------


def test_sync_reads_every_page_by_its_after_cursor_on_the_connections_base_url(
    connection, fake_provider
):
    fake_provider.answer(
        "GET",
        TEMPLATES_PATH,
        graph_page(graph_template(), after="QVFIUk5FWFQ="),
        graph_page(graph_template(language="en_US", body=ORDER_BODY_EN)),
    )

    result = sync_templates(connection=connection)

    first, second = fake_provider.received(TEMPLATES_PATH)
    assert first.headers["Authorization"] == "Bearer EAAG-token"
    assert set(first.query["fields"][0].split(",")) >= {
        "name",
        "language",
        "status",
        "category",
        "components",
    }
    assert "after" not in first.query
    assert second.query["after"] == ["QVFIUk5FWFQ="]
    assert (result.total, result.created, result.disabled) == (2, 2, 0)
    zh = WhatsAppTemplate.objects.get(language="zh_CN")
    assert (zh.name, zh.status, zh.category, zh.parameter_count) == (
        "order_shipped",
        "approved",
        "utility",
        2,
    )
    assert zh.body_text == "您好 {{1}}，您的订单 {{2}} 已发货。"
    assert zh.supported and zh.synced_at is not None


@pytest.mark.parametrize(
    ("graph_status", "stored"),
    [
        ("APPROVED", "approved"),
        ("PENDING", "pending"),
        ("IN_APPEAL", "pending"),
        ("REJECTED", "rejected"),
        ("PAUSED", "paused"),
        ("DISABLED", "disabled"),
        ("PENDING_DELETION", "disabled"),
        ("SOMETHING_NEW", "pending"),
    ],
)
def test_sync_maps_metas_statuses(connection, fake_provider, graph_status, stored):
    fake_provider.answer("GET", TEMPLATES_PATH, graph_page(graph_template(status=graph_status)))

    sync_templates(connection=connection)

    assert WhatsAppTemplate.objects.get().status == stored


def test_a_second_sync_updates_in_place_and_disables_what_disappeared(connection, fake_provider):
    welcome = graph_template("welcome", body="Welcome!", category="MARKETING")
    fake_provider.answer("GET", TEMPLATES_PATH, graph_page(graph_template(), welcome))
    sync_templates(connection=connection)
    gone_before = WhatsAppTemplate.objects.get(name="welcome")

    fake_provider.answer("GET", TEMPLATES_PATH, graph_page(graph_template(status="PAUSED")))
    result = sync_templates(connection=connection)

    assert (result.total, result.created, result.disabled) == (1, 0, 1)
    assert WhatsAppTemplate.objects.count() == 2  # never deleted
    assert WhatsAppTemplate.objects.get(name="order_shipped").status == "paused"
    gone = WhatsAppTemplate.objects.get(name="welcome")
    assert gone.status == "disabled" and gone.category == "marketing"
    assert gone.synced_at == gone_before.synced_at  # last seen upstream then


def test_syncing_the_same_list_twice_changes_nothing(connection, fake_provider):
    fake_provider.answer("GET", TEMPLATES_PATH, graph_page(graph_template()))
    sync_templates(connection=connection)
    before = list(WhatsAppTemplate.objects.values("pk", "status", "body_text"))

    result = sync_templates(connection=connection)

    assert (result.created, result.disabled) == (0, 0)
    assert list(WhatsAppTemplate.objects.values("pk", "status", "body_text")) == before


def test_provider_4xx_is_reported_on_the_connection_and_changes_nothing(connection, fake_provider):
    stored_template(connection)
    fake_provider.answer(
        "GET",
        TEMPLATES_PATH,
        Answer(400, {"error": {"message": "Unsupported get request", "code": 100}}),
    )

    with pytest.raises(PermanentDeliveryError, match=r"Unsupported get request \(100\)"):
        sync_templates(connection=connection)

    connection.refresh_from_db()
    assert connection.health == "failing"
    assert "Template sync" in connection.last_error
    assert WhatsAppTemplate.objects.get().status == "approved"


def test_the_task_retries_a_provider_5xx_then_syncs(connection, fake_provider, monkeypatch):
    monkeypatch.setattr(celery_app.conf, "task_eager_propagates", False)  # let it retry
    fake_provider.answer(
        "GET",
        TEMPLATES_PATH,
        Answer(503, {"error": {"message": "Service temporarily unavailable", "code": 2}}),
        graph_page(graph_template()),
    )

    result = sync_whatsapp_templates.apply(args=[connection.pk], throw=False)

    assert result.successful()
    assert len(fake_provider.received(TEMPLATES_PATH)) == 2
    assert WhatsAppTemplate.objects.get().status == "approved"


def test_the_task_logs_a_4xx_without_retrying(connection, fake_provider):
    fake_provider.answer(
        "GET", TEMPLATES_PATH, Answer(403, {"error": {"message": "Forbidden", "code": 200}})
    )

    sync_whatsapp_templates.delay(connection.pk)

    assert len(fake_provider.received(TEMPLATES_PATH)) == 1
    connection.refresh_from_db()
    assert "Forbidden (200)" in connection.last_error


def test_beat_syncs_every_active_whatsapp_connection_with_an_account_id(connection, fake_provider):
    whatsapp_connection(fake_provider.base_url, waba_id="")  # nothing to sync
    inactive = whatsapp_connection(fake_provider.base_url, waba_id="999")
    inactive.is_active = False
    inactive.save()
    fake_provider.answer("GET", TEMPLATES_PATH, graph_page(graph_template()))

    sync_all_whatsapp_templates.delay()

    assert len(fake_provider.requests) == 1
    assert WhatsAppTemplate.objects.get().connection == connection
    entry = settings.CELERY_BEAT_SCHEDULE["whatsapp-template-sync"]
    assert entry["task"] == "channels_hub.template_tasks.sync_all_whatsapp_templates"


def test_a_list_that_never_ends_is_refused_and_disables_nothing(connection, fake_provider):
    stored_template(connection, "welcome", body="Welcome!", parameter_count=0)
    fake_provider.answer("GET", TEMPLATES_PATH, graph_page(graph_template(), after="SAME"))

    with pytest.raises(PermanentDeliveryError, match="does not end"):
        sync_templates(connection=connection)

    assert WhatsAppTemplate.objects.get(name="welcome").status == "approved"


@pytest.mark.parametrize(
    "extra",
    [
        {"components": [{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Hi"}]},
        {
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Order {{1}} {{2}}"},
                {"type": "BODY", "text": "Hi {{1}}"},
            ]
        },
        {
            "components": [
                {"type": "BODY", "text": "Track it"},
                {
                    "type": "BUTTONS",
                    "buttons": [{"type": "URL", "text": "Track", "url": "https://x.cn/{{1}}/x"}],
                },
            ]
        },
        {"components": [{"type": "BODY", "text": "Hi {{first_name}}, {{1}}"}]},
        {"components": [{"type": "BODY", "text": "Hi {{First-Name}}"}]},
        {"components": [{"type": "BODY", "text": "Hi {{1}} and {{3}}"}]},
        {"components": [{"type": "BODY", "text": "Look"}, {"type": "CAROUSEL", "cards": []}]},
        {
            "components": [
                {"type": "BODY", "text": "{{1}} is your code."},
                {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]},
            ]
        },
    ],
    ids=[
        "media-header",
        "two-header-variables",
        "url-variable-not-at-the-end",
        "named-and-numbered",
        "bad-name",
        "gap",
        "carousel",
        "otp",
    ],
)
def test_templates_needing_what_omniservice_cannot_fill_are_kept_but_not_sendable(extra):
    data = template_from_graph({**graph_template(), **extra})

    assert data is not None and not data.supported


def test_static_header_footer_and_quick_replies_are_sendable():
    data = template_from_graph(
        graph_template(
            components=[
                {"type": "HEADER", "format": "TEXT", "text": "Order update"},
                {"type": "BODY", "text": "Hi {{1}}, order {{2}} shipped."},
                {"type": "FOOTER", "text": "Brand customer service"},
                {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Thanks"}]},
            ]
        )
    )

    assert data is not None and data.supported and data.parameter_count == 2


# --- sending ------------------------------------------------------------------------------


def test_template_reply_outside_the_window_is_sent_as_a_template(connection, fake_provider):
    ticket = whatsapp_ticket(hours_ago=30)
    stored_template(connection)
    fake_provider.answer("POST", MESSAGES_PATH, sent_answer("wamid.TPL1"))

    message = send_template_reply(
        ticket=ticket, author=None, choice=order_choice(" 李娜 ", "SO-20931")
    )
    deliver_message({"message_id": message.pk})

    (sent,) = fake_provider.received(MESSAGES_PATH)
    assert sent.headers["Authorization"] == "Bearer EAAG-token"
    assert sent.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": WA_ID,
        "type": "template",
        "template": {
            "name": "order_shipped",
            "language": {"code": "zh_CN"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "李娜"},
                        {"type": "text", "text": "SO-20931"},
                    ],
                }
            ],
        },
    }
    message.refresh_from_db()
    assert message.body_text == "您好 李娜，您的订单 SO-20931 已发货。"
    assert message.channel == Channel.WHATSAPP
    assert (message.delivery_status, message.provider_message_id) == ("sent", "wamid.TPL1")
    record = TemplateReply.objects.get(message=message)
    assert (record.name, record.language, record.parameters) == (
        "order_shipped",
        "zh_CN",
        ["李娜", "SO-20931"],
    )


NAMED_BODY = "您好 {{customer_name}}，您的订单 {{order_no}} 已发货。{{customer_name}}，谢谢！"


def test_named_parameters_are_sendable_in_the_order_they_first_appear():
    data = template_from_graph(
        graph_template(parameter_format="NAMED", components=[{"type": "BODY", "text": NAMED_BODY}])
    )

    assert data is not None and data.supported and data.parameter_count == 2
    assert parameter_names(NAMED_BODY) == ["customer_name", "order_no"]
    assert parameter_names("Hi {{2}} and {{1}}") == ["1", "2"]


def test_a_named_template_reply_is_sent_with_its_parameter_names(connection, fake_provider):
    ticket = whatsapp_ticket(hours_ago=30)
    stored_template(connection, body=NAMED_BODY)
    fake_provider.answer("POST", MESSAGES_PATH, sent_answer("wamid.NAMED"))

    message = send_template_reply(ticket=ticket, author=None, choice=order_choice("李娜", "SO-7"))
    deliver_message({"message_id": message.pk})

    (sent,) = fake_provider.received(MESSAGES_PATH)
    assert sent.json()["template"]["components"] == [
        {
            "type": "body",
            "parameters": [
                {"type": "text", "parameter_name": "customer_name", "text": "李娜"},
                {"type": "text", "parameter_name": "order_no", "text": "SO-7"},
            ],
        }
    ]
    message.refresh_from_db()
    assert message.body_text == "您好 李娜，您的订单 SO-7 已发货。李娜，谢谢！"
    assert message.delivery_status == DeliveryStatus.SENT


def test_a_bad_named_parameter_is_refused_by_its_name(connection):
    stored_template(connection, body=NAMED_BODY)

    with pytest.raises(TemplateRefused) as refused:
        send_template_reply(
            ticket=whatsapp_ticket(hours_ago=30), author=None, choice=order_choice("李娜", " ")
        )

    assert refused.value.code == "parameter_empty"
    assert "{{order_no}}" in str(refused.value)
    assert not Message.objects.filter(direction="outbound").exists()


TRACKING_COMPONENTS = [
    {"type": "HEADER", "format": "TEXT", "text": "订单 {{1}}"},
    {"type": "BODY", "text": "您好 {{1}}，您的包裹已发出。"},
    {"type": "FOOTER", "text": "品牌客服"},
    {
        "type": "BUTTONS",
        "buttons": [
            {"type": "QUICK_REPLY", "text": "谢谢"},
            {"type": "URL", "text": "查看物流", "url": "https://shop.example.cn/track/{{1}}"},
        ],
    },
]


def test_a_text_header_and_a_url_button_take_values_of_their_own(connection, fake_provider):
    data = template_from_graph(graph_template(components=TRACKING_COMPONENTS))
    assert data is not None and data.supported and data.parameter_count == 3
    ticket = whatsapp_ticket(hours_ago=30)
    stored_template(
        connection, body=data.body_text, parameter_count=3, components=TRACKING_COMPONENTS
    )
    fake_provider.answer("POST", MESSAGES_PATH, sent_answer("wamid.TRACK"))

    message = send_template_reply(
        ticket=ticket, author=None, choice=order_choice("SO-20931", "李娜", "SF1234567")
    )
    deliver_message({"message_id": message.pk})

    (sent,) = fake_provider.received(MESSAGES_PATH)
    assert sent.json()["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "text", "text": "SO-20931"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "李娜"}]},
        {
            "type": "button",
            "sub_type": "url",
            "index": "1",
            "parameters": [{"type": "text", "text": "SF1234567"}],
        },
    ]
    message.refresh_from_db()
    assert message.body_text == "订单 SO-20931\n\n您好 李娜，您的包裹已发出。\n\n品牌客服"


def test_a_header_longer_than_metas_limit_once_filled_is_refused(connection):
    stored_template(
        connection, body="您好 {{1}}", parameter_count=3, components=TRACKING_COMPONENTS
    )

    with pytest.raises(TemplateRefused) as refused:
        send_template_reply(
            ticket=whatsapp_ticket(hours_ago=30),
            author=None,
            choice=order_choice("SO-" + "9" * 60, "李娜", "SF1"),
        )

    assert refused.value.code == "template_too_long"
    assert not Message.objects.filter(direction="outbound").exists()


def test_template_reply_inside_the_window_is_sent_too(connection, fake_provider):
    ticket = whatsapp_ticket(hours_ago=2)
    stored_template(connection, language="en_US", body=ORDER_BODY_EN)
    fake_provider.answer("POST", MESSAGES_PATH, sent_answer())

    message = send_template_reply(
        ticket=ticket, author=None, choice=order_choice("Li Na", "SO-1", language="en_US")
    )
    deliver_message({"message_id": message.pk})

    assert fake_provider.received(MESSAGES_PATH)[0].json()["type"] == "template"
    message.refresh_from_db()
    assert message.body_text == "Hello Li Na, your order SO-1 has shipped."
    assert message.delivery_status == DeliveryStatus.SENT


def test_free_text_outside_the_window_is_still_refused(connection, fake_provider):
    ticket = whatsapp_ticket(hours_ago=30)
    stored_template(connection)

    message = reply(ticket=ticket, author=None, text="Sorry for the wait", channel="whatsapp")
    deliver_message({"message_id": message.pk})

    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.FAILED
    assert "Only approved templates may be sent" in message.failure_reason
    assert fake_provider.requests == []


def test_header_and_footer_are_part_of_the_stored_text(connection, fake_provider):
    ticket = whatsapp_ticket(hours_ago=30)
    stored_template(
        connection,
        body="Hi {{1}}",
        parameter_count=1,
        components=[
            {"type": "HEADER", "format": "TEXT", "text": "Order update"},
            {"type": "BODY", "text": "Hi {{1}}"},
            {"type": "FOOTER", "text": "Brand customer service"},
        ],
    )

    message = send_template_reply(ticket=ticket, author=None, choice=order_choice("{{1}} Li"))

    assert message.body_text == "Order update\n\nHi {{1}} Li\n\nBrand customer service"


@pytest.mark.parametrize(
    ("status", "parameters", "code"),
    [
        ("pending", ("李娜", "SO-1"), "template_not_approved"),
        ("paused", ("李娜", "SO-1"), "template_not_approved"),
        ("rejected", ("李娜", "SO-1"), "template_not_approved"),
        ("approved", ("李娜",), "wrong_parameter_count"),
        ("approved", ("李娜", "SO-1", "extra"), "wrong_parameter_count"),
        ("approved", ("李娜", "   "), "parameter_empty"),
        ("approved", ("李娜", "x" * 1025), "parameter_too_long"),
        ("approved", ("李娜", "line\nbreak"), "parameter_invalid"),
        ("approved", ("李娜", "five     spaces"), "parameter_invalid"),
        ("approved", ("李娜", "x" * 1020), "template_too_long"),
    ],
)
def test_bad_template_replies_are_refused_with_nothing_written_or_sent(
    connection, fake_provider, status, parameters, code
):
    ticket = whatsapp_ticket(hours_ago=30)
    stored_template(connection, status=status)

    with pytest.raises(TemplateRefused) as refused:
        send_template_reply(ticket=ticket, author=None, choice=order_choice(*parameters))

    assert refused.value.code == code
    assert not Message.objects.filter(direction="outbound").exists()
    assert not OutboxMessage.objects.exists()
    assert fake_provider.requests == []


def test_unknown_or_unsupported_template_and_missing_connection_are_refused(
    connection, fake_provider
):
    ticket = whatsapp_ticket(hours_ago=30)
    stored_template(connection, "with_image", body="Hi", parameter_count=0, supported=False)

    codes = []
    for choice in (order_choice("a", "b"), TemplateChoice("with_image", "zh_CN")):
        with pytest.raises(TemplateRefused) as refused:
            send_template_reply(ticket=ticket, author=None, choice=choice)
        codes.append(refused.value.code)
    connection.is_active = False
    connection.save()
    with pytest.raises(TemplateRefused) as refused:
        send_template_reply(ticket=ticket, author=None, choice=order_choice("a", "b"))

    assert codes == ["template_not_found", "template_unsupported"]
    assert refused.value.code == "channel_not_connected"
    assert fake_provider.requests == []


def test_consent_is_respected(connection, fake_provider):
    ticket = whatsapp_ticket(hours_ago=30)
    stored_template(
        connection, "spring_sale", body="Sale!", parameter_count=0, category="marketing"
    )

    with pytest.raises(TemplateRefused, match="marketing consent"):
        send_template_reply(
            ticket=ticket, author=None, choice=TemplateChoice("spring_sale", "zh_CN")
        )
    Consent.objects.create(
        customer=ticket.customer,
        channel="whatsapp",
        purpose=ConsentPurpose.SERVICE,
        granted=False,
        updated_at=ticket.created_at,
    )
    stored_template(connection)
    with pytest.raises(TemplateRefused) as refused:
        send_template_reply(ticket=ticket, author=None, choice=order_choice("a", "b"))

    assert refused.value.code == "consent_refused"


def test_a_template_paused_after_queueing_fails_at_delivery_without_a_provider_call(
    connection, fake_provider
):
    ticket = whatsapp_ticket(hours_ago=30)
    template = stored_template(connection)
    message = send_template_reply(ticket=ticket, author=None, choice=order_choice("a", "b"))
    WhatsAppTemplate.objects.filter(pk=template.pk).update(status="paused")

    deliver_message({"message_id": message.pk})

    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.FAILED
    assert "status: Paused" in message.failure_reason
    assert fake_provider.requests == []


def test_receipts_move_a_template_reply_forward(client, connection, fake_provider):
    ticket = whatsapp_ticket(hours_ago=30)
    stored_template(connection)
    fake_provider.answer("POST", MESSAGES_PATH, sent_answer("wamid.TPL2"))
    message = send_template_reply(ticket=ticket, author=None, choice=order_choice("a", "b"))
    deliver_message({"message_id": message.pk})
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "statuses": [
                                {"id": "wamid.TPL2", "status": "read", "recipient_id": WA_ID}
                            ],
                        },
                    }
                ],
            }
        ],
    }
    body = json.dumps(payload).encode()

    client.post(
        f"/hooks/whatsapp/{connection.webhook_key}/",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=meta_signature(WHATSAPP_SECRETS["app_secret"], body),
    )

    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.READ
