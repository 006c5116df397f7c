"""IMAP polling of a brand's mailbox: each message is fetched once, by UID.

The folder is opened read-only (``EXAMINE``) and read with ``BODY.PEEK[]``, so the
mailbox is left as it was for people who also read it. ``EmailMailbox`` keeps the
folder's UIDVALIDITY and the last UID stored: a poll asks for the UIDs above it and
moves it forward after each stored message, so a crash resumes after the last one; a
new UIDVALIDITY (the folder was rebuilt) starts over, and the Message-ID dedupe makes
that a no-op for what was already stored. Two pollers of one mailbox never overlap:
each claims it with a conditional UPDATE on a lease.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
import ssl
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from channels_hub.connections import record_health
from channels_hub.email_ingest import ingest_email
from channels_hub.email_models import EmailMailbox
from channels_hub.models import ChannelConnection
from tickets.models import Channel

logger = logging.getLogger(__name__)

BATCH = 50
LEASE = timedelta(minutes=10)
DEFAULT_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


@dataclass
class PollSummary:
    fetched: int = 0
    stored: int = 0
    skipped: int = 0
    claimed: bool = True
    error: str = ""


def polled_connections() -> list[int]:
    """Active email connections with an IMAP server set."""
    return [
        c.pk
        for c in ChannelConnection.objects.filter(channel=Channel.EMAIL, is_active=True)
        if c.setting("imap_host")
    ]


def open_imap(connection: ChannelConnection) -> imaplib.IMAP4:
    security = connection.setting("imap_security").strip().lower()
    security = security if security in DEFAULT_PORTS else "ssl"
    host = connection.setting("imap_host")
    port = int(connection.setting("imap_port") or DEFAULT_PORTS.get(security, 993))
    timeout = settings.EMAIL_NETWORK_TIMEOUT_SECONDS
    if security == "ssl":
        return imaplib.IMAP4_SSL(
            host, port, ssl_context=ssl.create_default_context(), timeout=timeout
        )
    client = imaplib.IMAP4(host, port, timeout=timeout)
    if security == "starttls":
        client.starttls(ssl_context=ssl.create_default_context())
    return client


def poll_mailbox(connection_id: int) -> PollSummary:
    connection = ChannelConnection.objects.filter(
        pk=connection_id, channel=Channel.EMAIL, is_active=True
    ).first()
    if connection is None or not connection.setting("imap_host"):
        return PollSummary(claimed=False)
    folder = connection.setting("imap_folder", "INBOX") or "INBOX"
    mailbox, _created = EmailMailbox.objects.get_or_create(connection=connection, folder=folder)
    if not _claim(mailbox):
        return PollSummary(claimed=False)
    summary = PollSummary()
    try:
        _poll(connection, mailbox, summary)
    except (imaplib.IMAP4.error, OSError, ValueError) as exc:
        summary.error = f"IMAP {connection.setting('imap_host')}: {exc}"[:500]
        logger.warning("imap poll of connection %s failed: %s", connection.pk, summary.error)
        record_health(connection, error=summary.error)
    finally:
        EmailMailbox.objects.filter(pk=mailbox.pk).update(
            locked_until=None,
            last_polled_at=timezone.now(),
            last_error=summary.error,
            uidvalidity=mailbox.uidvalidity,
            last_uid=mailbox.last_uid,
        )
    return summary


def _claim(mailbox: EmailMailbox) -> bool:
    from django.db.models import Q

    now = timezone.now()
    return bool(
        EmailMailbox.objects.filter(pk=mailbox.pk)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=now + LEASE)
    )


def _poll(connection: ChannelConnection, mailbox: EmailMailbox, summary: PollSummary) -> None:
    client = open_imap(connection)
    try:
        client.login(connection.setting("imap_user"), connection.secrets.get("imap_password", ""))
        status, _data = client.select(_quoted(mailbox.folder), readonly=True)
        if status != "OK":
            raise imaplib.IMAP4.error(f"cannot open folder {mailbox.folder}")
        _kind, values = client.response("UIDVALIDITY")
        uidvalidity = int(values[0]) if values and values[0] else 0
        if uidvalidity != mailbox.uidvalidity:
            mailbox.uidvalidity, mailbox.last_uid = uidvalidity, 0
        status, data = client.uid("SEARCH", None, f"UID {mailbox.last_uid + 1}:*")
        if status != "OK":
            raise imaplib.IMAP4.error("UID SEARCH failed")
        # "n:*" also matches the highest UID when it is below n: keep only the new ones.
        uids = sorted(int(u) for u in (data[0] or b"").split() if int(u) > mailbox.last_uid)
        for uid in uids[:BATCH]:
            summary.fetched += 1
            if _fetch_and_store(client, connection, uid):
                summary.stored += 1
            else:
                summary.skipped += 1
            mailbox.last_uid = uid
            EmailMailbox.objects.filter(pk=mailbox.pk).update(
                uidvalidity=mailbox.uidvalidity, last_uid=uid
            )
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()


def _fetch_and_store(client: imaplib.IMAP4, connection: ChannelConnection, uid: int) -> bool:
    status, data = client.uid("FETCH", str(uid), "(RFC822.SIZE)")
    match = SIZE.search(b" ".join(d for d in data if isinstance(d, bytes))) if data else None
    if status == "OK" and match and int(match.group(1)) > settings.SMTP_INGRESS_MAX_BYTES:
        logger.warning("imap: UID %s of connection %s is too large, skipped", uid, connection.pk)
        return False
    status, data = client.uid("FETCH", str(uid), "(BODY.PEEK[])")
    raw = next((part[1] for part in data or [] if isinstance(part, tuple)), None)
    if status != "OK" or not raw:
        logger.warning("imap: UID %s of connection %s could not be read", uid, connection.pk)
        return False
    outcome = ingest_email(bytes(raw), connection=connection)
    return outcome.status in ("stored", "automatic", "receipt")


def _quoted(folder: str) -> str:
    return folder if folder.isalnum() else '"' + folder.replace('"', '\\"') + '"'
