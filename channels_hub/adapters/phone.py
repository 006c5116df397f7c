"""Phone / hotline (CTI): call events from a PBX or a cloud telephony service.

The PBX posts one JSON event per request to the connection's webhook URL
(``/hooks/phone/<webhook key>/``), in our own documented format (docs/channels.md,
"Phone (CTI)"), signed with HMAC-SHA256, keyed with the connection's ``signing_secret``,
over ``"<timestamp>.<raw body>"``:

    X-Omniservice-Timestamp: 1764835200
    X-Omniservice-Signature: sha256=<hex digest>

A timestamp outside ``CHANNEL_WEBHOOK_TOLERANCE_SECONDS`` is refused as a replay. The
adapter only verifies and parses; ``channels_hub.phone_calls`` stores the call. A call is
not a written conversation: replies cannot leave on this channel (the console says why).
Settings: ``extensions`` (``"201=alice, 202=bob"``, or a JSON object): PBX extension ->
staff username.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_hub.adapters.base import (
    Adapter,
    ConnectionField,
    PermanentDeliveryError,
    SendResult,
    WebhookRefused,
    body_of,
    check_signed_timestamp,
    constant_time_equal,
)
from customers.identity import InvalidIdentity, normalize_value
from customers.models import IdentityKind
from tickets.models import Channel, Message

if TYPE_CHECKING:
    from channels_hub.models import ChannelConnection

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Omniservice-Signature"
TIMESTAMP_HEADER = "X-Omniservice-Timestamp"
EVENTS = ("ringing", "answered", "ended", "missed", "voicemail")
DIRECTIONS = ("inbound", "outbound")
MAX_CALL_ID = 120
MAX_URL = 500


def phone_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


@dataclass(frozen=True)
class CallEvent:
    """One normalised call event. ``customer_number`` is the other party (normalised), or
    empty when the number is withheld or not a phone number."""

    call_id: str
    event: str
    direction: str
    customer_number: str
    line_number: str = ""
    agent_username: str = ""
    agent_extension: str = ""
    duration_seconds: int | None = None
    recording_url: str = ""
    occurred_at: datetime | None = None


class PhoneAdapter(Adapter):
    channels = (Channel.PHONE,)
    connection_fields = (
        ConnectionField("signing_secret", gettext_lazy("Signing secret"), secret=True),
        ConnectionField(
            "extensions",
            gettext_lazy("Extensions"),
            required=False,
            help_text=gettext_lazy(
                "PBX extension = staff username, e.g. 201=lin.yue, 202=chen.hao"
            ),
        ),
    )

    def verify(self, request: HttpRequest, connection: ChannelConnection) -> None:
        given = request.headers.get(SIGNATURE_HEADER, "")
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        if not given or not timestamp:
            raise WebhookRefused(_("The request is not signed."), code="signature_missing")
        secret = connection.secrets.get("signing_secret", "")
        expected = phone_signature(secret, timestamp, body_of(request))
        if not secret or not constant_time_equal(expected, given):
            raise WebhookRefused(_("The signature does not match."), code="signature_invalid")
        check_signed_timestamp(timestamp)

    def parse_call_event(self, request: HttpRequest, connection: ChannelConnection) -> CallEvent:
        """The one call event of a verified request; 400 ``malformed`` when unusable."""
        try:
            data = json.loads(body_of(request))
        except (ValueError, UnicodeDecodeError) as exc:
            raise _malformed(_("The body is not JSON.")) from exc
        if not isinstance(data, dict):
            raise _malformed(_("The body must be a JSON object."))
        call_id = _text(data, "call_id", MAX_CALL_ID)
        event = _text(data, "event", 20)
        direction = _text(data, "direction", 10) or "inbound"
        if not call_id:
            raise _malformed(_("call_id is required."))
        if event not in EVENTS:
            raise _malformed(_("event must be one of %(events)s.") % {"events": ", ".join(EVENTS)})
        if direction not in DIRECTIONS:
            raise _malformed(_("direction must be inbound or outbound."))
        agent = data.get("agent") or {}
        if isinstance(agent, str):
            agent = {"username": agent}
        if not isinstance(agent, dict):
            raise _malformed(_("agent must be an object."))
        duration = data.get("duration_seconds")
        if duration is not None and (
            not isinstance(duration, int) or isinstance(duration, bool) or duration < 0
        ):
            raise _malformed(_("duration_seconds must be a non-negative integer."))
        recording_url = _text(data, "recording_url", MAX_URL)
        if recording_url and not recording_url.startswith(("https://", "http://")):
            raise _malformed(_("recording_url must be an http(s) URL."))
        occurred_at = None
        if data.get("occurred_at"):
            occurred_at = parse_datetime(str(data["occurred_at"]))
            if occurred_at is None or occurred_at.tzinfo is None:
                raise _malformed(_("occurred_at must be an ISO 8601 time with its offset."))
        caller, callee = _text(data, "from", 40), _text(data, "to", 40)
        return CallEvent(
            call_id=call_id,
            event=event,
            direction=direction,
            customer_number=_phone(caller if direction == "inbound" else callee),
            line_number=callee if direction == "inbound" else caller,
            agent_username=_text(agent, "username", 150),
            agent_extension=_text(agent, "extension", 20),
            duration_seconds=duration,
            recording_url=recording_url,
            occurred_at=occurred_at,
        )

    def check(self, message: Message, connection: Any, **kwargs: Any) -> None:
        raise PermanentDeliveryError(
            _("A written reply cannot be sent on the phone channel: call the customer back.")
        )

    def send(self, message: Message, connection: ChannelConnection | None) -> SendResult:
        self.check(message, connection)
        raise AssertionError("unreachable")


def extension_map(value: object) -> dict[str, str]:
    """The connection's ``extensions`` setting, written as ``201=alice, 202=bob`` in the
    console or stored as a JSON object."""
    if isinstance(value, dict):
        return {str(k).strip(): str(v).strip() for k, v in value.items()}
    pairs = (item.partition("=") for item in str(value or "").replace(";", ",").split(","))
    return {k.strip(): v.strip() for k, _sep, v in pairs if k.strip() and v.strip()}


def _malformed(message: str) -> WebhookRefused:
    return WebhookRefused(message, code="malformed", status=400)


def _text(data: dict[str, Any], name: str, limit: int) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise _malformed(_("%(field)s must be a string.") % {"field": name})
    value = str(value).strip()
    if len(value) > limit:
        raise _malformed(_("%(field)s is too long.") % {"field": name})
    return value


def _phone(raw: str) -> str:
    if not raw:
        return ""
    try:
        return normalize_value(IdentityKind.PHONE, raw)
    except InvalidIdentity:
        logger.info("phone: the other party's number is withheld or not a phone number")
        return ""
