"""Customer and agent rich text is sanitised once, on the way in, with an allow-list."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from urllib.parse import unquote

import nh3

ALLOWED_TAGS = {
    "p",
    "br",
    "b",
    "strong",
    "i",
    "em",
    "u",
    "s",
    "ul",
    "ol",
    "li",
    "blockquote",
    "code",
    "pre",
    "a",
    "span",
    "div",
    "h1",
    "h2",
    "h3",
    "h4",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "img",
    "hr",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}


def sanitise_html(html: str) -> str:
    """Markup safe to render: no scripts, handlers, styles or javascript: URLs."""
    if not html:
        return ""
    return _clean(html)


def _clean(html: str, attribute_filter: Callable[[str, str, str], str | None] | None = None) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "cid"},
        link_rel="noopener noreferrer nofollow",
        attribute_filter=attribute_filter,
    )


# nh3 writes every attribute as name="value" with the quotes in values escaped, so an
# image tag is matched whole, and its own src told from one written inside an alt text.
IMG_TAG = re.compile(r"""<img(?:\s+[^\s"'<>/=]+(?:="[^"]*")?)*\s*/?>""")
SRC_ATTRIBUTE = re.compile(r'\ssrc="')


def resolve_images(html: str, source_of: Callable[[str], str | None]) -> str:
    """Sanitised markup whose images have the source ``source_of`` gives for theirs.

    An image it gives no source (a remote one, an unknown ``cid:``) is dropped whole, so
    nothing is loaded from elsewhere and no broken image is shown.
    """

    def image_source(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src":
            return source_of(value)
        return value

    cleaned = _clean(html, image_source)
    return IMG_TAG.sub(lambda tag: tag[0] if SRC_ATTRIBUTE.search(tag[0]) else "", cleaned)


def content_id_of(source: str) -> str | None:
    """The Content-ID a ``cid:`` URL names (RFC 2392: URL-encoded, no angle brackets)."""
    if source[:4].lower() != "cid:":
        return None
    return unquote(source[4:]).strip().strip("<>") or None


# Tags whose boundaries separate words; inline tags (b, a, span ...) join their text.
BLOCK_TAGS = ALLOWED_TAGS - {"b", "strong", "i", "em", "u", "s", "code", "a", "span", "img"}
TAG = re.compile(r"<[^>]*>")


def html_to_text(html: str) -> str:
    """A plain-text rendering of sanitised markup (for previews and search).

    Plain characters, not entities (``&`` not ``&amp;``): the text is escaped where shown.
    """
    blocks_only = nh3.clean(html, tags=BLOCK_TAGS, attributes={})  # bare tags, text escaped
    return " ".join(unescape(TAG.sub(" ", blocks_only)).split())
