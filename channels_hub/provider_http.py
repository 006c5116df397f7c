"""Calls to the providers' APIs: a timeout on every call, no redirects followed, and
the answer sorted into success, a permanent refusal or a transient failure.

Base URLs come from each connection's settings (``base_url``), so tests and staging
point the adapters at a local fake provider; no code path talks to a fixed host.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
from django.conf import settings

from channels_hub.adapters.base import PermanentDeliveryError, TransientDeliveryError

logger = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 425, 429})
USER_AGENT = "omniservice/1"
_client: httpx.Client | None = None


def client() -> httpx.Client:
    """One pooled client per process (httpx clients are thread-safe)."""
    global _client
    if _client is None:
        _client = httpx.Client(
            follow_redirects=False,
            timeout=settings.CHANNEL_HTTP_TIMEOUT_SECONDS,
            headers={"User-Agent": USER_AGENT},
        )
    return _client


def call_provider(
    method: str,
    url: str,
    *,
    provider: str,
    reason_of: Callable[[httpx.Response], str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request; 2xx returns the response, anything else raises.

    408, 425, 429, 5xx, timeouts and connection errors raise ``TransientDeliveryError``
    (the outbox retries with backoff); other answers, redirects included, raise
    ``PermanentDeliveryError`` with the provider's own reason when ``reason_of`` finds one.
    """
    try:
        response = client().request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise TransientDeliveryError(f"{provider}: no answer in time") from exc
    except httpx.HTTPError as exc:
        raise TransientDeliveryError(f"{provider}: {type(exc).__name__}") from exc
    if response.is_success:
        return response
    return _refuse(
        response, provider, _reason(response, reason_of) or f"HTTP {response.status_code}"
    )


def _refuse(response: httpx.Response, provider: str, reason: str) -> httpx.Response:
    if response.status_code >= 500 or response.status_code in RETRYABLE_STATUSES:
        raise TransientDeliveryError(f"{provider}: {reason}")
    raise PermanentDeliveryError(f"{provider}: {reason}")


def _reason(response: httpx.Response, reason_of: Callable[[httpx.Response], str] | None) -> str:
    if reason_of is None:
        return ""
    try:
        return reason_of(response)[:300]
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""


def json_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise TransientDeliveryError(
            "the provider answered with something that is not JSON"
        ) from exc
    if not isinstance(body, dict):
        raise TransientDeliveryError("the provider answered with an unexpected JSON value")
    return body


def download(url: str, *, provider: str, max_bytes: int, **kwargs: Any) -> tuple[bytes, str]:
    """GET a file: its bytes and declared content type. One larger than ``max_bytes`` is
    refused for good without reading it all; 5xx and timeouts are transient as for
    ``call_provider``."""
    too_large = PermanentDeliveryError(f"{provider}: the file is larger than allowed")
    try:
        with client().stream("GET", url, **kwargs) as response:
            if not response.is_success:
                response.read()
                _refuse(response, provider, f"HTTP {response.status_code}")
            if int(response.headers.get("Content-Length") or 0) > max_bytes:
                raise too_large
            content = bytearray()
            for chunk in response.iter_bytes():
                content += chunk
                if len(content) > max_bytes:
                    raise too_large
            return bytes(content), response.headers.get("Content-Type", "")
    except httpx.TimeoutException as exc:
        raise TransientDeliveryError(f"{provider}: no answer in time") from exc
    except httpx.HTTPError as exc:
        raise TransientDeliveryError(f"{provider}: {type(exc).__name__}") from exc
