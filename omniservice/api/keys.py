"""Creating and checking API keys. A key reads ``osk_<prefix>_<secret>``."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from omniservice.api.models import SCOPES, ApiKey

KEY_PREFIX = "osk"
LAST_USED_GRANULARITY = timedelta(minutes=1)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(
    *, name: str, scopes: list[str], rate_per_minute: int | None = None
) -> tuple[ApiKey, str]:
    """Create a key; returns it with the full key string, which is shown only once."""
    unknown = sorted(set(scopes) - set(SCOPES) - {"*"})
    if unknown:
        raise ValidationError(
            _("Unknown scopes: %(unknown)s. Known scopes: %(known)s."),
            params={"unknown": ", ".join(unknown), "known": ", ".join(SCOPES)},
            code="unknown_scope",
        )
    if ApiKey.objects.filter(name=name).exists():
        raise ValidationError(
            _("An API key named %(name)s exists already."),
            params={"name": name},
            code="duplicate_name",
        )
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        secret_hash=_hash(secret),
        scopes=sorted(set(scopes)),
        rate_per_minute=rate_per_minute,
    )
    return key, f"{KEY_PREFIX}_{prefix}_{secret}"


def authenticate_key(raw: str) -> ApiKey | None:
    """The active key matching ``raw``, or None. Constant-time comparison of the hash."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    _kind, prefix, secret = parts
    key = ApiKey.objects.filter(prefix=prefix, is_active=True).first()
    if key is None or not hmac.compare_digest(key.secret_hash, _hash(secret)):
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_GRANULARITY:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key
