"""Refuse unsafe production configurations at start-up.

The embedded default (no SECRET_KEY, local hosts only) is safe because nothing outside
this machine can reach it. As soon as ALLOWED_HOSTS names a host other than the loopback
ones, the process is considered public and must have a real secret key and DEBUG off.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1", "testserver"})
INSECURE_KEY_PREFIX = "insecure-dev-key-"


def is_public(allowed_hosts: list[str]) -> bool:
    return any(host not in LOCAL_HOSTS for host in allowed_hosts)


def check_production_safety(*, secret_key: str, debug: bool, allowed_hosts: list[str]) -> None:
    """Raise ImproperlyConfigured when a public deployment is configured unsafely."""
    if not is_public(allowed_hosts):
        return
    if debug:
        raise ImproperlyConfigured(
            "DEBUG is on while ALLOWED_HOSTS names a public host "
            f"({', '.join(allowed_hosts)}). Set DEBUG=false for a public deployment."
        )
    if secret_key.startswith(INSECURE_KEY_PREFIX) or len(secret_key) < 32:
        raise ImproperlyConfigured(
            "SECRET_KEY is the built-in development key or shorter than 32 characters "
            "while ALLOWED_HOSTS names a public host. Set SECRET_KEY (or SECRET_KEY_FILE)."
        )
