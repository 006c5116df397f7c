"""IMAP polling with a mocked ``imaplib.IMAP4`` that answers like a real server (UID
SEARCH ``n:*`` also returns the highest UID, FETCH answers tuples, EXAMINE gives the
UIDVALIDITY): each message is fetched once and stored once."""

from __future__ import annotations

import imaplib

import pytest
from django.conf import settings

from channels_hub.email_imap import poll_mailbox
from channels_hub.email_models import EmailMailbox
from channels_hub.email_tasks import poll_email_mailboxes
from tests.channels_hub import email_samples as samples
from tickets.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


class FakeMailServer:
    def __init__(self) -> None:
        self.messages: dict[int, bytes] = {}
        self.uidvalidity = 42
        self.body_fetches: list[int] = []
        self.logins: list[tuple[str, str]] = []
        self.readonly: list[bool] = []
        self.fail_with: Exception | None = None

    def add(self, uid: int, raw: bytes) -> None:
        self.messages[uid] = raw


class FakeIMAP4:
    error = imaplib.IMAP4.error
    server: FakeMailServer

    def __init__(self, host: str, port: int, timeout: float | None = None) -> None:
        if self.server.fail_with is not None:
            raise self.server.fail_with
        self.address = (host, port)

    def login(self, user: str, password: str):
        self.server.logins.append((user, password))
        return "OK", [b"LOGIN completed"]

    def select(self, mailbox: str = "INBOX", readonly: bool = False):
        self.server.readonly.append(readonly)
        return "OK", [str(len(self.server.messages)).encode()]

    def response(self, code: str):
        assert code == "UIDVALIDITY"
        return code, [str(self.server.uidvalidity).encode()]

    def uid(self, command: str, *args):
        uids = sorted(self.server.messages)
        if command == "SEARCH":
            low = int(args[1].split()[1].split(":")[0])
            found = [u for u in uids if u >= low] or uids[-1:]  # "n:*" matches the last one
            return "OK", [" ".join(map(str, found)).encode()]
        assert command == "FETCH"
        uid, what = int(args[0]), args[1]
        raw = self.server.messages[uid]
        if what == "(RFC822.SIZE)":
            return "OK", [f"1 (UID {uid} RFC822.SIZE {len(raw)})".encode()]
        assert what == "(BODY.PEEK[])"
        self.server.body_fetches.append(uid)
        return "OK", [(f"1 (UID {uid} BODY[] {{{len(raw)}}}".encode(), raw), b")"]

    def logout(self):
        return "BYE", [b"logging out"]


@pytest.fixture
def mail_server(monkeypatch):
    server = FakeMailServer()
    fake = type("BoundFakeIMAP4", (FakeIMAP4,), {"server": server})
    monkeypatch.setattr(imaplib, "IMAP4", fake)
    return server


@pytest.fixture
def imap_connection(db):
    return samples.make_email_connection(
        imap_host="imap.brand.example", imap_security="none", imap_user="support"
    )


def test_poll_stores_new_messages_and_fetches_each_once(mail_server, imap_connection):
    mail_server.add(3, samples.plain(message_id="<a@x>").as_bytes())
    mail_server.add(7, samples.plain(message_id="<b@x>", body="Second").as_bytes())
    summary = poll_mailbox(imap_connection.pk)
    assert (summary.fetched, summary.stored) == (2, 2)
    assert mail_server.logins == [("support", "imap-secret")]
    assert mail_server.readonly == [True]  # EXAMINE: the mailbox is left as it was
    assert Message.objects.count() == 2
    mailbox = EmailMailbox.objects.get()
    assert (mailbox.uidvalidity, mailbox.last_uid, mailbox.locked_until) == (42, 7, None)

    again = poll_mailbox(imap_connection.pk)
    assert again.fetched == 0
    assert mail_server.body_fetches == [3, 7]

    mail_server.add(9, samples.plain(message_id="<c@x>", body="Third").as_bytes())
    poll_mailbox(imap_connection.pk)
    assert mail_server.body_fetches == [3, 7, 9]
    assert Message.objects.count() == 3


def test_new_uidvalidity_refetches_but_stores_nothing_twice(mail_server, imap_connection):
    mail_server.add(1, samples.plain(message_id="<a@x>").as_bytes())
    poll_mailbox(imap_connection.pk)
    mail_server.uidvalidity = 43
    summary = poll_mailbox(imap_connection.pk)
    assert summary.fetched == 1
    assert Message.objects.count() == 1
    assert EmailMailbox.objects.get().uidvalidity == 43


def test_a_second_poller_of_the_same_mailbox_does_nothing(mail_server, imap_connection):
    mail_server.add(1, samples.plain().as_bytes())
    poll_mailbox(imap_connection.pk)  # creates the mailbox row
    from datetime import timedelta

    from django.utils import timezone

    EmailMailbox.objects.update(locked_until=timezone.now() + timedelta(minutes=5), last_uid=0)
    assert poll_mailbox(imap_connection.pk).claimed is False


def test_too_large_message_is_skipped_and_not_fetched(mail_server, imap_connection, settings):
    settings.SMTP_INGRESS_MAX_BYTES = 1024
    mail_server.add(1, samples.plain(body="x" * 4000).as_bytes())
    summary = poll_mailbox(imap_connection.pk)
    assert (summary.fetched, summary.skipped) == (1, 1)
    assert mail_server.body_fetches == []
    assert EmailMailbox.objects.get().last_uid == 1


def test_unreachable_server_is_recorded_on_the_connection(mail_server, imap_connection):
    mail_server.fail_with = ConnectionRefusedError("connection refused")
    summary = poll_mailbox(imap_connection.pk)
    assert "connection refused" in summary.error
    imap_connection.refresh_from_db()
    assert imap_connection.health == "failing"
    assert EmailMailbox.objects.get().locked_until is None


def test_beat_task_polls_every_connected_mailbox(mail_server, imap_connection):
    assert (
        settings.CELERY_BEAT_SCHEDULE["email-imap-poll"]["task"]
        == "channels_hub.email_tasks.poll_email_mailboxes"
    )
    samples.make_email_connection(from_address="other@brand2.example")  # no IMAP: not polled
    mail_server.add(1, samples.plain().as_bytes())
    poll_email_mailboxes.apply()
    poll_email_mailboxes.apply()
    assert Message.objects.count() == 1
    assert mail_server.body_fetches == [1]
