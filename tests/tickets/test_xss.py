"""Rich text from customers and agents: sanitised on the way in with an allow-list."""

from __future__ import annotations

import pytest

from tickets.richtext import content_id_of, html_to_text, resolve_images, sanitise_html


@pytest.mark.parametrize(
    ("dirty", "forbidden"),
    [
        ("<p>hi</p><script>alert(document.cookie)</script>", ["<script", "alert"]),
        ("<SCRIPT SRC=//evil.example/x.js></SCRIPT>", ["script", "evil"]),
        ('<img src="x.png" onerror="alert(1)">', ["onerror", "alert"]),
        ('<p onclick="steal()" onmouseover="steal()">x</p>', ["onclick", "onmouseover"]),
        ('<a href="javascript:alert(1)">click</a>', ["javascript"]),
        ('<a href="JaVaScRiPt:alert(1)">click</a>', ["javascript", "alert"]),
        ('<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>', ["data:"]),
        ('<p style="background:url(javascript:alert(1))">x</p>', ["style", "javascript"]),
        ('<span style="position:fixed;top:0">overlay</span>', ["style", "fixed"]),
        ('<iframe src="https://evil.example"></iframe>', ["iframe", "evil"]),
        ("<object data='x.swf'></object><embed src='x.swf'>", ["object", "embed"]),
        ("<svg onload=alert(1)><circle/></svg>", ["svg", "onload"]),
        ("<style>body{display:none}</style><p>x</p>", ["<style", "display"]),
        ('<form action="https://evil.example"><input name="pw"></form>', ["form", "input"]),
        ("<math><mi xlink:href='javascript:alert(1)'>x</mi></math>", ["javascript", "xlink"]),
    ],
)
def test_dangerous_markup_is_removed(dirty, forbidden):
    clean = sanitise_html(dirty).lower()

    for fragment in forbidden:
        assert fragment.lower() not in clean, clean


def test_allowed_formatting_and_https_links_are_kept():
    clean = sanitise_html(
        '<p>Hello <strong>there</strong>, see <a href="https://shop.example/o/1">your order</a>'
        "</p><ul><li><em>one</em></li></ul>"
    )

    assert clean.startswith("<p>Hello <strong>there</strong>, see <a ")
    assert 'href="https://shop.example/o/1"' in clean
    assert 'rel="noopener noreferrer nofollow"' in clean
    assert "<ul><li><em>one</em></li></ul>" in clean


def test_a_link_loses_only_its_dangerous_url():
    assert sanitise_html('<a href="javascript:x()">label</a>') == (
        '<a rel="noopener noreferrer nofollow">label</a>'
    )


def test_unknown_tags_are_dropped_but_their_text_is_kept():
    assert sanitise_html("<blink>hello</blink> <marquee>world</marquee>") == "hello world"


def test_empty_markup_stays_empty():
    assert sanitise_html("") == ""


def test_html_to_text_strips_every_tag_and_collapses_whitespace():
    text = html_to_text("<p>Hello\n  <strong>dear</strong>\tcustomer</p><script>x()</script>")

    assert text == "Hello dear customer"


def test_html_to_text_gives_plain_characters_not_entities():
    assert html_to_text(sanitise_html("<p>Tom &amp; Jerry &lt;3 caf&eacute;</p>")) == (
        "Tom & Jerry <3 café"
    )


def test_html_to_text_keeps_words_of_separate_blocks_apart():
    text = html_to_text("<p>Hello</p><p>World</p><ul><li>one</li><li>two</li></ul>a<br>b")

    assert text == "Hello World one two a b"


def test_html_to_text_does_not_split_words_around_inline_tags():
    assert html_to_text("un<strong>believ</strong>able") == "unbelievable"


def test_images_get_the_source_given_and_the_others_are_dropped_whole():
    html = sanitise_html(
        '<p>a<img src="cid:one%40mail" alt="one">b<img src="cid:two@mail" alt="two">'
        '<img src="https://tracker.example/p.gif">c</p>'
    )
    sources = {"one@mail": "/console/attachments/7/"}

    shown = resolve_images(html, lambda src: sources.get(content_id_of(src) or ""))

    assert shown == '<p>a<img src="/console/attachments/7/" alt="one">bc</p>'


def test_an_alt_text_that_looks_like_markup_does_not_keep_a_dropped_image():
    html = sanitise_html('<img alt="x&quot; src=&quot;/evil>" src="https://tracker.example/p">ok')

    assert resolve_images(html, lambda src: None) == "ok"


def test_a_source_given_by_the_caller_is_still_sanitised():
    shown = resolve_images('<img src="cid:x" onerror="alert(1)"><script>1</script>', lambda s: s)

    assert "onerror" not in shown and "script" not in shown
