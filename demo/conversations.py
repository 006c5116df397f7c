"""Demo tickets: conversations across channels, written through the tickets services.

Every ticket is made the way a real one is (``thread_inbound_message``, ``reply``,
``add_note``, ``assign``, ``change_status``), so threading, status history, live events
and outbox deliveries are the product's own; only the timestamps are moved back
afterwards so the inbox shows a few days of work rather than one second.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Q

from customers.identity import IdentityClaim
from customers.models import Customer, Identity, IdentityKind
from demo import reference_data as ref
from omniservice.org.models import Role, Store, Team
from tickets import services
from tickets.models import Channel, Message, Priority, Ticket, TicketStatus, TicketStatusChange

DEFAULT_TICKETS = 150
EN = "en"


@dataclass(frozen=True)
class Script:
    """One conversation: the customer's words (zh, en), the agent's answer, and where it
    ends. ``team`` is a contact-centre team slug, or "store" for the customer's store."""

    channel: str
    customer: tuple[str, str]
    answer: tuple[str, str] | None
    follow_up: tuple[str, str] | None
    note: str | None
    status: str
    team: str
    priority: str = Priority.NORMAL
    tags: tuple[str, ...] = ()


SCRIPTS: tuple[Script, ...] = (
    Script(
        Channel.WECHAT,
        (
            "你好，我上周下的订单还没发货，能帮我查一下吗？",
            "Hi, my order from last week has not shipped yet, can you check?",
        ),
        (
            "您好，已经帮您查询，仓库今天下午发出，单号稍后短信通知您。",
            "Hello, the warehouse ships it this afternoon; the tracking number follows by SMS.",
        ),
        ("好的，谢谢！", "Great, thanks!"),
        None,
        TicketStatus.SOLVED,
        "online-support",
        tags=("order", "shipping"),
    ),
    Script(
        Channel.WHATSAPP,
        (
            "买的耳机左边没有声音，可以换一个吗？",
            "The left earbud of my headphones has no sound. Can I exchange them?",
        ),
        (
            "很抱歉给您带来不便。您可以到任意门店换新，或者我们上门取件。",
            "Sorry about that. You can exchange them in any store, or we can pick them up.",
        ),
        ("我明天去南京路店。", "I'll go to the Nanjing Road store tomorrow."),
        "已为顾客在门店预留同款，请门店同事核对发票。",
        TicketStatus.PENDING,
        "returns-repairs",
        Priority.HIGH,
        ("return", "electronics"),
    ),
    Script(
        Channel.EMAIL,
        (
            "发票抬头开错了，需要重开增值税专用发票。",
            "The invoice has the wrong company name; I need a new VAT invoice.",
        ),
        None,
        None,
        "需要财务确认，先别回复顾客。",
        TicketStatus.OPEN,
        "online-support",
        tags=("invoice",),
    ),
    Script(
        Channel.WEB_CHAT,
        ("这件外套有没有 M 码？", "Do you have this jacket in size M?"),
        (
            "线上暂时缺货，徐汇店还有两件 M 码，可以帮您预留。",
            "Out of stock online, but our Xuhui store has two in M; shall we reserve one?",
        ),
        None,
        None,
        TicketStatus.PENDING,
        "online-support",
        Priority.NORMAL,
        ("apparel", "stock"),
    ),
    Script(
        Channel.STORE,
        (
            "在店里试穿后想退掉昨天买的鞋子。",
            "Tried them on in the store and want to return the shoes I bought yesterday.",
        ),
        (
            "已在门店办理退货，款项 3 个工作日内原路退回。",
            "Return done in the store; the refund reaches your card within 3 working days.",
        ),
        None,
        None,
        TicketStatus.SOLVED,
        "store",
        tags=("return",),
    ),
    Script(
        Channel.PHONE,
        (
            "电话里说洗衣机安装师傅一直没来。",
            "On the phone: the washing machine installer never came.",
        ),
        None,
        None,
        "顾客很着急，已致电安装商，等回电。",
        TicketStatus.OPEN,
        "returns-repairs",
        Priority.URGENT,
        ("installation", "complaint"),
    ),
    Script(
        Channel.SMS,
        ("会员积分怎么突然少了 500？", "Why did my member points drop by 500?"),
        (
            "积分是上月兑换优惠券扣除的，明细可以在会员中心查看。",
            "The points paid for last month's coupon; the details are in the member centre.",
        ),
        None,
        None,
        TicketStatus.SOLVED,
        "vip-care",
        tags=("membership",),
    ),
    Script(
        Channel.WECHAT,
        ("VIP 生日礼品什么时候可以领取？", "When can I collect my VIP birthday gift?"),
        None,
        None,
        None,
        TicketStatus.NEW,
        "vip-care",
        Priority.HIGH,
        ("vip",),
    ),
    Script(
        Channel.KIOSK,
        ("自助机扫码后没有打印小票。", "The kiosk did not print a receipt after I scanned."),
        None,
        None,
        None,
        TicketStatus.NEW,
        "store",
        tags=("kiosk",),
    ),
    Script(
        Channel.API,
        (
            "App 里付款成功但订单显示未支付。",
            "The app says payment succeeded but the order shows unpaid.",
        ),
        (
            "支付系统有 10 分钟延迟，订单现在已更新为已支付。",
            "The payment system was 10 minutes late; the order is now marked paid.",
        ),
        ("看到了，谢谢。", "I see it now, thanks."),
        None,
        TicketStatus.SOLVED,
        "online-support",
        tags=("payment", "app"),
    ),
    Script(
        Channel.EMAIL,
        (
            "收到的咖啡机有划痕，附上照片。",
            "The coffee machine arrived scratched, photos attached.",
        ),
        (
            "非常抱歉，我们会安排换新，请问周六上午方便收货吗？",
            "We are very sorry; we will send a new one. Is Saturday morning fine for delivery?",
        ),
        None,
        None,
        TicketStatus.PENDING,
        "returns-repairs",
        Priority.HIGH,
        ("damaged", "electronics"),
    ),
    Script(
        Channel.WHATSAPP,
        ("请问门店周日几点开门？", "What time does the store open on Sunday?"),
        None,
        None,
        None,
        TicketStatus.NEW,
        "online-support",
        Priority.LOW,
        ("store-hours",),
    ),
)


def seed_conversations(*, count: int, seed: int, now: datetime) -> int:
    """Create ``count`` demo tickets on demo customers; returns how many were made."""
    rng = random.Random(seed + 7)
    customers = _customers_with_a_phone(count, rng)
    teams = {team.slug: team for team in Team.objects.filter(slug__isnull=False)}
    stores = list(Store.objects.filter(code__in=[s.code for s in ref.STORES]).order_by("code"))
    users = list(
        get_user_model()
        .objects.filter(_demo_staff_q(), staff_profile__role__in=[Role.AGENT, Role.STORE_STAFF])
        .select_related("staff_profile")
        .prefetch_related("staff_profile__teams")
        .order_by("username")
    )
    made = 0
    for index, (customer, phone) in enumerate(customers):
        script = SCRIPTS[index % len(SCRIPTS)]
        store = customer.home_store or rng.choice(stores)
        _play(script, index, customer, phone, store, teams, users, rng)
        _move_back_in_time(customer, now - timedelta(minutes=rng.randint(5, 4 * 24 * 60)))
        made += 1
    return made


def _customers_with_a_phone(count: int, rng: random.Random) -> list[tuple[Customer, str]]:
    phones = dict(
        Identity.objects.filter(
            kind=IdentityKind.PHONE, customer__public_id__startswith=ref.DEMO_PUBLIC_ID_PREFIX
        )
        .order_by("customer_id")
        .values_list("customer_id", "value")
    )
    chosen = sorted(rng.sample(sorted(phones), min(count, len(phones))))
    customers = Customer.objects.select_related("home_store").in_bulk(chosen)
    return [(customers[pk], phones[pk]) for pk in chosen]


def _demo_staff_q() -> Q:
    return Q(username__in=[spec.username for spec in ref.STAFF])


def _play(
    script: Script,
    index: int,
    customer: Customer,
    phone: str,
    store: Store,
    teams: dict[str, Team],
    users: list,
    rng: random.Random,
) -> None:
    english = customer.language == EN
    pick = (lambda pair: pair[1]) if english else (lambda pair: pair[0])
    at_store = script.team == "store" or script.channel in (Channel.STORE, Channel.KIOSK)
    identities = _identities_on(script.channel, phone, customer)
    result = services.thread_inbound_message(
        channel=script.channel,
        external_id=f"demo-{index}-1",
        identities=identities,
        text=pick(script.customer),
        store=store if at_store else None,
    )
    ticket = result.ticket
    team = teams.get(ref.store_team_slug(store.code)) if at_store else teams.get(script.team)
    agent = _agent_for(team, users, english, rng) if script.status != TicketStatus.NEW else None
    if team is not None or agent is not None:
        ticket = services.assign(ticket=ticket, actor=None, team=team or False, assignee=agent)
    if script.priority != Priority.NORMAL or script.tags:
        ticket = services.update_ticket(
            ticket=ticket, actor=None, priority=script.priority, tags=list(script.tags)
        )
    if script.note and agent is not None:
        services.add_note(ticket=ticket, author=agent, text=script.note)
    if script.answer and agent is not None:
        services.reply(ticket=ticket, author=agent, text=pick(script.answer))
    if script.follow_up:
        services.thread_inbound_message(
            channel=script.channel,
            external_id=f"demo-{index}-2",
            identities=identities,
            text=pick(script.follow_up),
        )
    _finish(ticket, script.status, agent)


def _identities_on(channel: str, phone: str, customer: Customer) -> list[IdentityClaim]:
    """Who writes on ``channel``: the channel's own id as its adapter would claim it (so
    that replies can leave there), beside the phone number that finds the customer."""
    claims = [IdentityClaim(IdentityKind.PHONE, phone)]
    digits = phone.lstrip("+")
    own = {
        Channel.WHATSAPP: (IdentityKind.WHATSAPP_ID, digits),
        Channel.WECHAT: (IdentityKind.WECHAT_OPENID, f"oDemo{customer.public_id[-12:]}"),
        Channel.EMAIL: (IdentityKind.EMAIL, f"{customer.public_id.lower()}@example.org"),
        Channel.WEB_CHAT: (IdentityKind.WEB_VISITOR_ID, f"demo-{customer.public_id}"),
    }.get(channel)
    if own is not None:
        claims.append(IdentityClaim(*own))
    return claims


def _agent_for(team: Team | None, users: list, english: bool, rng: random.Random):
    """A member of the team (English speakers for English customers), or None: 1 in 5
    tickets waits unassigned."""
    if team is None:
        return None
    members = [u for u in users if any(t.pk == team.pk for t in u.staff_profile.teams.all())]
    if english:
        members = [u for u in members if EN in (u.staff_profile.languages or [])] or members
    return rng.choice(members) if members and rng.random() < 0.8 else None


def _finish(ticket: Ticket, status: str, agent) -> None:
    ticket.refresh_from_db()
    path = {
        TicketStatus.NEW: [],
        TicketStatus.OPEN: [TicketStatus.OPEN],
        TicketStatus.PENDING: [TicketStatus.OPEN, TicketStatus.PENDING],
        TicketStatus.SOLVED: [TicketStatus.OPEN, TicketStatus.SOLVED],
    }[status]
    for step in path:
        if ticket.status != step:
            ticket = services.change_status(ticket=ticket, status=step, actor=agent)


def _move_back_in_time(customer: Customer, started: datetime) -> None:
    """Spread the ticket's rows over the minutes after ``started``, in their order."""
    for ticket in Ticket.objects.filter(customer=customer):
        rows = sorted(
            [("m", m.pk, m.created_at) for m in Message.objects.filter(ticket=ticket)]
            + [("s", c.pk, c.changed_at) for c in TicketStatusChange.objects.filter(ticket=ticket)],
            key=lambda row: (row[2], row[1]),
        )
        moment = started
        for kind, pk, _at in rows:
            moment += timedelta(minutes=1 + (pk % 7))
            model = Message if kind == "m" else TicketStatusChange
            field = "created_at" if kind == "m" else "changed_at"
            model.objects.filter(pk=pk).update(**{field: moment})
        Ticket.objects.filter(pk=ticket.pk).update(created_at=started, updated_at=moment)
        _move_ticket_clocks(ticket, started, moment)


def _move_ticket_clocks(ticket: Ticket, started: datetime, last: datetime) -> None:
    fields = {}
    for name in ("last_customer_message_at", "last_agent_message_at", "first_response_at"):
        if getattr(ticket, name) is not None:
            fields[name] = (
                last if name == "last_customer_message_at" else started + timedelta(minutes=5)
            )
    if ticket.solved_at is not None:
        fields["solved_at"] = last
    if fields:
        Ticket.objects.filter(pk=ticket.pk).update(**fields)


def demo_tickets_q() -> Q:
    return Q(customer__public_id__startswith=ref.DEMO_PUBLIC_ID_PREFIX) | Q(
        customer__merged_into__public_id__startswith=ref.DEMO_PUBLIC_ID_PREFIX
    )
