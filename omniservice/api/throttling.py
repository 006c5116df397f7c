"""Rate limit per API key (or console user): a fixed window (``omniservice.ratelimit``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from omniservice import ratelimit
from omniservice.api.models import ApiKey

WINDOW_SECONDS = 60
ANONYMOUS_RATE_PER_MINUTE = 60


class PerClientRateThrottle(BaseThrottle):
    def _identity(self, request: Request) -> tuple[str, int]:
        if isinstance(request.auth, ApiKey):
            key = request.auth
            return f"k{key.pk}", key.rate_per_minute or settings.API_DEFAULT_RATE_PER_MINUTE
        if request.user and request.user.is_authenticated:
            return f"u{request.user.pk}", settings.API_DEFAULT_RATE_PER_MINUTE
        return f"ip{ratelimit.client_address(request.META)}", ANONYMOUS_RATE_PER_MINUTE

    def allow_request(self, request: Request, view: Any) -> bool:
        ident, limit = self._identity(request)
        rate = ratelimit.hit(f"api:{ident}", limit, WINDOW_SECONDS)
        self._wait = rate.retry_after
        return rate.allowed

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)
