"""Channel credentials at rest: Fernet (AES-128-CBC + HMAC-SHA256) with key rotation.

Keys come from ``CHANNEL_SECRETS_KEYS`` (comma-separated Fernet keys, the first one
encrypts, all of them decrypt, so a key can be rotated without re-entering every
credential). Without it a key is derived from ``SECRET_KEY`` with HKDF, so the embedded
install needs no setting; production should set its own keys so that a leaked
``SECRET_KEY`` does not also open the providers' credentials.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretsUnreadable(Exception):
    """Stored credentials cannot be decrypted with the configured keys."""


def _derived_key(secret_key: str) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"omniservice",
        info=b"channel credentials",
    )
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    try:
        fernets = [Fernet(key.encode()) for key in keys] or [Fernet(_derived_key(secret_key))]
    except ValueError as exc:
        raise ImproperlyConfigured(
            "CHANNEL_SECRETS_KEYS holds a value that is not a Fernet key "
            "(32 url-safe base64 bytes, e.g. from cryptography.fernet.Fernet.generate_key())"
        ) from exc
    return MultiFernet(fernets)


def _current() -> MultiFernet:
    return _fernet(tuple(settings.CHANNEL_SECRETS_KEYS), settings.SECRET_KEY)


def encrypt_secrets(values: dict[str, str]) -> str:
    """The encrypted form of a credentials dict, as stored on the connection."""
    if not values:
        return ""
    plain = json.dumps(values, ensure_ascii=False, sort_keys=True).encode()
    return _current().encrypt(plain).decode("ascii")


def decrypt_secrets(token: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return json.loads(_current().decrypt(token.encode("ascii")))
    except (InvalidToken, ValueError) as exc:
        raise SecretsUnreadable(
            "channel credentials cannot be decrypted with the configured keys"
        ) from exc


def rotate_secrets(token: str) -> str:
    """Re-encrypt with the first key (after a new key was put in front)."""
    return _current().rotate(token.encode("ascii")).decode("ascii") if token else ""
