"""Email in, from the SMTP listener or an IMAP mailbox: one function, ``ingest_email``.

Threading, in this order: the Message-IDs the email answers (In-Reply-To, then
References from the newest) against the emails we received and the replies we sent
(every one is kept as an ``EmailRecord``; our own Message-IDs also carry the message
number, signed, so they are recognised even without the record); then the ticket
number in the subject (``[#123]``), only when the sender is one of that ticket's
customer's email addresses; never the subject text alone. Otherwise the usual rule of
``thread_inbound_message`` applies (the customer's open ticket, else a new one).

Automatic mail is never answered: a delivery status notification about one of our
replies marks that reply failed (or delivered) with the reason, a read receipt (MDN)
marks it read; any other automatic
reply or bounce that threads onto a ticket is kept there as a system message (no
status change, no rule, no acknowledgement) and one that threads nowhere is dropped
with a log line. Mail from our own addresses (a copy of a reply in the polled mailbox)
is never taken in.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from channels_hub.adapters.base import claim
from channels_hub.email_mime import ParsedEmail, read_email
from channels_hub.email_models import EmailRecord
from channels_hub.models import ChannelConnection
from customers.identity import InvalidIdentity, normalize_value
from customers.models import Identity, IdentityKind
from omniservice.errors import DomainError
from tickets.models import Channel, DeliveryStatus, Direction, Message, Ticket
from tickets.services import record_delivery, thread_inbound_message

logger = logging.getLogger(__name__)

KEY_CHARS = 200
TICKET_NUMBER = re.compile(r"\[#(\d{1,12})\]")
REPLY_PREFIX = re.compile(
    r"^\s*((re|fw|fwd|aw|wg|sv|vs|回复|答复|回覆|转发|轉寄)\s*[:\uff1a]\s*)+", re.IGNORECASE
)
OUR_ID = re.compile(r"^omni\.(\d+)\.([0-9a-f]{16})@", re.IGNORECASE)
REFERENCES_KEPT = 20


@dataclass(frozen=True)
class EmailOutcome:
    status: str  # stored, duplicate, automatic, receipt, ignored
    reason: str = ""
    message_id: int | None = None
    ticket_id: int | None = None


# --- Message-IDs ------------------------------------------------------------------------


def message_key(message_id: str) -> str:
    """The stored form of a Message-ID (no angle brackets; hashed when too long)."""
    value = message_id.strip().strip("<>").strip()
    if len(value) > KEY_CHARS:
        return "sha256:" + hashlib.sha256(value.encode()).hexdigest()
    return value


def _signature(number: int) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"email-message-id:{number}".encode(), hashlib.sha256).hexdigest()[:16]


def our_message_id(message: Message, domain: str) -> str:
    """The Message-ID of a reply: the same on every retry, so a resend is one email."""
    return f"omni.{message.pk}.{_signature(message.pk)}@{domain or 'omniservice.invalid'}"


def message_of_our_id(message_id: str) -> int | None:
    match = OUR_ID.match(message_key(message_id))
    if match is None or not hmac.compare_digest(match.group(2).lower(), _signature(int(match[1]))):
        return None
    return int(match.group(1))


# --- connections ------------------------------------------------------------------------


def address_list(value: Any) -> list[str]:
    items = value if isinstance(value, list) else str(value or "").split(",")
    return [str(item).strip().casefold() for item in items if str(item).strip()]


def inbound_addresses(connection: ChannelConnection) -> set[str]:
    """The addresses mail for this connection is accepted at (its sender address too)."""
    addresses = set(address_list(connection.settings.get("inbound_addresses")))
    addresses.update(address_list(connection.settings.get("from_address")))
    return addresses


def base_address(address: str) -> str:
    """``support+tag@brand.example`` is ``support@brand.example``."""
    local, _at, domain = address.strip().casefold().partition("@")
    return f"{local.split('+', 1)[0]}@{domain}" if domain else local


def connection_for_address(address: str) -> ChannelConnection | None:
    wanted = base_address(address)
    for connection in ChannelConnection.objects.filter(channel=Channel.EMAIL, is_active=True):
        if wanted in inbound_addresses(connection):
            return connection
    return None


def _our_addresses() -> set[str]:
    ours: set[str] = set()
    for connection in ChannelConnection.objects.filter(channel=Channel.EMAIL):
        ours |= inbound_addresses(connection)
    return ours


# --- threading --------------------------------------------------------------------------


def thread_of(parsed: ParsedEmail) -> Ticket | None:
    """The ticket the email belongs to by its headers, then by its subject's number."""
    keys = [message_key(i) for i in parsed.thread_ids]
    if keys:
        records = dict(
            EmailRecord.objects.filter(message_key__in=keys).values_list(
                "message_key", "message__ticket_id"
            )
        )
        for key in keys:
            ticket_id = records.get(key)
            if ticket_id is None:
                number = message_of_our_id(key)
                ticket_id = (
                    Message.objects.filter(pk=number, channel=Channel.EMAIL)
                    .values_list("ticket_id", flat=True)
                    .first()
                    if number
                    else None
                )
            if ticket_id is not None:
                return Ticket.objects.filter(pk=ticket_id).first()
    return _ticket_by_subject_number(parsed)


def _ticket_by_subject_number(parsed: ParsedEmail) -> Ticket | None:
    numbers = TICKET_NUMBER.findall(parsed.subject)
    if not numbers or not parsed.sender:
        return None
    ticket = Ticket.objects.filter(pk=int(numbers[-1])).first()
    if ticket is None:
        return None
    sender = parsed.sender.casefold()
    if not Identity.objects.filter(
        customer_id=ticket.customer_id, kind=IdentityKind.EMAIL, value=sender
    ).exists():
        logger.info("email: [#%s] in the subject ignored: not from its customer", ticket.pk)
        return None
    return ticket


def clean_subject(subject: str) -> str:
    """The subject of a new ticket: no Re:/Fwd:/回复: prefixes, no [#number] tag."""
    return " ".join(TICKET_NUMBER.sub(" ", REPLY_PREFIX.sub("", subject)).split())


# --- ingest -----------------------------------------------------------------------------


def ingest_email(
    raw: bytes, *, connection: ChannelConnection, envelope_sender: str | None = None
) -> EmailOutcome:
    """Store one email (idempotent on its Message-ID); never raises on bad content."""
    parsed = read_email(raw, envelope_sender=envelope_sender)
    key = message_key(parsed.message_id) if parsed.message_id else ""
    key = key or "sha256:" + hashlib.sha256(raw).hexdigest()
    if message_of_our_id(key) is not None or parsed.sender.casefold() in _our_addresses():
        return _ignored("own_message", parsed)
    with transaction.atomic():
        if parsed.reports and _apply_reports(parsed):
            return EmailOutcome(status="receipt")
        ticket = thread_of(parsed)
        try:
            if parsed.auto_kind:
                if ticket is None:
                    return _ignored("automatic_unthreaded", parsed)
                result = thread_inbound_message(
                    channel=Channel.EMAIL,
                    external_id=key,
                    identities=(),
                    text=parsed.text or parsed.auto_reason,
                    html=parsed.html,
                    attachments=parsed.attachments,
                    ticket=ticket,
                    automated=True,
                )
            else:
                identities = [claim(IdentityKind.EMAIL, parsed.sender)]
                result = thread_inbound_message(
                    channel=Channel.EMAIL,
                    external_id=key,
                    identities=identities,
                    text=parsed.text,
                    html=parsed.html,
                    attachments=parsed.attachments,
                    subject=clean_subject(parsed.subject),
                    profile={"name": parsed.sender_name[:200]} if parsed.sender_name else {},
                    ticket=ticket,
                )
        except (InvalidIdentity, DomainError) as exc:
            return _ignored(getattr(exc, "code", "invalid") or "invalid", parsed)
        if result.duplicate:
            return EmailOutcome(
                status="duplicate", message_id=result.message.pk, ticket_id=result.ticket.pk
            )
        EmailRecord.objects.create(
            message=result.message,
            connection=connection,
            message_key=key,
            in_reply_to=message_key(parsed.in_reply_to[0]) if parsed.in_reply_to else "",
            references=" ".join(message_key(r) for r in parsed.references[-REFERENCES_KEPT:]),
            subject=parsed.subject[:300],
            reply_address=reply_address_of(parsed),
            auto_kind=parsed.auto_kind,
        )
        ChannelConnection.objects.filter(pk=connection.pk).update(last_inbound_at=timezone.now())
    logger.info(
        "email %s stored on ticket #%s%s",
        key,
        result.ticket.pk,
        f" (automatic: {parsed.auto_reason})" if parsed.auto_kind else "",
    )
    return EmailOutcome(
        status="automatic" if parsed.auto_kind else "stored",
        message_id=result.message.pk,
        ticket_id=result.ticket.pk,
    )


def _apply_reports(parsed: ParsedEmail) -> bool:
    """A DSN about our replies: their status moves; False when it is about none of them."""
    applied = False
    for report in parsed.reports:
        outbound = _our_outbound(report.original_message_id)
        if outbound is None:
            continue
        if report.action == "failed":
            reason = " ".join(x for x in (report.status, report.diagnostic) if x)
            record_delivery(
                message_id=outbound,
                status=DeliveryStatus.FAILED,
                reason=f"{report.recipient}: {reason}" if report.recipient else reason,
            )
        elif report.action in ("delivered", "relayed", "expanded"):
            record_delivery(message_id=outbound, status=DeliveryStatus.DELIVERED)
        elif report.action == "displayed":
            record_delivery(message_id=outbound, status=DeliveryStatus.READ)
        applied = True
    return applied


def _our_outbound(message_id: str) -> int | None:
    if not message_id:
        return None
    key = message_key(message_id)
    found = (
        Message.objects.filter(
            channel=Channel.EMAIL, direction=Direction.OUTBOUND, provider_message_id=key
        )
        .values_list("pk", flat=True)
        .first()
    )
    if found is None:
        found = (
            EmailRecord.objects.filter(message_key=key, message__direction=Direction.OUTBOUND)
            .values_list("message_id", flat=True)
            .first()
        )
    if found is None:
        number = message_of_our_id(key)
        if number and Message.objects.filter(pk=number, direction=Direction.OUTBOUND).exists():
            found = number
    return found


def reply_address_of(parsed: ParsedEmail) -> str:
    """Where answers to this email go: its Reply-To when that is a usable address, else
    its sender (both as written; too long or malformed ones are dropped)."""
    for candidate in (parsed.reply_to, parsed.sender):
        try:
            return normalize_value(IdentityKind.EMAIL, candidate)
        except InvalidIdentity:
            continue
    return ""


def _ignored(reason: str, parsed: ParsedEmail) -> EmailOutcome:
    logger.info(
        "email %s not stored: %s (%s)", parsed.message_id or "-", reason, parsed.auto_reason
    )
    return EmailOutcome(status="ignored", reason=reason)
