"""Base classes every API view of every app uses: scopes, errors, idempotency."""

from __future__ import annotations

from typing import Any

from rest_framework import generics, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from omniservice.api import idempotency


class ApiViewMixin:
    """Honours ``Idempotency-Key`` on POST. Subclasses declare ``scopes`` per action."""

    scopes: dict[str, str] = {}
    _idempotency_record = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication, scopes, throttling
        self._idempotency_record = idempotency.claim_or_replay(request)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, idempotency.IdempotentReplay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        if self._idempotency_record is not None and isinstance(response, Response):
            idempotency.store_response(self._idempotency_record, response)
            self._idempotency_record = None
        return response


class ApiView(ApiViewMixin, APIView):
    pass


class ApiGenericViewSet(ApiViewMixin, viewsets.GenericViewSet):
    pass


class ApiListView(ApiViewMixin, generics.ListAPIView):
    pass
