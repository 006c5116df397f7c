"""Which channel a reply should leave on.

The reply box proposes the channel the customer used last. When that channel cannot
carry a free-form reply (its customer-service window closed, the customer has no address
there, or refused service messages on it), it falls back along the customer's preferred
channel, then the messaging apps, then SMS, then email, and says why. The chosen channel
is stored on the reply (``Message.channel``), so the history shows which one was used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Consent, ConsentPurpose, Identity, IdentityKind
from tickets.models import Channel, Direction, Message, Ticket, reply_window

# The address a reply on each channel goes to; channels absent here need none.
ADDRESS_KIND = {
    Channel.SMS: IdentityKind.PHONE,
    Channel.EMAIL: IdentityKind.EMAIL,
    Channel.WHATSAPP: IdentityKind.WHATSAPP_ID,
    Channel.WECHAT: IdentityKind.WECHAT_OPENID,
    Channel.MESSENGER: IdentityKind.FACEBOOK_PSID,
    Channel.INSTAGRAM: IdentityKind.INSTAGRAM_ID,
    Channel.WEB_CHAT: IdentityKind.WEB_VISITOR_ID,
}
FALLBACK_ORDER = (
    Channel.WHATSAPP,
    Channel.WECHAT,
    Channel.MESSENGER,
    Channel.INSTAGRAM,
    Channel.WEB_CHAT,
    Channel.SMS,
    Channel.EMAIL,
)
# A call is not a written reply; the console channel needs nothing and reaches no one.
NOT_PROPOSED = frozenset({Channel.PHONE, Channel.CONSOLE})


@dataclass(frozen=True)
class ReplyOption:
    channel: str
    label: str
    available: bool
    reason: str = ""
    # Only the reply window is in the way: the channel's approved templates may still go.
    window_closed: bool = False


@dataclass(frozen=True)
class ReplyChoice:
    proposed: str
    options: list[ReplyOption]
    notice: str = ""  # why the last-used channel was not proposed


def reply_choice(ticket: Ticket, *, now: datetime | None = None) -> ReplyChoice:
    """The proposed reply channel and every channel with whether it can be used (3 queries)."""
    now = now or timezone.now()
    customer_id = ticket.customer_id
    kinds = set(Identity.objects.filter(customer_id=customer_id).values_list("kind", flat=True))
    last_inbound = dict(
        Message.objects.filter(ticket__customer_id=customer_id, direction=Direction.INBOUND)
        .values("channel")
        .annotate(last=Max("created_at"))
        .values_list("channel", "last")
    )
    refused = set(
        Consent.objects.filter(
            customer_id=customer_id, purpose=ConsentPurpose.SERVICE, granted=False
        ).values_list("channel", flat=True)
    )
    options = [
        _option(value, label, kinds=kinds, last_inbound=last_inbound, refused=refused, now=now)
        for value, label in Channel.choices
    ]
    by_channel = {option.channel: option for option in options}
    last_used = ticket.last_channel or ticket.origin_channel
    preferred = ticket.customer.preferred_channel if ticket.customer_id else ""
    for channel in (last_used, preferred, *FALLBACK_ORDER):
        option = by_channel.get(channel)
        if option is not None and option.available and channel not in NOT_PROPOSED:
            proposed = channel
            break
    else:
        proposed = last_used if last_used in by_channel else Channel.CONSOLE
    notice = ""
    skipped = by_channel.get(last_used)
    if skipped is not None and proposed != last_used and skipped.reason:
        notice = _("%(channel)s: %(reason)s %(proposed)s is proposed instead.") % {
            "channel": skipped.label,
            "reason": skipped.reason,
            "proposed": by_channel[proposed].label,
        }
    return ReplyChoice(proposed=proposed, options=options, notice=notice)


def _option(
    channel: str,
    label: str,
    *,
    kinds: set[str],
    last_inbound: dict[str, datetime],
    refused: set[str],
    now: datetime,
) -> ReplyOption:
    address = ADDRESS_KIND.get(channel)
    if address is not None and address not in kinds:
        return ReplyOption(channel, label, False, _("no address of the customer."))
    if channel in refused:
        return ReplyOption(channel, label, False, _("the customer refused service messages."))
    window = reply_window(channel)
    if window is not None:
        last = last_inbound.get(channel)
        if last is None or now - last > window:
            return ReplyOption(
                channel, label, False, window_closed_text(window), window_closed=True
            )
    return ReplyOption(channel, label, True)


def window_closed_text(window: timedelta) -> str:
    if window >= timedelta(days=3):
        days = window.days
        return _("the %(days)s-day reply window is closed.") % {"days": days}
    hours = int(window.total_seconds() // 3600)
    return _("the %(hours)s-hour reply window is closed.") % {"hours": hours}
