"""Fixed-window rate limit per API key (or console user), O(1) per request in the cache."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

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
        return f"ip{self.get_ident(request)}", ANONYMOUS_RATE_PER_MINUTE

    def allow_request(self, request: Request, view: Any) -> bool:
        ident, limit = self._identity(request)
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        cache_key = f"throttle:{ident}:{window}"
        cache.add(cache_key, 0, timeout=WINDOW_SECONDS * 2)
        try:
            count = cache.incr(cache_key)
        except ValueError:
            cache.add(cache_key, 1, timeout=WINDOW_SECONDS * 2)
            count = 1
        self._wait = (window + 1) * WINDOW_SECONDS - now
        return count <= limit

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)
