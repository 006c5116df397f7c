"""The agent console in a real browser against a real ASGI server: live inbox, collision
notices, a reply that appears in a colleague's timeline, shortcuts, a 1024 px tablet."""

from __future__ import annotations

import json
import urllib.request
from datetime import time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from customers.models import Consent, ConsentPurpose, ContactChannel, IdentityKind
from omniservice.api.keys import create_api_key
from tests.factories import (
    CustomerEventFactory,
    CustomerFactory,
    IdentityFactory,
    MessageFactory,
    TicketFactory,
)
from tickets.models import (
    Channel,
    DefaultTeamRule,
    Priority,
    RoutingPolicy,
    TicketStatus,
    TicketTag,
)

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "+8613800138000"
LIVE = "#live-status[data-state=live]"


def post_inbound_message(server_url: str, text: str, external_id: str, channel: str = "api") -> int:
    """A customer writes through the partner API: the server process publishes the event."""
    _key, raw = create_api_key(name=f"e2e-{external_id}", scopes=["tickets:write"])
    body = {
        "channel": channel,
        "external_id": external_id,
        "identities": [{"kind": "phone", "value": PHONE}],
        "text": text,
        "customer": {"name": "王芳"},
    }
    request = urllib.request.Request(  # noqa: S310 - the local test server
        f"{server_url}/api/v1/messages/",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {raw}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert response.status == 201
        return json.load(response)["ticket"]


def seed_customer_with_history(personas) -> None:
    """The customer who will write: a VIP with orders, a store visit and an earlier ticket."""
    personas.store_one.name = "上海南京西路店"
    personas.store_one.save(update_fields=["name"])
    customer = CustomerFactory(
        name="王芳",
        tier="vip",
        preferred_channel=ContactChannel.WECHAT,
        contact_hours_start=time(9),
        contact_hours_end=time(21),
        home_store=personas.store_one,
    )
    IdentityFactory(customer=customer, kind=IdentityKind.PHONE, value=PHONE, verified=True)
    IdentityFactory(customer=customer, kind=IdentityKind.EMAIL, value="wang.fang@example.com")
    IdentityFactory(customer=customer, kind=IdentityKind.MEMBER_NO, value="M-20931")
    now = timezone.now()
    for kind, ref, amount, days, store in [
        ("order", "TM-1001", "899.00", 6, None),
        ("store_visit", "VISIT-88", None, 4, personas.store_one),
        ("order", "TM-1002", "129.00", 2, None),
        ("return", "RMA-311", "129.00", 1, personas.store_one),
    ]:
        CustomerEventFactory(
            customer=customer,
            kind=kind,
            external_id=ref,
            amount=amount,
            currency="CNY" if amount else "",
            occurred_at=now - timedelta(days=days, hours=3),
            store=store,
        )
    for channel, granted in [(ContactChannel.WECHAT, True), (ContactChannel.SMS, False)]:
        Consent.objects.create(
            customer=customer,
            channel=channel,
            purpose=ConsentPurpose.SERVICE if granted else ConsentPurpose.MARKETING,
            granted=granted,
            updated_at=now,
        )
    earlier = TicketFactory(
        customer=customer, subject="发票抬头需要修改", status=TicketStatus.CLOSED
    )
    MessageFactory(ticket=earlier, body_text="发票抬头需要修改")


def seed_inbox(personas) -> None:
    """Other tickets in the queue, so the inbox looks like a working day."""
    tag_refund, tag_vip = (
        TicketTag.objects.create(name="退款"),
        TicketTag.objects.create(name="vip"),
    )
    rows = [
        ("Order arrived damaged, need a replacement", "Emma Li", Channel.EMAIL, "open", "high"),
        ("会员积分没有到账", "张伟", Channel.WECHAT, "new", "normal"),
        ("Can I change the delivery address?", "Tom Chen", Channel.WEB_CHAT, "pending", "low"),
        ("门店试穿后想线上下单", "刘洋", Channel.STORE, "open", "normal"),
        ("Refund not received after 10 days", "Sara Wu", Channel.WHATSAPP, "new", "urgent"),
        ("优惠券无法使用", "陈静", Channel.SMS, "on_hold", "normal"),
    ]
    for index, (subject, name, channel, status, priority) in enumerate(rows):
        ticket = TicketFactory(
            customer=CustomerFactory(name=name),
            subject=subject,
            origin_channel=channel,
            status=status,
            priority=priority,
            store=personas.store_one if channel == Channel.STORE else None,
        )
        MessageFactory(ticket=ticket, body_text=subject)
        if priority in (Priority.HIGH, Priority.URGENT):
            ticket.tags.add(tag_refund if index % 2 else tag_vip)


def name_agents(personas) -> tuple:
    one, two = personas.agent, personas.teammate
    one.display_name, two.display_name = "Lin Yue", "Chen Hao"
    one.save(update_fields=["display_name"])
    two.save(update_fields=["display_name"])
    return one.user, two.user


def test_two_agents_work_the_same_ticket_live(asgi_server, console_page, screenshot, personas):
    agent_one, agent_two = name_agents(personas)
    seed_customer_with_history(personas)
    seed_inbox(personas)
    # new messages join team A, whose routing is off: the ticket waits for someone to take it
    DefaultTeamRule.objects.create(team=personas.team_a)
    RoutingPolicy.objects.create(team=personas.team_a, enabled=False)
    one, two = console_page(agent_one), console_page(agent_two)
    for page in (one, two):
        page.goto(f"{asgi_server.url}/console/?view=unassigned")
        page.wait_for_selector(LIVE)

    number = post_inbound_message(
        asgi_server.url, "你好，我的订单 TM-1002 退货后还没有收到退款，能帮我查一下吗？", "wx-1"
    )

    row = f"#ticket-list tr[data-ticket='{number}']"
    expect(one.locator(row)).to_be_visible(timeout=1000)
    expect(two.locator(row)).to_be_visible(timeout=1000)
    assert "王芳" in one.inner_text(row)
    screenshot(one, "console-inbox")

    one.click(f"{row} a.subject")
    one.wait_for_url(f"**/console/tickets/{number}/")
    one.wait_for_selector(LIVE)
    two.goto(f"{asgi_server.url}/console/tickets/{number}/")
    two.wait_for_selector(LIVE)
    expect(two.locator("#collision")).to_contain_text("Lin Yue is viewing", timeout=2000)
    expect(one.locator("#collision")).to_contain_text("Chen Hao is viewing", timeout=2000)

    one.fill("#reply-text", "王女士您好，退款已经在处理，预计 1-3 个工作日到账。")
    expect(two.locator("#collision")).to_contain_text("Lin Yue is replying", timeout=2000)
    receipt = {"name": "退款单.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%%EOF\n"}
    one.set_input_files("#reply-attachments", files=[receipt])
    expect(one.locator("#reply-attachment-names")).to_have_text("退款单.pdf")

    one.click("#send-button")
    reply = two.locator(".tl-outbound .bubble-body", has_text="退款已经在处理")
    expect(reply).to_be_visible(timeout=2000)
    expect(two.locator(".tl-outbound .attachments a", has_text="退款单.pdf")).to_be_visible()
    expect(one.locator("#reply-attachment-names")).to_have_text("")
    expect(one.locator(".tl-outbound .bubble-body", has_text="退款已经在处理")).to_be_visible()
    expect(two.locator("#collision")).to_contain_text("Lin Yue is viewing", timeout=2000)
    expect(two.locator("#ticket-header .badge")).to_have_text("Open", timeout=2000)

    two.select_option("#control-priority", "high")
    expect(one.locator("#ticket-header .priority")).to_have_text("High", timeout=2000)
    two.fill("#control-tags", "退款, vip")
    two.click("#ticket-controls .control-tags button")
    expect(one.locator("#ticket-header .chip.tag")).to_have_text(["vip", "退款"], timeout=2000)
    expect(one.locator("#control-tags")).to_have_value("vip, 退款")

    two.keyboard.press("Escape")
    two.keyboard.press("n")
    two.keyboard.type("仓库已确认退货 RMA-311 入库，财务今天处理退款。")
    two.keyboard.press("Control+Enter")
    note = ".tl-note .bubble-body"
    expect(one.locator(note, has_text="RMA-311 入库")).to_be_visible(timeout=2000)
    expect(two.locator(note, has_text="RMA-311 入库")).to_be_visible()

    two.evaluate("document.activeElement && document.activeElement.blur()")
    expect(two.locator("#flash .flash")).to_have_count(0, timeout=5000)
    screenshot(two, "console-ticket")

    two.set_viewport_size({"width": 1024, "height": 768})
    assert two.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    panel, timeline = two.locator(".customer-panel"), two.locator("#timeline")
    assert panel.is_visible() and timeline.is_visible()
    assert panel.bounding_box()["width"] >= 260
    assert timeline.bounding_box()["width"] >= 600
    screenshot(two, "console-ticket-1024")
    one.set_viewport_size({"width": 1024, "height": 768})
    one.goto(f"{asgi_server.url}/console/?view=unassigned")
    assert one.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(one, "console-inbox-1024")
    assert one.external_requests == [] and two.external_requests == []


def test_keyboard_shortcuts(asgi_server, console_page, personas):
    agent = personas.agent.user
    tickets = [TicketFactory(team=personas.team_a, assignee=agent) for _ in range(3)]
    page = console_page(agent)
    page.goto(f"{asgi_server.url}/console/")
    page.wait_for_selector(LIVE)

    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "console-search"
    page.keyboard.type("jk")  # typed into the search box, not taken as shortcuts
    assert page.input_value("#console-search") == "jk"
    assert page.locator("#ticket-list tr.selected").count() == 0
    page.keyboard.press("Escape")

    page.keyboard.press("?")
    expect(page.locator("#shortcut-help")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#shortcut-help")).to_be_hidden()

    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    newest = tickets[-1]
    expect(page.locator("#ticket-list tr.selected")).to_have_attribute(
        "data-ticket", str(newest.pk)
    )
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/console/tickets/{newest.pk}/")
    page.wait_for_selector(LIVE)

    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.id") == "reply-text"
    page.keyboard.press("Escape")
    page.keyboard.press("n")
    assert page.evaluate("document.activeElement.id") == "reply-text"
    expect(page.locator("#reply-form")).to_have_class("composer mode-note")
    page.keyboard.type("checked the order")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".tl-note .bubble-body", has_text="checked the order")).to_be_visible()

    page.keyboard.press("Escape")
    page.keyboard.press("s")
    expect(page.locator("#ticket-header .badge")).to_have_text("Solved", timeout=2000)


def test_console_speaks_chinese_by_default(asgi_server, console_page, personas):
    page = console_page(personas.agent.user, locale="zh-CN")
    page.goto(f"{asgi_server.url}/console/")

    assert page.get_attribute("html", "lang") == "zh-hans"
    page.wait_for_selector(LIVE)


def test_idle_agent_shows_away_after_five_minutes_and_online_on_activity(
    asgi_server, console_page, personas
):
    page = console_page(personas.agent.user)
    sent: list[dict] = []
    page.on(
        "websocket",
        lambda socket: socket.on("framesent", lambda payload: sent.append(json.loads(payload))),
    )
    page.clock.install()
    page.goto(f"{asgi_server.url}/console/")
    page.wait_for_selector(LIVE)

    page.clock.fast_forward("04:30")
    page.clock.run_for(10_000)
    assert {"type": "presence", "state": "away"} not in sent
    page.clock.fast_forward("01:00")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "away")
    assert {"type": "presence", "state": "away"} in sent

    page.mouse.move(200, 300)
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    assert sent[-1] == {"type": "presence", "state": "online"}
