"""MIME parsing with the standard library: bodies, files, charsets, automatic mail."""

from __future__ import annotations

import pytest
from django.utils import translation

from channels_hub.email_mime import read_email
from tests.channels_hub import email_samples as samples
from tickets.services import MAX_BODY_CHARS


def test_plain_email_gives_sender_subject_text_and_threading_ids():
    msg = samples.plain(
        in_reply_to="<a.1@x>", references="<root.1@x> <a.1@x>", message_id="<m.1@x>"
    )
    parsed = read_email(msg.as_bytes())
    assert (parsed.sender, parsed.sender_name) == (samples.CUSTOMER, "Li Na")
    assert parsed.subject == "Where is my order?"
    assert parsed.text == "Hello, my order 1042 has not arrived."
    assert parsed.message_id == "m.1@x"
    assert parsed.thread_ids == ["a.1@x", "root.1@x"]
    assert parsed.auto_kind == ""


def test_html_only_email_keeps_the_html_for_the_sanitiser_and_gets_its_text():
    parsed = read_email(samples.html_only().as_bytes())
    assert "<b>team</b>" in parsed.html  # sanitised by thread_inbound_message(html=)
    assert parsed.text == "Hello team Order 7"


def test_long_html_only_email_is_cut_to_the_message_limit_not_refused():
    msg = samples.plain()
    msg.set_content("<p>" + "long line of quoted history " * 2000 + "</p>", subtype="html")
    parsed = read_email(msg.as_bytes())
    assert len(parsed.text) <= MAX_BODY_CHARS
    assert parsed.text.endswith("[…]")


def test_multipart_alternative_gives_both_versions_once():
    parsed = read_email(samples.alternative().as_bytes())
    assert parsed.text == "Plain version: the parcel is late."
    assert parsed.html.count("HTML version") == 1
    assert parsed.attachments == []


def test_attachments_are_sniffed_and_an_unsafe_one_is_named_in_the_text():
    with translation.override("en"):
        parsed = read_email(samples.with_attachments().as_bytes())
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("receipt.pdf", "application/pdf"),
        ("照片.png", "image/png"),
    ]
    assert "invoice.exe" in parsed.text
    assert "[Attachment not accepted: invoice.exe" in parsed.text


def test_inline_image_becomes_an_attachment_with_its_content_id_and_the_html_its_cid():
    parsed = read_email(samples.inline_image().as_bytes())
    assert [a.content_type for a in parsed.attachments] == ["image/png"]
    assert parsed.attachments[0].filename == "scratch.png"
    assert parsed.attachments[0].content_id == "scratch@mail.example.cn"
    assert 'src="cid:scratch@mail.example.cn"' in parsed.html
    assert parsed.text == "See the scratch in the picture."


def test_gb2312_labelled_subject_and_body_with_gbk_characters_are_read():
    parsed = read_email(samples.gbk_raw())
    assert parsed.subject == "朱镕的订单还没到"
    assert parsed.sender_name == "朱先生"
    assert parsed.text == "您好，我的订单还没有到，请帮忙查一下。"


def test_raw_8bit_gbk_subject_is_read():
    parsed = read_email(samples.raw_8bit_gbk_subject())
    assert parsed.subject == "退货申请"
    assert parsed.text == "我要退货。"


def test_utf8_subject_and_body():
    parsed = read_email(samples.utf8_subject().as_bytes())
    assert parsed.subject == "关于订单 #1042 的问题 ✓"
    assert parsed.text == "请问什么时候发货？"


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Auto-Submitted": "auto-generated"},
        {"Precedence": "bulk"},
        {"Precedence": "junk"},
        {"Precedence": "list"},
        {"X-Autoreply": "yes"},
        {"X-Autorespond": "Out of office"},
    ],
)
def test_automatic_replies_are_recognised(headers):
    parsed = read_email(samples.plain(headers=headers).as_bytes())
    assert parsed.auto_kind == "auto_reply"


def test_auto_submitted_no_is_a_person():
    parsed = read_email(samples.plain(headers={"Auto-Submitted": "no"}).as_bytes())
    assert parsed.auto_kind == ""


def test_null_envelope_sender_is_a_bounce():
    parsed = read_email(samples.plain().as_bytes(), envelope_sender="")
    assert parsed.auto_kind == "bounce"


def test_dsn_reports_the_failed_recipient_with_status_and_diagnostic():
    parsed = read_email(samples.dsn(original_message_id="omni.7.abc@brand.example"))
    assert parsed.auto_kind == "bounce"
    (report,) = parsed.reports
    assert report.original_message_id == "omni.7.abc@brand.example"
    assert report.action == "failed"
    assert report.status == "5.1.1"
    assert "User unknown" in report.diagnostic
    assert report.recipient == samples.CUSTOMER
    assert "could not be delivered" in parsed.text
