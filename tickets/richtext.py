"""Customer and agent rich text is sanitised once, on the way in, with an allow-list."""

from __future__ import annotations

import re
from html import unescape

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
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "cid"},
        link_rel="noopener noreferrer nofollow",
    )


# Tags whose boundaries separate words; inline tags (b, a, span ...) join their text.
BLOCK_TAGS = ALLOWED_TAGS - {"b", "strong", "i", "em", "u", "s", "code", "a", "span", "img"}
TAG = re.compile(r"<[^>]*>")


def html_to_text(html: str) -> str:
    """A plain-text rendering of sanitised markup (for previews and search).

    Plain characters, not entities (``&`` not ``&amp;``): the text is escaped where shown.
    """
    blocks_only = nh3.clean(html, tags=BLOCK_TAGS, attributes={})  # bare tags, text escaped
    return " ".join(unescape(TAG.sub(" ", blocks_only)).split())
