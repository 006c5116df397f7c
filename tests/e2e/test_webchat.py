"""The web chat widget on a shop's page in a real browser, an agent answering from the
console, the answer appearing live in the widget; then the history on return."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from channels_hub.delivery import deliver_message
from channels_hub.models import ChannelConnection
from tests.e2e.conftest import _refuse_external
from tickets.models import Attachment, Channel, DeliveryStatus, Message, Ticket

pytestmark = pytest.mark.django_db(transaction=True)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

LIVE = "#live-status[data-state=live]"


def shop_html(server_url: str, key: str, lang: str = "") -> bytes:
    return (
        "<!doctype html><html lang='zh'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>小店</title><style>body{font-family:sans-serif;margin:0;padding:16px}"
        "h1{font-size:20px}</style></head><body><h1>欢迎光临小店</h1>"
        "<p>新品上架，全场包邮。</p>"
        f"<script src='{server_url}/chat/widget.js' data-key='{key}' data-lang='{lang}' async>"
        "</script>"
        "</body></html>"
    ).encode()


@pytest.fixture
def shop_site():
    """The shop's own web server (another origin than omniservice's, on loopback):
    ``shop_site.page`` is the HTML it serves."""

    class Site:
        page = b""
        url = ""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(Site.page)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Site.url = f"http://localhost:{server.server_address[1]}"
    yield Site
    server.shutdown()
    server.server_close()


def phone(browser, *, width: int = 360, height: int = 740):
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    _refuse_external(page)
    return context, page


def test_visitor_chats_and_the_agents_reply_appears_live(
    browser, asgi_server, console_page, screenshot, personas, shop_site
):
    personas.agent.display_name = "李娜"
    personas.agent.save(update_fields=["display_name"])
    connection = ChannelConnection.objects.create(
        channel=Channel.WEB_CHAT,
        name="小店在线客服",
        settings={
            "allowed_origins": [shop_site.url],
            "title": "小店在线客服",
            "online_without_agents": True,
        },
    )
    shop_site.page = shop_html(asgi_server.url, connection.webhook_key)
    context, shop = phone(browser)
    try:
        shop.goto(f"{shop_site.url}/")
        shop.click(".launcher")
        shop.fill("#f-name", "王芳")
        shop.fill("#f-contact", "wang.fang@example.com")
        shop.fill("#f-topic", "配送")
        shop.fill("#f-text", "<b>你好</b>，我昨天的订单什么时候发货？")
        shop.click(".prechat .primary")
        mine = shop.locator(".msg.visitor .text", has_text="什么时候发货")
        expect(mine).to_be_visible(timeout=3000)
        assert mine.inner_text().startswith("<b>你好</b>")  # shown as text, never as HTML

        message = Message.objects.get(channel=Channel.WEB_CHAT)
        number = message.ticket_id
        assert Ticket.objects.get(pk=number).subject == "配送"

        agent = console_page(personas.agent.user, locale="zh-CN")
        agent.goto(f"{asgi_server.url}/console/tickets/{number}/")
        agent.wait_for_selector(LIVE)
        # typed as people type (the widget repeats "typing" every 2 s while it goes on)
        shop.locator(".composer textarea").press_sequentially("请问在吗？麻烦帮我看一下", delay=250)
        expect(agent.locator("#collision")).to_contain_text("客户正在输入", timeout=3000)

        agent.fill("#reply-text", "王女士您好，您的订单今天下午发货，明天送达。")
        expect(shop.locator(".typing")).to_contain_text("李娜 正在输入", timeout=3000)
        agent.click("#send-button")
        reply = Message.objects.filter(channel=Channel.WEB_CHAT, direction="outbound")
        expect(agent.locator(".tl-outbound .bubble-body", has_text="明天送达")).to_be_visible(
            timeout=3000
        )
        outbound = reply.get()
        if outbound.delivery_status == DeliveryStatus.QUEUED:
            deliver_message({"message_id": outbound.pk})  # no worker with REDIS_URL: we deliver

        answer = shop.locator(".msg.agent", has_text="明天送达")
        expect(answer).to_be_visible(timeout=3000)
        expect(answer.locator(".author")).to_have_text("李娜")
        expect(answer.locator(".avatar")).to_have_text("李")
        expect(shop.locator(".typing")).to_have_text("")
        shop.set_input_files(
            ".composer input[type=file]",
            files=[{"name": "小票.png", "mimeType": "image/png", "buffer": PNG}],
        )
        sent_file = shop.locator(".msg.visitor:not(.pending) .file", has_text="小票.png")
        expect(sent_file).to_be_visible(timeout=3000)
        assert Attachment.objects.get().message.ticket_id == number
        with shop.expect_download() as download:
            sent_file.click()
        assert download.value.suggested_filename == "小票.png"
        screenshot(shop, "web-chat")
        assert shop.evaluate("document.documentElement.scrollWidth") <= 360

        # history on return: a new page load keeps the visitor and shows the conversation
        shop.reload()
        shop.click(".launcher")
        expect(shop.locator(".msg.agent", has_text="明天送达")).to_be_visible(timeout=3000)
        expect(shop.locator(".msg.visitor", has_text="什么时候发货")).to_be_visible()
        assert shop.locator(".prechat").count() == 0
        assert shop.external_requests == []
    finally:
        context.close()


def test_offline_visitor_leaves_a_message_in_english(browser, asgi_server, shop_site, screenshot):
    connection = ChannelConnection.objects.create(
        channel=Channel.WEB_CHAT,
        name="Shop",
        settings={"allowed_origins": [shop_site.url], "title": "Shop help"},
    )  # no agent is online
    shop_site.page = shop_html(asgi_server.url, connection.webhook_key, lang="en")
    context, shop = phone(browser)
    try:
        shop.goto(f"{shop_site.url}/")
        shop.click(".launcher")
        expect(shop.locator(".offline h3")).to_have_text("We are away right now")
        expect(shop.locator(".status")).to_have_text("No one can answer right now.")
        shop.fill("#f-name", "Ann Lee")
        shop.fill("#f-text", "Please call me about my order.")
        shop.click(".offline .primary")
        expect(shop.locator(".offline .error")).to_contain_text("phone number or an email")
        shop.fill("#f-contact", "ann@example.com")
        screenshot(shop, "web-chat-offline")
        shop.click(".offline .primary")
        expect(shop.locator(".banner")).to_have_text(
            "Thank you, we have your message and will answer soon.", timeout=3000
        )
        expect(shop.locator(".msg.visitor", has_text="Please call me")).to_be_visible()
        ticket = Ticket.objects.get()
        assert "web-chat-offline" in set(ticket.tags.values_list("name", flat=True))
        assert ticket.customer.identities.filter(kind="email", value="ann@example.com").exists()
    finally:
        context.close()
