"""``{{ message.body_html|message_html }}``: a message's rich text on the console page."""

from __future__ import annotations

from django import template
from django.urls import Resolver404, resolve
from django.utils.safestring import SafeString, mark_safe

from tickets.richtext import resolve_images

register = template.Library()


@register.filter
def message_html(html: str) -> SafeString:
    """The stored rich text cleaned again with the same allow-list; the only images kept
    are attachments served by the console itself (checked against the viewer's rights),
    so the page never loads anything from elsewhere, whoever wrote the markup."""
    return mark_safe(resolve_images(html or "", console_attachment_source))  # noqa: S308


def console_attachment_source(src: str) -> str | None:
    """``src`` when it is the path of the console's attachment view, else None."""
    if not src.startswith("/") or src.startswith("//"):
        return None
    try:
        match = resolve(src)
    except Resolver404:
        return None
    return src if match.view_name == "console:attachment" else None
