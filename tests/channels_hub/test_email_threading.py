"""Threading of inbound email: headers first, then the ticket number, never the subject
text; automatic mail is kept on its ticket and never answered."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from channels_hub.delivery import deliver_message
from channels_hub.email_ingest import ingest_email
from channels_hub.email_models import EmailRecord
from customers.models import Identity
from omniservice.outbox.models import OutboxMessage
from tests.channels_hub import email_samples as samples
from tickets.models import (
    AuthorKind,
    DeliveryStatus,
    Direction,
    Message,
    Ticket,
    TicketStatus,
)
from tickets.services import change_status, reply

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def sink():
    yield from samples.run_sink()


@pytest.fixture
def mail_connection(db, sink):
    return samples.make_email_connection(smtp_port=str(sink.port))


def receive(connection, msg, **kwargs):
    raw = msg if isinstance(msg, bytes) else msg.as_bytes()
    return ingest_email(raw, connection=connection, **kwargs)


def answer(ticket, sink, text="We are looking into it."):
    """An agent's reply, delivered to the local SMTP sink; returns it and the sent email."""
    outbound = reply(ticket=ticket, author=None, text=text)
    deliver_message({"message_id": outbound.pk})
    outbound.refresh_from_db()
    sent = message_from_bytes(sink.received[-1].content, policy=policy.default)
    return outbound, sent


def test_first_email_opens_a_ticket_for_the_sender_with_its_message_id(mail_connection):
    outcome = receive(mail_connection, samples.plain())
    assert outcome.status == "stored"
    message = Message.objects.get()
    assert message.external_id == "first.1@mail.example.cn"
    assert message.ticket.subject == "Where is my order?"
    assert message.ticket.customer.name == "Li Na"
    assert Identity.objects.get(kind="email").value == samples.CUSTOMER
    record = EmailRecord.objects.get()
    assert (record.message_key, record.connection) == ("first.1@mail.example.cn", mail_connection)


def test_the_same_email_twice_is_stored_once(mail_connection):
    receive(mail_connection, samples.plain())
    assert receive(mail_connection, samples.plain()).status == "duplicate"
    assert Message.objects.count() == 1


def _conversation(connection, sink):
    receive(connection, samples.plain())
    ticket = Ticket.objects.get()
    _outbound, sent = answer(ticket, sink)
    return ticket, sent


@pytest.mark.parametrize("dropped", ["in_reply_to", "references"])
def test_reply_threads_when_the_client_keeps_only_one_threading_header(
    mail_connection, sink, dropped
):
    ticket, sent = _conversation(mail_connection, sink)
    other = Ticket.objects.create(customer=ticket.customer, subject="Another question")
    headers = {
        "in_reply_to": sent["Message-ID"],
        "references": f"<first.1@mail.example.cn> {sent['Message-ID']}",
    }
    headers[dropped] = None
    outcome = receive(
        mail_connection,
        samples.plain(
            subject="Re: something else entirely",
            body="Thanks, any news?",
            message_id="<second.1@mail.example.cn>",
            **headers,
        ),
    )
    # The customer's most recently updated open ticket is "other": the headers win.
    assert outcome.ticket_id == ticket.pk != other.pk


def test_reply_with_only_the_ticket_number_in_the_subject_threads(mail_connection, sink):
    ticket, _sent = _conversation(mail_connection, sink)
    other = Ticket.objects.create(customer=ticket.customer, subject="Another question")
    outcome = receive(
        mail_connection,
        samples.plain(
            subject=f"Re: Where is my order? [#{ticket.pk}]",
            body="Any news?",
            message_id="<noheaders.1@mail.example.cn>",
        ),
    )
    assert outcome.ticket_id == ticket.pk != other.pk


def test_ticket_number_from_someone_who_is_not_its_customer_is_ignored(mail_connection, sink):
    ticket, _sent = _conversation(mail_connection, sink)
    outcome = receive(
        mail_connection,
        samples.plain(
            sender="intruder@evil.example",
            subject=f"Re: [#{ticket.pk}]",
            message_id="<intruder.1@evil.example>",
        ),
    )
    assert outcome.ticket_id != ticket.pk
    assert Ticket.objects.get(pk=outcome.ticket_id).customer_id != ticket.customer_id


def test_same_subject_text_without_headers_or_number_never_threads(mail_connection, sink):
    ticket, _sent = _conversation(mail_connection, sink)
    outcome = receive(
        mail_connection,
        samples.plain(
            sender="someone.else@example.cn",
            subject="Re: Where is my order?",
            message_id="<other.1@example.cn>",
        ),
    )
    assert outcome.status == "stored"
    assert outcome.ticket_id != ticket.pk


def test_neither_header_nor_number_after_the_ticket_closed_opens_a_new_ticket(
    mail_connection, sink
):
    ticket, _sent = _conversation(mail_connection, sink)
    change_status(ticket=ticket, status=TicketStatus.SOLVED, actor=None)
    change_status(ticket=ticket, status=TicketStatus.CLOSED, actor=None)
    outcome = receive(
        mail_connection,
        samples.plain(subject="Re: Where is my order?", message_id="<late.1@mail.example.cn>"),
    )
    assert outcome.status == "stored"
    assert outcome.ticket_id != ticket.pk
    assert Ticket.objects.get(pk=outcome.ticket_id).subject == "Where is my order?"


def test_reply_to_a_solved_ticket_reopens_that_ticket(mail_connection, sink):
    ticket, sent = _conversation(mail_connection, sink)
    change_status(ticket=ticket, status=TicketStatus.SOLVED, actor=None)
    outcome = receive(
        mail_connection,
        samples.plain(
            subject="Re: again", message_id="<again.1@x>", in_reply_to=sent["Message-ID"]
        ),
    )
    ticket.refresh_from_db()
    assert (outcome.ticket_id, ticket.status) == (ticket.pk, TicketStatus.OPEN)


def test_reply_to_a_merged_ticket_lands_on_the_ticket_it_was_merged_into(mail_connection, sink):
    from tickets.services import merge_tickets

    ticket, sent = _conversation(mail_connection, sink)
    target = Ticket.objects.create(customer=ticket.customer, subject="Main")
    merge_tickets(source=ticket, target=target, actor=None)
    outcome = receive(
        mail_connection,
        samples.plain(subject="Re", message_id="<m.2@x>", in_reply_to=sent["Message-ID"]),
    )
    assert outcome.ticket_id == target.pk


def test_auto_reply_to_our_reply_is_kept_on_the_ticket_and_never_answered(mail_connection, sink):
    ticket, sent = _conversation(mail_connection, sink)
    change_status(ticket=ticket, status=TicketStatus.PENDING, actor=None)
    outbox_before = OutboxMessage.objects.count()
    outcome = receive(
        mail_connection,
        samples.auto_reply(
            subject=str(sent["Subject"]),
            in_reply_to=sent["Message-ID"],
            headers={"Auto-Submitted": "auto-replied"},
        ),
    )
    assert (outcome.status, outcome.ticket_id) == ("automatic", ticket.pk)
    auto = Message.objects.get(external_id="ooo.1@mail.example.cn")
    assert (auto.direction, auto.author_kind) == (Direction.INBOUND, AuthorKind.SYSTEM)
    assert EmailRecord.objects.get(message=auto).auto_kind == "auto_reply"
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.PENDING  # not "the customer replied"
    assert OutboxMessage.objects.count() == outbox_before
    assert len(sink.received) == 1  # only our reply ever left


def test_auto_reply_that_threads_nowhere_is_dropped(mail_connection):
    outcome = receive(
        mail_connection,
        samples.auto_reply(subject="hi", in_reply_to="<unknown@x>", headers={"Precedence": "bulk"}),
    )
    assert (outcome.status, outcome.reason) == ("ignored", "automatic_unthreaded")
    assert not Ticket.objects.exists()
    assert not Message.objects.exists()


def test_dsn_marks_our_reply_failed_with_the_reason(mail_connection, sink):
    _ticket, sent = _conversation(mail_connection, sink)
    outbound = Message.objects.get(direction=Direction.OUTBOUND)
    assert outbound.delivery_status == DeliveryStatus.SENT
    outcome = receive(
        mail_connection,
        samples.dsn(original_message_id=sent["Message-ID"].strip("<>")),
        envelope_sender="",
    )
    assert outcome.status == "receipt"
    outbound.refresh_from_db()
    assert outbound.delivery_status == DeliveryStatus.FAILED
    assert "5.1.1" in outbound.failure_reason
    assert "User unknown" in outbound.failure_reason
    assert Message.objects.filter(direction=Direction.INBOUND).count() == 1  # no new message
    assert len(sink.received) == 1


def test_read_receipt_marks_our_reply_read(mail_connection, sink):
    _ticket, sent = _conversation(mail_connection, sink)
    outcome = receive(
        mail_connection, samples.mdn(original_message_id=sent["Message-ID"].strip("<>"))
    )
    assert outcome.status == "receipt"
    outbound = Message.objects.get(direction=Direction.OUTBOUND)
    assert outbound.delivery_status == DeliveryStatus.READ
    assert Message.objects.count() == 2  # the customer's email and our reply, nothing more


def test_dsn_about_a_message_we_never_sent_is_not_a_ticket(mail_connection):
    outcome = receive(mail_connection, samples.dsn(original_message_id="nope@elsewhere"))
    assert outcome.status == "ignored"
    assert not Ticket.objects.exists()


def test_mail_from_our_own_address_is_never_taken_in(mail_connection):
    outcome = receive(mail_connection, samples.plain(sender=f"Support <{samples.SUPPORT}>"))
    assert (outcome.status, outcome.reason) == ("ignored", "own_message")
    assert not Message.objects.exists()


def test_attachments_and_refusals_are_stored_with_the_message(mail_connection):
    receive(mail_connection, samples.with_attachments())
    message = Message.objects.get()
    assert sorted(a.filename for a in message.attachments.all()) == ["receipt.pdf", "照片.png"]
    assert "invoice.exe" in message.body_text


def test_html_is_sanitised_on_the_way_in(mail_connection):
    receive(mail_connection, samples.html_only())
    message = Message.objects.get()
    assert "<script>" not in message.body_html and "onclick" not in message.body_html
    assert "<b>team</b>" in message.body_html
    assert "Order 7" in message.body_text


def test_gbk_email_opens_a_ticket_with_the_chinese_subject(mail_connection):
    receive(mail_connection, samples.gbk_raw())
    ticket = Ticket.objects.get()
    assert ticket.subject == "朱镕的订单还没到"
    assert ticket.customer.name == "朱先生"


def test_email_without_a_usable_sender_is_logged_and_dropped(mail_connection):
    outcome = receive(mail_connection, samples.plain(sender="undisclosed-recipients:;"))
    assert outcome.status == "ignored"
    assert not Message.objects.exists()


def test_webhook_url_of_an_email_connection_is_refused_without_a_write(client, mail_connection):
    response = client.post(
        f"/hooks/email/{mail_connection.webhook_key}/", data=b"x", content_type="text/plain"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_webhook"
    assert not Message.objects.exists()


def test_the_reply_goes_where_the_customer_wrote_from_not_to_another_address(mail_connection, sink):
    first = receive(mail_connection, samples.plain())
    ticket = Ticket.objects.get(pk=first.ticket_id)
    customer = ticket.customer
    Identity.objects.create(customer=customer, kind="email", value="li.na@work.example.cn")
    # The customer's newest address is the work one, but this conversation is at home.

    _outbound, sent = answer(ticket, sink)

    assert sent["To"] == samples.CUSTOMER
    assert sink.received[-1].rcpt_tos == [samples.CUSTOMER]


def test_a_reply_to_header_is_where_answers_go(mail_connection, sink):
    outcome = receive(
        mail_connection, samples.plain(headers={"Reply-To": "Li Na <orders@family.example.cn>"})
    )
    ticket = Ticket.objects.get(pk=outcome.ticket_id)

    _outbound, sent = answer(ticket, sink)

    assert sent["To"] == "orders@family.example.cn"
    assert EmailRecord.objects.get(
        message__ticket=ticket, message__direction="inbound"
    ).reply_address == ("orders@family.example.cn")


def test_a_malformed_reply_to_falls_back_to_the_sender(mail_connection, sink):
    outcome = receive(mail_connection, samples.plain(headers={"Reply-To": "not an address"}))

    _outbound, sent = answer(Ticket.objects.get(pk=outcome.ticket_id), sink)

    assert sent["To"] == samples.CUSTOMER
