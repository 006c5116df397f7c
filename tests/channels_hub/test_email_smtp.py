"""Real SMTP conversations: the inbound listener (smtplib against aiosmtpd) and replies
out to a local SMTP sink, headers checked; the auto-reply loop that must not happen."""

from __future__ import annotations

import smtplib
from email import message_from_bytes, policy

import pytest

from channels_hub.adapters import PermanentDeliveryError, TransientDeliveryError, adapter_for
from channels_hub.delivery import deliver_message
from channels_hub.email_smtpd import ingress_controller
from omniservice.outbox.models import OutboxMessage
from tests.channels_hub import email_samples as samples
from tests.channels_hub.email_samples import free_port, make_email_connection
from tickets.models import AuthorKind, Channel, DeliveryStatus, Direction, Message, Ticket
from tickets.services import reply


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def sink():
    yield from samples.run_sink()


@pytest.fixture
def listener(transactional_db):
    controller = ingress_controller(host="127.0.0.1", port=free_port(), max_bytes=64 * 1024)
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def live_connection(transactional_db, sink):
    return make_email_connection(smtp_port=str(sink.port))


def smtp_send(listener, msg, *, sender=samples.CUSTOMER, to=(samples.SUPPORT,)):
    with smtplib.SMTP(listener.hostname, listener.port, timeout=10) as client:
        client.ehlo("mail.example.cn")
        return client.sendmail(sender, list(to), msg if isinstance(msg, bytes) else msg.as_bytes())


def test_listener_accepts_mail_for_the_brand_and_stores_it(listener, live_connection):
    refused = smtp_send(listener, samples.alternative())
    assert refused == {}
    message = Message.objects.get()
    assert (message.channel, message.direction) == (Channel.EMAIL, Direction.INBOUND)
    assert message.body_text == "Plain version: the parcel is late."
    assert "<em>late</em>" in message.body_html


def test_listener_accepts_the_other_inbound_addresses_and_plus_tags(listener, live_connection):
    smtp_send(listener, samples.plain(message_id="<a@x>"), to=["help@brand.example"])
    smtp_send(listener, samples.plain(message_id="<b@x>"), to=["Support+VIP@Brand.example"])
    assert Message.objects.count() == 2


def test_listener_refuses_to_relay_for_other_domains_and_writes_nothing(listener, live_connection):
    with smtplib.SMTP(listener.hostname, listener.port, timeout=10) as client:
        client.ehlo("spammer.example")
        client.mail("spammer@spam.example")
        code, answer = client.rcpt("victim@elsewhere.example")
    assert code == 550
    assert b"Relaying denied" in answer
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        smtp_send(listener, samples.plain(), to=["victim@elsewhere.example"])
    assert not Message.objects.exists()


def test_listener_refuses_a_message_over_the_size_limit(listener, live_connection):
    big = samples.plain(body="x" * 100 * 1024)
    with smtplib.SMTP(listener.hostname, listener.port, timeout=10) as client:
        client.ehlo("mail.example.cn")
        assert int(client.esmtp_features["size"]) == 64 * 1024
        with pytest.raises(smtplib.SMTPException):
            client.sendmail(samples.CUSTOMER, [samples.SUPPORT], big.as_bytes())
    assert not Message.objects.exists()


def test_listener_delivery_twice_stores_once(listener, live_connection):
    smtp_send(listener, samples.plain())
    smtp_send(listener, samples.plain())
    assert Message.objects.count() == 1


def test_reply_leaves_by_smtp_with_threading_headers_sender_and_signature(
    listener, live_connection, sink
):
    smtp_send(listener, samples.plain(references="<older.1@mail.example.cn>"))
    ticket = Ticket.objects.get()
    outbound = reply(
        ticket=ticket, author=None, text="It ships today.", html="<p>It ships <b>today</b>.</p>"
    )
    # transactional: the outbox delivered it on commit, through the real adapter
    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.SENT
    (received,) = sink.received
    assert received.rcpt_tos == [samples.CUSTOMER]
    assert received.mail_from == samples.SUPPORT
    sent = message_from_bytes(received.content, policy=policy.default)
    assert sent["From"].addresses[0].addr_spec == samples.SUPPORT
    assert sent["From"].addresses[0].display_name == "Brand Support"
    assert sent["Subject"] == f"Re: Where is my order? [#{ticket.pk}]"
    assert sent["Message-ID"] == f"<{outbound.provider_message_id}>"
    assert sent["Message-ID"].endswith("@brand.example>")
    assert sent["In-Reply-To"] == "<first.1@mail.example.cn>"
    assert sent["References"].split() == ["<older.1@mail.example.cn>", "<first.1@mail.example.cn>"]
    assert sent["Auto-Submitted"] is None  # a person wrote it
    text = sent.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("It ships today.")
    assert "-- \nBrand customer service" in text
    assert "<b>today</b>" in sent.get_body(("html",)).get_content()


def test_bot_reply_is_marked_auto_submitted(listener, live_connection, sink):
    smtp_send(listener, samples.plain())
    ticket = Ticket.objects.get()
    reply(ticket=ticket, author=None, text="Automatic answer", author_kind=AuthorKind.BOT)
    sent = message_from_bytes(sink.received[0].content, policy=policy.default)
    assert sent["Auto-Submitted"] == "auto-replied"


def test_auto_reply_loop_does_not_happen(listener, live_connection, sink):
    """Our reply -> their out-of-office -> nothing leaves again, however often."""
    smtp_send(listener, samples.plain())
    ticket = Ticket.objects.get()
    reply(ticket=ticket, author=None, text="We are on it.")
    ours = message_from_bytes(sink.received[0].content, policy=policy.default)
    for number, headers in enumerate(
        [{"Auto-Submitted": "auto-replied"}, {"X-Autorespond": "yes"}, {"Precedence": "junk"}]
    ):
        auto = samples.auto_reply(
            subject=str(ours["Subject"]), in_reply_to=ours["Message-ID"], headers=headers
        )
        auto.replace_header("Message-ID", f"<ooo.{number}@mail.example.cn>")
        smtp_send(listener, auto)
    assert len(sink.received) == 1
    assert Message.objects.filter(direction=Direction.OUTBOUND).count() == 1
    assert Message.objects.filter(author_kind=AuthorKind.SYSTEM).count() == 3
    assert OutboxMessage.objects.count() == 1
    # The agent's next reply continues the thread, leaving the out-of-office mail out.
    reply(ticket=ticket, author=None, text="Any news on your side?")
    second = message_from_bytes(sink.received[1].content, policy=policy.default)
    assert second["In-Reply-To"].strip() == ours["Message-ID"]
    assert second["References"].split() == ["<first.1@mail.example.cn>", ours["Message-ID"]]


def test_dsn_through_the_listener_marks_the_reply_failed(listener, live_connection, sink):
    smtp_send(listener, samples.plain())
    ticket = Ticket.objects.get()
    outbound = reply(ticket=ticket, author=None, text="We are on it.")
    ours = message_from_bytes(sink.received[0].content, policy=policy.default)
    smtp_send(listener, samples.dsn(original_message_id=ours["Message-ID"].strip("<>")), sender="")
    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.FAILED
    assert "5.1.1" in outbound.failure_reason
    assert len(sink.received) == 1


def test_relay_answering_5xx_fails_the_reply_for_good(db, sink):
    connection = make_email_connection(smtp_port=str(sink.port))
    from channels_hub.email_ingest import ingest_email

    ingest_email(samples.plain().as_bytes(), connection=connection)
    sink.answer_rcpt = "550 5.1.1 No such user"
    outbound = reply(ticket=Ticket.objects.get(), author=None, text="Hello")
    with pytest.raises(PermanentDeliveryError, match="550"):
        adapter_for("email").send(outbound, connection)
    deliver_message({"message_id": outbound.pk})
    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.FAILED
    assert "550" in outbound.failure_reason


def test_relay_answering_4xx_or_unreachable_is_retried(db, sink):
    connection = make_email_connection(smtp_port=str(sink.port))
    from channels_hub.email_ingest import ingest_email

    ingest_email(samples.plain().as_bytes(), connection=connection)
    outbound = reply(ticket=Ticket.objects.get(), author=None, text="Hello")
    sink.answer_rcpt = "451 4.3.0 Try later"
    with pytest.raises(TransientDeliveryError, match="451"):
        deliver_message({"message_id": outbound.pk})
    connection.settings["smtp_port"] = str(free_port())  # nobody listens there
    connection.save()
    with pytest.raises(TransientDeliveryError):
        deliver_message({"message_id": outbound.pk})
    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.QUEUED
    connection.refresh_from_db()
    assert connection.health == "failing"


def test_send_test_reaches_the_relay(db, sink):
    connection = make_email_connection(smtp_port=str(sink.port))
    adapter_for("email").send_test(connection, "owner@brand.example")
    (received,) = sink.received
    assert received.rcpt_tos == ["owner@brand.example"]


def test_reply_without_a_customer_email_fails_with_the_reason(db, sink):
    connection = make_email_connection(smtp_port=str(sink.port))
    from customers.models import Customer

    ticket = Ticket.objects.create(customer=Customer.objects.create(name="No mail"), subject="s")
    outbound = reply(ticket=ticket, author=None, text="Hello", channel=Channel.EMAIL)
    deliver_message({"message_id": outbound.pk})
    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.FAILED
    assert connection.pk and not sink.received


def test_acknowledgement_rule_answers_the_customer_but_never_an_out_of_office(
    listener, live_connection, sink
):
    """With automation acknowledging every customer message, the customer's auto-replier
    and ours would ping-pong; an automatic email fires no rule at all."""
    from tests.factories import AutomationRuleFactory, MacroFactory
    from tickets.automation.engine import forget_active_triggers
    from tickets.models import AutomationRun

    macro = MacroFactory()
    AutomationRuleFactory(
        events=["inbound_message"],
        actions=[{"action": "send_macro", "value": str(macro.pk)}],
    )
    forget_active_triggers()
    smtp_send(listener, samples.plain())
    assert len(sink.received) == 1  # the acknowledgement of the customer's email
    ack = message_from_bytes(sink.received[0].content, policy=policy.default)
    assert ack["Auto-Submitted"] == "auto-replied"  # their auto-replier must keep quiet
    runs = AutomationRun.objects.count()
    for number in range(3):
        auto = samples.auto_reply(
            subject=str(ack["Subject"]),
            in_reply_to=ack["Message-ID"],
            headers={"Auto-Submitted": "auto-replied"},
        )
        auto.replace_header("Message-ID", f"<ooo.{number}@mail.example.cn>")
        smtp_send(listener, auto)
    assert len(sink.received) == 1
    assert AutomationRun.objects.count() == runs
    assert Message.objects.filter(author_kind=AuthorKind.SYSTEM, direction="inbound").count() == 3
