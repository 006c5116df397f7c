"""What WhatsApp Cloud API, Messenger and Instagram webhooks share (Meta's Graph API).

- URL verification: ``GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…``
  answered with the challenge when the token is the connection's ``verify_token``;
- every POST is signed: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, body)>``;
- errors come back as ``{"error": {"message", "type", "code", ...}}``.

Connection settings: ``base_url`` (default ``https://graph.facebook.com``),
``api_version`` (default ``v21.0``); secrets: ``app_secret``, ``access_token``,
``verify_token``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

import httpx
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_hub.adapters.base import (
    Adapter,
    ConnectionField,
    WebhookRefused,
    body_of,
    constant_time_equal,
)

if TYPE_CHECKING:
    from channels_hub.models import ChannelConnection

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"
META_FIELDS = (
    ConnectionField("app_secret", gettext_lazy("App secret"), secret=True),
    ConnectionField("access_token", gettext_lazy("Access token"), secret=True),
    ConnectionField(
        "verify_token",
        gettext_lazy("Verify token"),
        secret=True,
        help_text=gettext_lazy("Any string; give the same one to Meta with the webhook URL."),
    ),
    ConnectionField(
        "base_url",
        gettext_lazy("Graph API base URL"),
        required=False,
        kind="url",
        help_text=gettext_lazy("Leave empty for https://graph.facebook.com"),
    ),
    ConnectionField("api_version", gettext_lazy("Graph API version"), required=False),
)


def meta_signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def meta_error_reason(response: httpx.Response) -> str:
    error = response.json()["error"]
    details = (error.get("error_data") or {}).get("details", "")
    return f"{error.get('message', '')} ({error.get('code', '')}){' ' + details if details else ''}"


class MetaAdapter(Adapter):
    """Signature, handshake and Graph URLs; subclasses parse their own payloads."""

    webhook_object = ""  # the payload's "object" field

    def handshake(self, request: HttpRequest, connection: ChannelConnection) -> HttpResponse:
        expected = connection.secrets.get("verify_token", "")
        given = request.GET.get("hub.verify_token", "")
        if (
            request.GET.get("hub.mode") != "subscribe"
            or not expected
            or not constant_time_equal(expected, given)
        ):
            raise WebhookRefused(
                _("The verify token does not match."), code="bad_verify_token", status=403
            )
        return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")

    def verify(self, request: HttpRequest, connection: ChannelConnection) -> None:
        app_secret = connection.secrets.get("app_secret", "")
        given = request.headers.get("X-Hub-Signature-256", "")
        if not given:
            raise WebhookRefused(_("The request is not signed."), code="signature_missing")
        if not app_secret or not constant_time_equal(
            meta_signature(app_secret, body_of(request)), given
        ):
            raise WebhookRefused(_("The signature does not match."), code="signature_invalid")

    def payload(self, request: HttpRequest) -> dict[str, Any]:
        try:
            payload = json.loads(body_of(request))
        except (ValueError, UnicodeDecodeError) as exc:
            raise WebhookRefused(_("The body is not JSON."), code="malformed", status=400) from exc
        if not isinstance(payload, dict) or payload.get("object") != self.webhook_object:
            raise WebhookRefused(
                _("This is not a %(object)s webhook.") % {"object": self.webhook_object},
                code="malformed",
                status=400,
            )
        entries = payload.get("entry")
        if not isinstance(entries, list):
            raise WebhookRefused(_("The webhook has no entries."), code="malformed", status=400)
        return payload

    def graph_url(self, connection: ChannelConnection, path: str) -> str:
        base = connection.setting("base_url", DEFAULT_BASE_URL).rstrip("/")
        version = connection.setting("api_version", DEFAULT_API_VERSION)
        return f"{base}/{version}/{path.lstrip('/')}"

    def auth_headers(self, connection: ChannelConnection) -> dict[str, str]:
        return {"Authorization": f"Bearer {connection.secrets.get('access_token', '')}"}
