"""The one webhook endpoint of every provider: ``/hooks/<channel>/<webhook key>/``.

GET answers the provider's URL verification; POST is verified on the raw body before
anything is read from it, parsed by the channel's adapter and stored. Refusals are
logged (without the body) and answered with ``{"error": {"code", "message"}}``; a
message the adapter cannot use is logged and skipped, while the request still gets its
200 so that the provider does not retry it for days.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from channels_hub.adapters import WebhookRefused, adapter_for
from channels_hub.connections import webhook_connection
from channels_hub.ingest import ingest_batch

logger = logging.getLogger(__name__)


def _refusal(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


@csrf_exempt
def channel_webhook(request: HttpRequest, channel: str, key: str) -> HttpResponse:
    connection = webhook_connection(channel, key)
    adapter = adapter_for(channel)
    if connection is None or adapter is None or not adapter.needs_connection:
        logger.warning("webhook dropped: no active %s connection with this key", channel)
        return _refusal("unknown_connection", _("No active connection has this URL."), 404)
    try:
        if request.method == "GET":
            return adapter.handshake(request, connection)
        if request.method != "POST":
            return _refusal("method_not_allowed", _("Use POST."), 405)
        adapter.verify(request, connection)
        batch = adapter.parse(request, connection)
    except WebhookRefused as refusal:
        logger.warning(
            "webhook refused: channel=%s connection=%s code=%s",
            channel,
            connection.pk,
            refusal.code,
        )
        return _refusal(refusal.code, str(refusal), refusal.status)
    summary = ingest_batch(batch, connection=connection)
    logger.info(
        "webhook %s/%s: %s stored, %s duplicates, %s receipts, %s ignored",
        channel,
        connection.pk,
        summary.stored,
        summary.duplicates,
        summary.receipts_applied + summary.receipts_waiting,
        batch.ignored + summary.dropped,
    )
    return adapter.acknowledge(batch)
