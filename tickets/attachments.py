"""Attachment limits and content sniffing: the bytes decide the type, not the client."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.utils.translation import gettext as _

from omniservice.errors import DomainError

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS_PER_MESSAGE = 5

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
        raise DomainError(
            _("The attachment %(name)s is larger than 10 MB."),
            code="attachment_too_large",
            params={"name": name},
        )
    content_type = sniff_content_type(content)
    if content_type is None:
        raise DomainError(
            _("The attachment %(name)s is not an accepted type (images, PDF, plain text)."),
            code="unsupported_attachment_type",
            params={"name": name},
        )
    return UploadedContent(name, content, content_type, hashlib.sha256(content).hexdigest())


def check_attachments(files: list[tuple[str, bytes]]) -> list[UploadedContent]:
    if len(files) > MAX_ATTACHMENTS_PER_MESSAGE:
        raise DomainError(_("At most 5 attachments per message."), code="too_many_attachments")
    return [check_attachment(name, content) for name, content in files]
