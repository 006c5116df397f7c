"""The outbox handler that calls a partner webhook for an automation rule.

The body is the JSON snapshot taken when the rule fired. Requests are signed:
``X-Omniservice-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` with
``X-Omniservice-Timestamp`` (Unix seconds), so a partner can check origin and freshness.
A 2xx answer is success; 408, 429, 5xx, timeouts and connection errors are retried by
the outbox with backoff; any other answer (4xx, or a redirect, never followed) is a
permanent failure.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from omniservice.outbox.handlers import PermanentFailure, register
from tickets.automation.actions import WEBHOOK_TOPIC
from tickets.models import AutomationWebhook

logger = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 425, 429})
USER_AGENT = "omniservice-automation/1"


class WebhookTemporaryError(Exception):
    """The partner may accept the call later: the outbox retries it."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx answer surfaces as an HTTPError


_opener = urllib.request.build_opener(_NoRedirects)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


@register(WEBHOOK_TOPIC)
def call_partner_webhook(payload: dict[str, Any]) -> None:
    hook = AutomationWebhook.objects.filter(pk=payload["webhook_id"]).first()
    if hook is None or not hook.is_active:
        raise PermanentFailure(f"webhook {payload['webhook_id']} is deleted or disabled")
    if urlsplit(hook.url).scheme not in ("http", "https"):
        raise PermanentFailure(f"webhook {hook.pk} has a non-HTTP URL")
    body = json.dumps(payload["body"], ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        hook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "X-Omniservice-Event": str(payload["body"].get("event", "")),
            "X-Omniservice-Delivery": str(payload["body"].get("delivery_id", "")),
            "X-Omniservice-Timestamp": timestamp,
            "X-Omniservice-Signature": signature(hook.secret, timestamp, body),
        },
    )
    try:
        with _opener.open(request, timeout=settings.AUTOMATION_WEBHOOK_TIMEOUT_SECONDS) as answer:
            answer.read(1024)
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code in RETRYABLE_STATUSES:
            raise WebhookTemporaryError(f"{hook.name}: HTTP {exc.code}") from exc
        raise PermanentFailure(f"{hook.name}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise WebhookTemporaryError(f"{hook.name}: {exc}") from exc
    logger.info("automation webhook %s delivered", hook.pk)
