"""SMS through a Twilio-compatible provider: form-encoded webhooks in, REST out.

Requests are signed with ``X-Twilio-Signature``: base64 HMAC-SHA1, keyed with the auth
token, of the full URL the provider called followed by every POST parameter name and
value sorted by name. Behind a proxy that rewrites the URL, set the connection's
``webhook_url`` setting to the public URL given to the provider (also used as the
``StatusCallback`` of replies). Settings: ``base_url`` (default
``https://api.twilio.com``), ``account_sid``, ``from_number``, ``webhook_url``; secret:
``auth_token``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import httpx
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_hub.adapters.base import (
    Adapter,
    ChannelLimits,
    ConnectionField,
    InboundMessage,
    Notice,
    Receipt,
    SendResult,
    WebhookBatch,
    WebhookRefused,
    claim,
    constant_time_equal,
    customer_identity,
    identity_of_customer,
)
from channels_hub.provider_http import call_provider, json_body
from customers.identity import InvalidIdentity
from customers.models import IdentityKind
from tickets.models import Channel, DeliveryStatus, Message

if TYPE_CHECKING:
    from channels_hub.models import ChannelConnection

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.twilio.com"
STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "undelivered": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED,
}
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    payload = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def twilio_error_reason(response: httpx.Response) -> str:
    body = response.json()
    return f"{body.get('message', '')} ({body.get('code', '')})"


class TwilioSmsAdapter(Adapter):
    channels = (Channel.SMS,)
    limits = ChannelLimits(max_text_chars=1600)
    connection_fields = (
        ConnectionField("account_sid", gettext_lazy("Account SID")),
        ConnectionField("auth_token", gettext_lazy("Auth token"), secret=True),
        ConnectionField("from_number", gettext_lazy("Sender number")),
        ConnectionField(
            "webhook_url",
            gettext_lazy("Public webhook URL"),
            required=False,
            kind="url",
            help_text=gettext_lazy("Only when a proxy changes the URL the provider calls."),
        ),
        ConnectionField(
            "base_url",
            gettext_lazy("API base URL"),
            required=False,
            kind="url",
            help_text=gettext_lazy("Leave empty for https://api.twilio.com"),
        ),
    )

    def verify(self, request: HttpRequest, connection: ChannelConnection) -> None:
        given = request.headers.get("X-Twilio-Signature", "")
        if not given:
            raise WebhookRefused(_("The request is not signed."), code="signature_missing")
        token = connection.secrets.get("auth_token", "")
        url = connection.setting("webhook_url") or request.build_absolute_uri()
        params = {name: request.POST.get(name, "") for name in request.POST}
        if not token or not constant_time_equal(twilio_signature(token, url, params), given):
            raise WebhookRefused(_("The signature does not match."), code="signature_invalid")

    def parse(self, request: HttpRequest, connection: ChannelConnection) -> WebhookBatch:
        data = request.POST
        sid = data.get("MessageSid") or data.get("SmsSid") or ""
        if not sid:
            raise WebhookRefused(_("The request has no MessageSid."), code="malformed", status=400)
        batch = WebhookBatch()
        if "Body" in data or data.get("NumMedia", "0") != "0":
            inbound = _message(sid, data)
            if inbound is None:
                batch.ignored += 1
            else:
                batch.messages.append(inbound)
            return batch
        status = STATUSES.get(data.get("MessageStatus", ""))
        if status is None:
            batch.ignored += 1  # queued, sending, accepted: nothing new for the console
        else:
            reason = f"error {data['ErrorCode']}" if data.get("ErrorCode") else ""
            batch.receipts.append(Receipt(provider_message_id=sid, status=status, reason=reason))
        return batch

    def acknowledge(self, batch: WebhookBatch) -> HttpResponse:
        return HttpResponse(EMPTY_TWIML, content_type="text/xml")

    def send(self, message: Message, connection: ChannelConnection | None) -> SendResult:
        assert connection is not None
        return self._send_text(
            connection, customer_identity(message, IdentityKind.PHONE), message.body_text
        )

    def send_test(self, connection: ChannelConnection, to: str) -> SendResult:
        return self._send_text(connection, to, _("omniservice test message"))

    def send_notice(self, notice: Notice, connection: ChannelConnection | None) -> SendResult:
        """SMS may write first (a survey invitation): to the customer's newest number."""
        assert connection is not None
        to = identity_of_customer(notice.customer.pk, IdentityKind.PHONE)
        return self._send_text(connection, to, notice.text)

    def _send_text(self, connection: ChannelConnection, to: str, text: str) -> SendResult:
        account = connection.setting("account_sid")
        base = connection.setting("base_url", DEFAULT_BASE_URL).rstrip("/")
        form = {"To": to, "From": connection.setting("from_number"), "Body": text}
        if connection.setting("webhook_url"):
            form["StatusCallback"] = connection.setting("webhook_url")
        response = call_provider(
            "POST",
            f"{base}/2010-04-01/Accounts/{account}/Messages.json",
            provider="SMS",
            reason_of=twilio_error_reason,
            auth=(account, connection.secrets.get("auth_token", "")),
            data=form,
        )
        return SendResult(
            status=DeliveryStatus.SENT, provider_message_id=str(json_body(response)["sid"])
        )


def _message(sid: str, data: Mapping[str, str]) -> InboundMessage | None:
    sender = data.get("From", "")
    text = data.get("Body", "").strip()
    media = int(data.get("NumMedia", "0") or 0) if str(data.get("NumMedia", "0")).isdigit() else 0
    if media:
        text = (text + " " + " ".join("[media]" for _ in range(media))).strip()
    if not text:
        return None
    try:
        identities = [claim(IdentityKind.PHONE, sender)]
    except InvalidIdentity:
        logger.warning("sms: message %s dropped: sender %r is not a phone number", sid, sender)
        return None
    return InboundMessage(channel=Channel.SMS, external_id=sid, identities=identities, text=text)
