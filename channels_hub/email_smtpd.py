"""The SMTP listener that takes the brands' inbound mail (``manage.py smtp_ingress``).

It accepts mail only for the inbound addresses of an active email connection (any
other recipient is refused with 550: it never relays), refuses a message larger than
``SMTP_INGRESS_MAX_BYTES`` with 552 (advertised with SIZE), and answers 250 only once
the email is stored, so a sending server whose delivery failed (451) tries again; a
second delivery of the same Message-ID is a no-op. Put it behind the brand's MX (or a
relay such as Postfix that forwards to it), which does TLS, spam and virus checks.
"""

from __future__ import annotations

import logging
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

from channels_hub.email_ingest import EmailOutcome, connection_for_address, ingest_email

logger = logging.getLogger(__name__)


class IngressHandler:
    """aiosmtpd handler: RCPT checks the address, DATA stores the message."""

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        try:
            connection = await sync_to_async(_connection_for)(address)
        except Exception:
            logger.exception("smtp_ingress: recipient lookup failed")
            return "451 4.3.0 Temporary failure, try again later"
        if connection is None:
            logger.info("smtp_ingress: relaying refused for a recipient of another domain")
            return "550 5.7.1 Relaying denied: no mailbox here for this address"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            outcome = await sync_to_async(_store)(
                bytes(raw or b""), envelope.mail_from, list(envelope.rcpt_tos)
            )
        except Exception:
            logger.exception("smtp_ingress: the message could not be stored")
            return "451 4.3.0 Temporary failure, try again later"
        return f"250 2.0.0 OK {outcome.status}"


def _connection_for(address: str) -> Any:
    try:
        return connection_for_address(address)
    finally:
        connections.close_all()  # this worker thread's own: a listener idles for long


def _store(raw: bytes, mail_from: str | None, recipients: list[str]) -> EmailOutcome:
    try:
        return _store_now(raw, mail_from, recipients)
    finally:
        connections.close_all()


def _store_now(raw: bytes, mail_from: str | None, recipients: list[str]) -> EmailOutcome:
    connection = next((c for c in map(connection_for_address, recipients) if c is not None), None)
    if connection is None:  # the connection was switched off during the conversation
        raise RuntimeError("no active email connection for the recipients")
    sender = (mail_from or "").strip().strip("<>")
    return ingest_email(raw, connection=connection, envelope_sender=sender)


def ingress_controller(
    *, host: str | None = None, port: int | None = None, max_bytes: int | None = None
) -> Controller:
    """A started-on-demand listener (``.start()`` / ``.stop()``), in its own thread."""
    return Controller(
        IngressHandler(),
        hostname=host or settings.SMTP_INGRESS_HOST,
        port=port if port is not None else settings.SMTP_INGRESS_PORT,
        data_size_limit=max_bytes or settings.SMTP_INGRESS_MAX_BYTES,
        ident="omniservice smtp_ingress",
    )
