"""thread_inbound_message: which ticket a customer's message lands on, and what is refused."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from customers.identity import IdentityClaim
from customers.models import Customer, Identity, IdentityKind
from omniservice.errors import DomainError
from tests.factories import StoreFactory
from tickets.attachments import (
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENTS_PER_MESSAGE,
    check_attachments,
    sniff_content_type,
)
from tickets.models import (
    Attachment,
    AuthorKind,
    Channel,
    DeliveryStatus,
    Direction,
    Message,
    Ticket,
    TicketStatus,
    TicketStatusChange,
)
from tickets.services import MAX_BODY_CHARS, thread_inbound_message

pytestmark = pytest.mark.django_db

PHONE = IdentityClaim(IdentityKind.PHONE, "+8613812345678")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"


def inbound(text: str = "Where is my order?", **kwargs):
    kwargs.setdefault("channel", Channel.WEB_CHAT)
    kwargs.setdefault("external_id", None)
    kwargs.setdefault("identities", [PHONE])
    return thread_inbound_message(text=text, **kwargs)


def set_status(ticket: Ticket, status: str, **fields) -> None:
    Ticket.objects.filter(pk=ticket.pk).update(status=status, **fields)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


# --- which ticket -----------------------------------------------------------------------


def test_first_message_of_a_new_customer_opens_a_new_ticket():
    result = inbound("Where is my order?", channel=Channel.WHATSAPP, external_id="wamid-1")

    ticket = result.ticket
    assert result.created_ticket and not result.reopened and not result.duplicate
    assert ticket.status == TicketStatus.NEW
    assert ticket.origin_channel == ticket.last_channel == Channel.WHATSAPP
    assert ticket.subject == "Where is my order?"
    assert ticket.last_customer_message_at is not None
    assert Identity.objects.get(kind=IdentityKind.PHONE).customer_id == ticket.customer_id
    [history] = TicketStatusChange.objects.filter(ticket=ticket)
    assert (history.from_status, history.to_status) == ("", TicketStatus.NEW)
    assert history.actor_label == "channel:whatsapp"
    message = result.message
    assert (message.direction, message.author_kind) == (Direction.INBOUND, AuthorKind.CUSTOMER)
    assert (message.channel, message.external_id) == (Channel.WHATSAPP, "wamid-1")
    assert message.delivery_status == DeliveryStatus.RECEIVED
    assert message.body_text == "Where is my order?"


def test_subject_is_the_first_80_characters_of_the_text_on_one_line():
    result = inbound("  Hello\n\nmy   parcel  " + "x" * 200)

    assert result.ticket.subject.startswith("Hello my parcel xxx")
    assert len(result.ticket.subject) == 80
    assert result.ticket.subject.endswith("…")


def test_an_explicit_subject_wins_over_the_text():
    result = inbound("body", subject="Refund request")

    assert result.ticket.subject == "Refund request"


def test_message_on_another_channel_continues_the_customers_open_ticket():
    first = inbound("Hi on chat", channel=Channel.WEB_CHAT)

    second = inbound("Hi again by SMS", channel=Channel.SMS)

    assert second.ticket.pk == first.ticket.pk
    assert not second.created_ticket
    ticket = Ticket.objects.get()
    assert ticket.origin_channel == Channel.WEB_CHAT
    assert ticket.last_channel == Channel.SMS
    assert ticket.messages.count() == 2
    assert Customer.objects.count() == 1


def test_customer_writing_on_a_pending_ticket_moves_it_back_to_open():
    ticket = inbound().ticket
    set_status(ticket, TicketStatus.PENDING)

    result = inbound("Here is the photo")

    assert result.ticket.pk == ticket.pk
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN
    last = TicketStatusChange.objects.filter(ticket=ticket).latest("pk")
    assert (last.from_status, last.to_status, last.actor) == ("pending", "open", None)


@pytest.mark.parametrize("status", [TicketStatus.OPEN, TicketStatus.ON_HOLD])
def test_customer_writing_on_an_open_or_held_ticket_keeps_its_status(status):
    ticket = inbound().ticket
    set_status(ticket, status)

    inbound("More details")

    ticket.refresh_from_db()
    assert ticket.status == status


@override_settings(TICKET_REOPEN_DAYS=7)
def test_ticket_solved_within_the_reopen_window_is_reopened():
    ticket = inbound().ticket
    set_status(ticket, TicketStatus.SOLVED, solved_at=timezone.now() - timedelta(days=6))

    result = inbound("It broke again")

    assert result.ticket.pk == ticket.pk
    assert result.reopened and not result.created_ticket
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN
    assert ticket.reopen_count == 1
    assert ticket.solved_at is None
    assert ticket.messages.count() == 2


@override_settings(TICKET_REOPEN_DAYS=7)
def test_ticket_solved_longer_ago_than_the_window_is_left_and_a_new_one_opens():
    old = inbound().ticket
    set_status(old, TicketStatus.SOLVED, solved_at=timezone.now() - timedelta(days=8))

    result = inbound("A new problem")

    assert result.created_ticket and not result.reopened
    assert result.ticket.pk != old.pk
    old.refresh_from_db()
    assert (old.status, old.reopen_count) == (TicketStatus.SOLVED, 0)


@override_settings(TICKET_REOPEN_DAYS=2)
def test_reopen_window_follows_the_setting():
    old = inbound().ticket
    set_status(old, TicketStatus.SOLVED, solved_at=timezone.now() - timedelta(days=3))

    assert inbound("again").ticket.pk != old.pk


def test_closed_ticket_is_never_continued():
    old = inbound().ticket
    set_status(
        old,
        TicketStatus.CLOSED,
        solved_at=timezone.now() - timedelta(hours=1),
        closed_at=timezone.now() - timedelta(minutes=1),
    )

    result = inbound("Hello?")

    assert result.created_ticket
    assert result.ticket.pk != old.pk
    old.refresh_from_db()
    assert old.status == TicketStatus.CLOSED
    assert old.messages.count() == 1


def test_same_channel_and_external_id_twice_stores_the_message_once():
    first = inbound("Hello", channel=Channel.WHATSAPP, external_id="wamid-7")

    again = inbound("Hello (retried)", channel=Channel.WHATSAPP, external_id="wamid-7")

    assert again.duplicate and not again.created_ticket
    assert again.message.pk == first.message.pk
    assert again.ticket.pk == first.ticket.pk
    assert Message.objects.count() == 1
    assert Message.objects.get().body_text == "Hello"


def test_same_external_id_on_another_channel_is_another_message():
    inbound(channel=Channel.WHATSAPP, external_id="id-1")

    other = inbound(channel=Channel.SMS, external_id="id-1")

    assert not other.duplicate
    assert Message.objects.count() == 2


def test_store_given_on_the_message_sets_the_tickets_store():
    store = StoreFactory()

    result = inbound(channel=Channel.STORE, store=store)

    assert result.ticket.store_id == store.pk
    assert result.message.store_id == store.pk


def test_store_on_a_later_message_fills_an_empty_store_but_never_replaces_one():
    store_one, store_two = StoreFactory(), StoreFactory()
    ticket = inbound(channel=Channel.WEB_CHAT).ticket
    assert ticket.store_id is None

    inbound("at the counter", channel=Channel.STORE, store=store_one)
    inbound("at another counter", channel=Channel.STORE, store=store_two)

    ticket.refresh_from_db()
    assert ticket.store_id == store_one.pk


def test_html_message_is_sanitised_and_gives_its_text():
    result = inbound(
        "", html='<p onclick="x()">Hi <script>alert(1)</script><a href="javascript:x">you</a></p>'
    )

    message = result.message
    assert "script" not in message.body_html
    assert "onclick" not in message.body_html
    assert "javascript" not in message.body_html
    assert message.body_text == "Hi you"


# --- what is refused --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "html"), [("", ""), ("   \n\t", ""), ("", "<p> </p><script>x()</script>")]
)
def test_message_without_text_or_attachment_is_refused(text, html):
    with pytest.raises(DomainError) as error:
        inbound(text, html=html)

    assert error.value.code == "empty_message"
    assert not Ticket.objects.exists()


def test_message_over_20000_characters_is_refused():
    with pytest.raises(DomainError) as error:
        inbound("x" * (MAX_BODY_CHARS + 1))

    assert error.value.code == "message_too_long"
    assert not Customer.objects.exists()


def test_message_of_exactly_20000_characters_is_accepted():
    assert len(inbound("x" * MAX_BODY_CHARS).message.body_text) == MAX_BODY_CHARS


def test_unknown_channel_is_refused():
    with pytest.raises(DomainError) as error:
        inbound(channel="carrier_pigeon")

    assert error.value.code == "unknown_channel"
    assert not Customer.objects.exists()


# --- attachments ------------------------------------------------------------------------


def test_attachments_are_stored_with_the_sniffed_type_size_and_sha256(media):
    uploads = check_attachments([("photo.txt", PNG), ("notes.bin", "收据 receipt".encode())])

    result = inbound("", attachments=uploads)

    assert result.message.body_text == ""
    stored = {a.filename: a for a in Attachment.objects.filter(message=result.message)}
    assert set(stored) == {"photo.txt", "notes.bin"}
    photo, notes = stored["photo.txt"], stored["notes.bin"]
    assert (photo.content_type, photo.size) == ("image/png", len(PNG))
    assert photo.sha256 == hashlib.sha256(PNG).hexdigest()
    assert notes.content_type == "text/plain"
    assert notes.sha256 == hashlib.sha256("收据 receipt".encode()).hexdigest()
    with photo.file.open("rb") as handle:
        assert handle.read() == PNG
    assert photo.file.name.startswith(f"attachments/{photo.sha256[:2]}/")


def test_attachment_file_name_cannot_climb_out_of_its_folder():
    [upload] = check_attachments([("../../etc/passwd", b"root")])

    assert "/" not in upload.filename
    assert "\\" not in upload.filename


@pytest.mark.parametrize(
    ("files", "code"),
    [
        ([("setup.exe", EXE)], "unsupported_attachment_type"),
        ([("photo.png", EXE)], "unsupported_attachment_type"),
        ([("big.txt", b"a" * (MAX_ATTACHMENT_BYTES + 1))], "attachment_too_large"),
        ([("empty.txt", b"")], "empty_attachment"),
        (
            [(f"{n}.txt", b"hi") for n in range(MAX_ATTACHMENTS_PER_MESSAGE + 1)],
            "too_many_attachments",
        ),
    ],
    ids=["exe", "exe-named-png", "too-large", "empty", "too-many"],
)
def test_refused_attachments_name_their_reason(files, code):
    with pytest.raises(DomainError) as error:
        check_attachments(files)

    assert error.value.code == code


def test_the_attachment_limits_themselves_are_accepted():
    files = [(f"{n}.txt", b"a") for n in range(MAX_ATTACHMENTS_PER_MESSAGE - 1)]
    files.append(("max.txt", b"a" * MAX_ATTACHMENT_BYTES))

    uploads = check_attachments(files)

    assert len(uploads) == MAX_ATTACHMENTS_PER_MESSAGE
    assert uploads[-1].content_type == "text/plain"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"GIF87a\x01\x00", "image/gif"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        ("plain 文本".encode(), "text/plain"),
        (b"text with a \x00 byte", None),
        (EXE, None),
        (b"PK\x03\x04\x14\x00\x08\x00\xb7\xac", None),
    ],
)
def test_the_bytes_decide_the_content_type(content, content_type):
    assert sniff_content_type(content) == content_type
