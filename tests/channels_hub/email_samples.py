"""MIME fixtures as real mail clients and servers write them, and a local SMTP sink."""

from __future__ import annotations

import base64
import socket
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.utils import formatdate

from aiosmtpd.controller import Controller

from channels_hub.models import ChannelConnection
from tickets.models import Channel

SUPPORT = "support@brand.example"
CUSTOMER = "li.na@example.cn"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_email_connection(**overrides: str) -> ChannelConnection:
    settings = {
        "from_address": SUPPORT,
        "from_name": "Brand Support",
        "signature": "Brand customer service\nhttps://brand.example/help",
        "inbound_addresses": ["help@brand.example"],
        "smtp_host": "127.0.0.1",
        "smtp_port": "1",
        "smtp_security": "none",
    }
    settings.update(overrides)
    connection = ChannelConnection(channel=Channel.EMAIL, name="Brand mail", settings=settings)
    connection.set_secrets({"smtp_password": "", "imap_password": "imap-secret"})
    connection.save()
    return connection


def plain(
    *,
    body: str = "Hello, my order 1042 has not arrived.",
    subject: str = "Where is my order?",
    sender: str = f"Li Na <{CUSTOMER}>",
    to: str = SUPPORT,
    message_id: str = "<first.1@mail.example.cn>",
    in_reply_to: str | None = None,
    references: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(1764800000)
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg


def html_only(**kwargs: str) -> EmailMessage:
    msg = plain(**kwargs)
    msg.set_content(
        '<p>Hello <b>team</b></p><script>alert(1)</script><p onclick="x()">Order 7</p>',
        subtype="html",
    )
    return msg


def alternative(**kwargs: str) -> EmailMessage:
    msg = plain(body="Plain version: the parcel is late.", **kwargs)
    msg.add_alternative("<p>HTML version: the parcel is <em>late</em>.</p>", subtype="html")
    return msg


def with_attachments(**kwargs: str) -> EmailMessage:
    msg = plain(body="Receipt and photo attached.", **kwargs)
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="receipt.pdf")
    msg.add_attachment(PNG, maintype="image", subtype="png", filename="照片.png")
    msg.add_attachment(
        b"MZ\x90\x00\x03\x00\x00\x00",
        maintype="application",
        subtype="x-msdownload",
        filename="invoice.exe",
    )
    return msg


def inline_image(**kwargs: str) -> EmailMessage:
    msg = plain(body="See the scratch in the picture.", **kwargs)
    msg.add_alternative(
        '<p>See the scratch:</p><img src="cid:scratch@mail.example.cn" alt="scratch">',
        subtype="html",
    )
    msg.get_payload()[1].add_related(
        PNG, maintype="image", subtype="png", cid="<scratch@mail.example.cn>"
    )
    return msg


def gbk_raw() -> bytes:
    """Foxmail style: a GB2312-labelled subject holding a GBK-only character (镕), and a
    GBK body, base64."""
    subject = "=?gb2312?B?" + base64.b64encode("朱镕的订单还没到".encode("gbk")).decode() + "?="
    body = base64.b64encode("您好，我的订单还没有到，请帮忙查一下。".encode("gbk")).decode()
    return (
        "From: =?gb2312?B?" + base64.b64encode("朱先生".encode("gbk")).decode() + "?= "
        "<zhu@example.cn>\r\n"
        "To: support@brand.example\r\n"
        f"Subject: {subject}\r\n"
        "Message-ID: <gbk.1@foxmail.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="gb2312"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        f"{body}\r\n"
    ).encode("ascii")


def raw_8bit_gbk_subject() -> bytes:
    """An old client writing the subject as raw GBK bytes, not an encoded word."""
    return (
        b"From: wang@example.cn\r\nTo: support@brand.example\r\n"
        b"Subject: " + "退货申请".encode("gbk") + b"\r\n"
        b"Message-ID: <raw8.1@example.cn>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "我要退货。".encode() + b"\r\n"
    )


def utf8_subject(**kwargs: str) -> EmailMessage:
    return plain(subject="关于订单 #1042 的问题 ✓", body="请问什么时候发货？", **kwargs)


def auto_reply(*, subject: str, in_reply_to: str, headers: dict[str, str]) -> EmailMessage:
    return plain(
        subject=f"Automatic reply: {subject}",
        body="I am out of the office until Monday.",
        message_id="<ooo.1@mail.example.cn>",
        in_reply_to=in_reply_to,
        references=in_reply_to,
        headers=headers,
    )


def dsn(*, original_message_id: str, recipient: str = CUSTOMER) -> bytes:
    """A Postfix-style RFC 3464 delivery status notification."""
    return (
        "From: MAILER-DAEMON@mx.brand.example (Mail Delivery System)\r\n"
        "To: support@brand.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn.1@mx.brand.example>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B1"\r\n'
        "\r\n"
        "--B1\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        "\r\n--B1\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.brand.example\r\n"
        "Arrival-Date: Fri,  4 Dec 2026 07:00:00 +0000 (UTC)\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Original-Recipient: rfc822;{recipient}\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        "Remote-MTA: dns; mx.example.cn\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <li.na@example.cn>: Recipient address\r\n"
        "    rejected: User unknown in virtual mailbox table\r\n"
        "\r\n--B1\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        "From: Brand Support <support@brand.example>\r\n"
        f"To: {recipient}\r\n"
        "Subject: Re: Where is my order? [#1]\r\n"
        f"Message-ID: <{original_message_id}>\r\n"
        "\r\n--B1--\r\n"
    ).encode("ascii")


def mdn(*, original_message_id: str) -> bytes:
    """A read receipt (RFC 8098) as Thunderbird sends it."""
    return (
        f"From: Li Na <{CUSTOMER}>\r\n"
        "To: support@brand.example\r\n"
        "Subject: Read: Re: Where is my order?\r\n"
        "Message-ID: <mdn.1@mail.example.cn>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=disposition-notification; boundary="M1"\r\n'
        "\r\n--M1\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "The message was displayed.\r\n"
        "\r\n--M1\r\n"
        "Content-Type: message/disposition-notification\r\n\r\n"
        "Reporting-UA: mail.example.cn; Thunderbird\r\n"
        f"Final-Recipient: rfc822;{CUSTOMER}\r\n"
        f"Original-Message-ID: <{original_message_id}>\r\n"
        "Disposition: manual-action/MDN-sent-manually; displayed\r\n"
        "\r\n--M1--\r\n"
    ).encode("ascii")


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class SinkHandler:
    """An SMTP server playing the brand's outgoing relay; ``answer_rcpt`` forces errors."""

    received: list[Received] = field(default_factory=list)
    answer_rcpt: str = ""
    port: int = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.answer_rcpt:
            return self.answer_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        return "250 OK queued"


def start_sink() -> tuple[Controller, SinkHandler]:
    handler = SinkHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller, handler


def run_sink():
    """For a fixture: ``yield from run_sink()`` gives a running sink, stopped after."""
    controller, handler = start_sink()
    handler.port = controller.port
    yield handler
    controller.stop()
