"""Domain exceptions raised by services and turned into HTTP errors at the edges.

They are Django ``ValidationError`` subclasses carrying a machine-readable ``code``, an
HTTP ``status`` and optional per-field messages, so forms, the admin and the API all
understand them.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError


class DomainError(ValidationError):
    status = 400

    def __init__(
        self,
        message: str,
        *,
        code: str = "invalid",
        fields: dict[str, list[str] | str] | None = None,
        params: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, code=code, params=params)
        self.fields = {
            name: [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])]
            for name, msgs in (fields or {}).items()
        }
        self.extra = extra or {}

    @property
    def text(self) -> str:
        return self.message % self.params if self.params else str(self.message)


class NotFoundError(DomainError):
    status = 404


class ConflictError(DomainError):
    status = 409


class BusyError(DomainError):
    """Lost too many races for the same rows; the client should retry shortly."""

    status = 503
