"""Email: replies out over SMTP with threading headers; mail in through SMTP or IMAP.

Inbound mail does not come through the webhook endpoint: the SMTP listener
(``manage.py smtp_ingress``, ``channels_hub/email_smtpd.py``) and the IMAP poller
(``channels_hub/email_imap.py``) hand raw messages to ``channels_hub.email_ingest``.

Settings of an email connection: ``from_address`` (the brand's sender, also accepted
inbound), ``from_name``, ``signature``, ``inbound_addresses`` (more addresses the
listener accepts mail for), ``smtp_host``, ``smtp_port``, ``smtp_security``
(``starttls`` default, ``ssl`` or ``none``), ``smtp_user``; ``imap_host``,
``imap_port``, ``imap_security`` (``ssl`` default, ``starttls``, ``none``),
``imap_user``, ``imap_folder`` (``INBOX``). Secrets: ``smtp_password``,
``imap_password``.

A reply leaves as "Re: <subject> [#<number>]" from the connection the customer last
wrote to, with a Message-ID of ours (stored as the message's provider id, the same on
every retry), In-Reply-To the customer's last email and References the thread.
Replies written by the bot or by automation carry ``Auto-Submitted: auto-replied`` so
that other systems do not answer them automatically either.
"""

from __future__ import annotations

import html
import logging
import smtplib
import ssl
from email.headerregistry import Address
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_hub.adapters.base import (
    Adapter,
    ChannelLimits,
    ConnectionField,
    PermanentDeliveryError,
    SendResult,
    TransientDeliveryError,
    WebhookRefused,
    customer_identity,
)
from channels_hub.email_mime import new_email
from customers.models import IdentityKind
from tickets.attachments import MAX_ATTACHMENT_BYTES, SERVABLE_TYPES
from tickets.models import AuthorKind, Channel, DeliveryStatus, Direction, Message
from tickets.services import MAX_BODY_CHARS

if TYPE_CHECKING:
    from email.message import EmailMessage

    from channels_hub.models import ChannelConnection

logger = logging.getLogger(__name__)

DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
SECURITY_HELP = gettext_lazy("starttls, ssl or none")


def _optional(name: str, label: Any, help_text: Any = "", *, secret: bool = False) -> Any:
    return ConnectionField(name, label, secret=secret, required=False, help_text=help_text)


class EmailAdapter(Adapter):
    channels = (Channel.EMAIL,)
    receives_webhooks = False
    limits = ChannelLimits(
        max_text_chars=MAX_BODY_CHARS,
        attachment_types=SERVABLE_TYPES,
        max_attachment_bytes=MAX_ATTACHMENT_BYTES,
    )
    connection_fields = (
        ConnectionField("from_address", gettext_lazy("Sender address")),
        _optional("from_name", gettext_lazy("Sender name")),
        _optional("signature", gettext_lazy("Signature"), gettext_lazy("Added to every reply.")),
        _optional(
            "inbound_addresses",
            gettext_lazy("More inbound addresses"),
            gettext_lazy(
                "Comma-separated. Mail to the sender address is always accepted by the "
                "SMTP listener; mail to any other address is refused."
            ),
        ),
        ConnectionField("smtp_host", gettext_lazy("SMTP server")),
        _optional("smtp_port", gettext_lazy("SMTP port"), gettext_lazy("587, 465 or 25")),
        _optional("smtp_security", gettext_lazy("SMTP security"), SECURITY_HELP),
        _optional("smtp_user", gettext_lazy("SMTP user")),
        _optional("smtp_password", gettext_lazy("SMTP password"), secret=True),
        _optional(
            "imap_host",
            gettext_lazy("IMAP server"),
            gettext_lazy("Leave empty to receive through the SMTP listener only."),
        ),
        _optional("imap_port", gettext_lazy("IMAP port"), gettext_lazy("993 or 143")),
        _optional("imap_security", gettext_lazy("IMAP security"), SECURITY_HELP),
        _optional("imap_user", gettext_lazy("IMAP user")),
        _optional("imap_password", gettext_lazy("IMAP password"), secret=True),
        _optional("imap_folder", gettext_lazy("IMAP folder"), "INBOX"),
    )

    def verify(self, request: HttpRequest, connection: ChannelConnection) -> None:
        raise WebhookRefused(
            _("Email arrives through the SMTP listener or IMAP polling, not a webhook."),
            code="no_webhook",
            status=404,
        )

    def send(self, message: Message, connection: ChannelConnection | None) -> SendResult:
        from channels_hub.email_ingest import message_key, our_message_id
        from channels_hub.email_models import EmailRecord

        connection = _reply_connection(message, connection)
        sender = _sender(connection)
        to = _recipient(message)
        mail = new_email()
        mail["From"] = Address(connection.setting("from_name"), addr_spec=sender)
        mail["To"] = to
        mail["Subject"] = reply_subject(message.ticket.subject, message.ticket.pk)
        mail["Date"] = formatdate(localtime=False)
        message_id = our_message_id(message, sender.rpartition("@")[2])
        mail["Message-ID"] = f"<{message_id}>"
        parent = (
            EmailRecord.objects.filter(message__ticket_id=message.ticket_id, auto_kind="")
            .exclude(message_id=message.pk)
            .order_by("-message__created_at", "-pk")
            .first()
        )
        references: list[str] = []
        if parent is not None:
            references = [*parent.references.split(), parent.message_key][-20:]
            mail["In-Reply-To"] = f"<{parent.message_key}>"
            mail["References"] = " ".join(f"<{r}>" for r in references)
        if message.author_kind != AuthorKind.AGENT:
            mail["Auto-Submitted"] = "auto-replied"
            mail["X-Auto-Response-Suppress"] = "All"
        _set_body(mail, message, connection.setting("signature"))
        EmailRecord.objects.update_or_create(
            message=message,
            defaults={
                "connection": connection,
                "message_key": message_key(message_id),
                "in_reply_to": parent.message_key if parent else "",
                "references": " ".join(references),
                "subject": str(mail["Subject"])[:300],
            },
        )
        deliver_smtp(connection, mail, sender=sender, recipients=[to])
        return SendResult(status=DeliveryStatus.SENT, provider_message_id=message_key(message_id))

    def send_test(self, connection: ChannelConnection, to: str) -> SendResult:
        sender = _sender(connection)
        mail = new_email()
        mail["From"] = Address(connection.setting("from_name"), addr_spec=sender)
        mail["To"] = to
        mail["Subject"] = _("omniservice test message")
        mail["Date"] = formatdate(localtime=False)
        mail.set_content(_("This test message shows that replies can leave by email."))
        deliver_smtp(connection, mail, sender=sender, recipients=[to])
        return SendResult(status=DeliveryStatus.SENT)


def reply_subject(subject: str, number: int) -> str:
    from channels_hub.email_ingest import clean_subject

    return f"Re: {clean_subject(subject) or _('(no subject)')} [#{number}]"


def _reply_connection(message: Message, given: ChannelConnection | None) -> ChannelConnection:
    """The connection the customer last wrote to on this ticket (the brand they wrote
    to), else the channel's default one."""
    from channels_hub.email_models import EmailRecord

    record = (
        EmailRecord.objects.filter(
            message__ticket_id=message.ticket_id,
            message__direction=Direction.INBOUND,
            connection__is_active=True,
            auto_kind="",
        )
        .select_related("connection")
        .order_by("-message__created_at", "-pk")
        .first()
    )
    connection = record.connection if record is not None else given
    if connection is None:
        raise PermanentDeliveryError(_("The Email channel is not connected."))
    return connection


def _sender(connection: ChannelConnection) -> str:
    sender = connection.setting("from_address").strip()
    if not sender or "@" not in sender:
        raise PermanentDeliveryError(_("The email connection has no sender address."))
    return sender


def _set_body(mail: EmailMessage, message: Message, signature: str) -> None:
    text = message.body_text
    if signature.strip():
        text = f"{text}\n\n-- \n{signature.strip()}"
    mail.set_content(text)
    if message.body_html:
        signature_html = (
            "<p>-- <br>" + html.escape(signature.strip()).replace("\n", "<br>") + "</p>"
            if signature.strip()
            else ""
        )
        mail.add_alternative(
            f"<!DOCTYPE html><html><body>{message.body_html}{signature_html}</body></html>",
            subtype="html",
        )
    for attachment in message.attachments.all():
        with attachment.file.open("rb") as handle:
            content = handle.read()
        maintype, _slash, subtype = attachment.content_type.partition("/")
        mail.add_attachment(
            content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )


def deliver_smtp(
    connection: ChannelConnection, mail: EmailMessage, *, sender: str, recipients: list[str]
) -> None:
    """One SMTP transaction; 5xx answers are permanent, 4xx and network errors transient."""
    security = connection.setting("smtp_security").strip().lower()
    security = security if security in DEFAULT_PORTS else "starttls"
    host = connection.setting("smtp_host")
    if not host:
        raise PermanentDeliveryError(_("The email connection has no SMTP server."))
    port = int(connection.setting("smtp_port") or DEFAULT_PORTS.get(security, 587))
    timeout = settings.EMAIL_NETWORK_TIMEOUT_SECONDS
    user = connection.setting("smtp_user")
    password = connection.secrets.get("smtp_password", "")
    try:
        if security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            if security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if user:
                client.login(user, password)
            client.send_message(mail, from_addr=sender, to_addrs=recipients)
    except smtplib.SMTPRecipientsRefused as exc:
        code, answer = next(iter(exc.recipients.values()))
        _raise_for_answer(code, answer)
    except smtplib.SMTPAuthenticationError as exc:
        raise TransientDeliveryError(
            _("The SMTP server refused the login: %(answer)s") % {"answer": _answer(exc)}
        ) from exc
    except smtplib.SMTPResponseException as exc:
        _raise_for_answer(exc.smtp_code, exc.smtp_error)
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientDeliveryError(
            _("The SMTP server could not be reached: %(error)s") % {"error": exc}
        ) from exc


def _answer(exc: smtplib.SMTPResponseException) -> str:
    error = exc.smtp_error
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
    return f"{exc.smtp_code} {text}"


def _raise_for_answer(code: int, answer: bytes | str) -> None:
    text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)
    reason = _("The mail server answered %(code)s %(answer)s") % {"code": code, "answer": text}
    if 500 <= code < 600:
        raise PermanentDeliveryError(reason)
    raise TransientDeliveryError(reason)


def _recipient(message: Message) -> str:
    """Where a reply goes: the address the customer's last email on the ticket asked for
    (its Reply-To, else its From), so that a customer with a work and a home address is
    answered where they wrote; without one, the customer's newest email address."""
    from channels_hub.email_models import EmailRecord

    asked = (
        EmailRecord.objects.filter(
            message__ticket_id=message.ticket_id,
            message__direction=Direction.INBOUND,
            auto_kind="",
        )
        .exclude(reply_address="")
        .order_by("-message__created_at", "-pk")
        .values_list("reply_address", flat=True)
        .first()
    )
    return asked or customer_identity(message, IdentityKind.EMAIL)
