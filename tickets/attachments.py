"""Attachment limits and content sniffing: the bytes decide the type, not the client."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.http import FileResponse, Http404
from django.utils.translation import gettext as _

from omniservice.errors import DomainError

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS_PER_MESSAGE = 5
# Types the sniffer accepts; anything else (older rows) is served as opaque bytes.
SERVABLE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"}
)

_SIGNATURES: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
]


@dataclass(frozen=True)
class UploadedContent:
    filename: str
    content: bytes
    content_type: str
    sha256: str
    # An inline part of an email (multipart/related): its HTML names it as ``cid:<id>``.
    content_id: str = ""


def sniff_content_type(content: bytes) -> str | None:
    for signature, content_type in _SIGNATURES:
        if content.startswith(signature):
            return content_type
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\x00" in text:
        return None
    return "text/plain"


def check_attachment(filename: str, content: bytes) -> UploadedContent:
    """Validate one attachment; DomainError with a code when it cannot be accepted."""
    name = (filename or "").strip().replace("/", "_").replace("\\", "_")[:200] or "attachment"
    if len(content) == 0:
        raise DomainError(
            _("The attachment %(name)s is empty."), code="empty_attachment", params={"name": name}
        )
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise _too_large(name)
    content_type = sniff_content_type(content)
    if content_type is None:
        raise DomainError(
            _("The attachment %(name)s is not an accepted type (images, PDF, plain text)."),
            code="unsupported_attachment_type",
            params={"name": name},
        )
    return UploadedContent(name, content, content_type, hashlib.sha256(content).hexdigest())


def check_attachments(files: list[tuple[str, bytes]]) -> list[UploadedContent]:
    _check_count(len(files))
    return [check_attachment(name, content) for name, content in files]


def check_uploads(uploads: Sequence[UploadedFile]) -> list[UploadedContent]:
    """Files of a console form: the size is checked before a file is read into memory."""
    _check_count(len(uploads))
    checked = []
    for upload in uploads:
        if (upload.size or 0) > MAX_ATTACHMENT_BYTES:
            raise _too_large(upload.name or "attachment")
        checked.append(check_attachment(upload.name or "", upload.read()))
    return checked


def _check_count(count: int) -> None:
    if count > MAX_ATTACHMENTS_PER_MESSAGE:
        raise DomainError(_("At most 5 attachments per message."), code="too_many_attachments")


def _too_large(name: str) -> DomainError:
    return DomainError(
        _("The attachment %(name)s is larger than 10 MB."),
        code="attachment_too_large",
        params={"name": name},
    )


def download_response(attachment: Any) -> FileResponse:
    """The file as a download (never rendered inline), with its sniffed type and nosniff.
    The caller has checked that the requester may see the attachment's ticket."""
    content_type = attachment.content_type
    if content_type not in SERVABLE_TYPES:
        content_type = "application/octet-stream"
    try:
        content = attachment.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    response = FileResponse(
        content, as_attachment=True, filename=attachment.filename, content_type=content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response
