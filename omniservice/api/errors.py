"""One error format for the whole API: ``{"error": {"code", "message", "fields"}}``."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from omniservice.errors import DomainError

logger = logging.getLogger(__name__)

_CODES: list[tuple[type[Exception], str]] = [
    (exceptions.ParseError, "malformed_request"),
    (exceptions.UnsupportedMediaType, "unsupported_media_type"),
    (exceptions.NotAuthenticated, "not_authenticated"),
    (exceptions.AuthenticationFailed, "authentication_failed"),
    (exceptions.PermissionDenied, "permission_denied"),
    (exceptions.NotFound, "not_found"),
    (exceptions.MethodNotAllowed, "method_not_allowed"),
    (exceptions.NotAcceptable, "not_acceptable"),
    (exceptions.Throttled, "throttled"),
]


def error_body(
    code: str, message: str, fields: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}, **extra}}


def _flatten(detail: Any) -> Any:
    """DRF error details as plain strings / lists / dicts."""
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def _single_code(codes: Any) -> str:
    """The one specific code of a validation error (e.g. invalid_phone), else "invalid"."""
    leaves: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        else:
            leaves.add(str(node))

    walk(codes)
    return leaves.pop() if len(leaves) == 1 else "invalid"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        set_rollback()
        body = error_body(exc.code or "invalid", exc.text, exc.fields, **exc.extra)
        return Response(body, status=exc.status)
    if isinstance(exc, DjangoValidationError):
        set_rollback()
        fields = exc.message_dict if hasattr(exc, "error_dict") else {}
        message = "; ".join(exc.messages)
        return Response(error_body(exc.code or "invalid", message, fields), status=400)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: Django logs it and answers 500 (see api_server_error)

    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    set_rollback()

    if isinstance(exc, exceptions.ValidationError):
        detail = _flatten(exc.detail)
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        body = error_body(
            _single_code(exc.get_codes()), _("The request has invalid fields."), fields
        )
        return Response(body, status=exc.status_code, headers=headers)

    code = next((c for cls, c in _CODES if isinstance(exc, cls)), None)
    detail_code = getattr(getattr(exc, "detail", None), "code", None)
    if isinstance(exc, exceptions.PermissionDenied) and detail_code == "missing_scope":
        code = "missing_scope"
    message = str(exc.detail) if not isinstance(exc.detail, list | dict) else str(exc)
    return Response(
        error_body(code or exc.default_code, message), status=exc.status_code, headers=headers
    )


def api_not_found(request: Any, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", _("No such endpoint.")), status=404)


def api_server_error(request: Any) -> JsonResponse:
    body = error_body("server_error", _("An unexpected error occurred; it has been logged."))
    return JsonResponse(body, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
