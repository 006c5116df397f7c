"""``Idempotency-Key`` on POST: a retried request gets the first answer, not a second effect.

The first request with a key claims a record (unique per client and key) before it runs;
its response (if not a 5xx) is stored and replayed to later requests carrying the same
key and the same body. The same key with a different body is refused, and a request
arriving while the first is still running gets 409, so two concurrent retries never
both run.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.request import Request
from rest_framework.response import Response

from omniservice.api.models import IdempotencyRecord
from omniservice.errors import ConflictError, DomainError

HEADER = "HTTP_IDEMPOTENCY_KEY"
RETENTION = timedelta(hours=24)
MAX_KEY_LENGTH = 200


class IdempotentReplay(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _owner(request: Request) -> str:
    auth = request.auth
    if auth is not None and hasattr(auth, "prefix"):
        return f"apikey:{auth.pk}"
    return f"user:{request.user.pk}"


def _fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(request.get_full_path().encode())
    digest.update(request.body if isinstance(request.body, bytes) else b"")
    return digest.hexdigest()


def claim_or_replay(request: Request) -> IdempotencyRecord | None:
    """Claim the key of this POST, or raise IdempotentReplay with the stored answer."""
    key = request.META.get(HEADER)
    if request.method != "POST" or not key:
        return None
    if len(key) > MAX_KEY_LENGTH:
        raise DomainError(
            _("The Idempotency-Key header is longer than 200 characters."),
            code="invalid_idempotency_key",
        )
    owner, fingerprint = _owner(request), _fingerprint(request)
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                owner=owner, key=key, request_fingerprint=fingerprint
            )
    except IntegrityError:
        pass
    record = IdempotencyRecord.objects.get(owner=owner, key=key)
    if record.request_fingerprint != fingerprint:
        raise DomainError(
            _("This Idempotency-Key was used with a different request."),
            code="idempotency_key_reused",
        )
    if record.response_status is None:
        raise ConflictError(
            _("A request with this Idempotency-Key is still being processed."),
            code="idempotency_in_progress",
        )
    response = Response(record.response_body, status=record.response_status)
    response["Idempotent-Replayed"] = "true"
    raise IdempotentReplay(response)


def purge_records(*, older_than: timedelta = RETENTION) -> int:
    """Forget answers older than the retention window (clients retry within minutes)."""
    deleted, _per_model = IdempotencyRecord.objects.filter(
        created_at__lt=timezone.now() - older_than
    ).delete()
    return deleted


def store_response(record: IdempotencyRecord, response: Response) -> None:
    if response.status_code >= 500:
        record.delete()  # let the client retry for real
        return
    body: Any = response.data
    try:
        json.dumps(body)
    except TypeError:
        body = json.loads(json.dumps(body, default=str))
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        response_status=response.status_code, response_body=body
    )
