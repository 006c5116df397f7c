"""Who may talk through a web chat widget: origins, visitor tokens, verified identities,
rate limits and opening hours of the connection.

The widget's key (``data-key``) is the connection's ``webhook_key``: public, since it sits
in every page of the site. What protects a conversation is the visitor token, signed by
this server (``django.core.signing``) and naming one visitor of one connection; a site's
member is only believed when the site signed its user id with the connection's
``identity_secret``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.utils.translation import gettext as _

from channels_hub.models import ChannelConnection
from customers.identity import CONTROL_CHARS
from omniservice import ratelimit
from omniservice.errors import DomainError
from omniservice.org.models import Presence, Role, StaffProfile
from tickets.models import BusinessCalendar, Channel
from tickets.sla.policies import calendar_schedule

logger = logging.getLogger(__name__)

VISITOR_SIGNING_SALT = "channels_hub.webchat.visitor"
SOCKET_SIGNING_SALT = "channels_hub.webchat.socket"
TOKEN_MAX_AGE = 365 * 24 * 3600
SOCKET_TOKEN_MAX_AGE = 120
RATE_WINDOW_SECONDS = 60


class WebChatRefused(DomainError):
    """A widget request refused before anything is written."""

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message, code=code)
        self.status = status


@dataclass(frozen=True)
class VisitorToken:
    visitor_id: str
    connection_id: int
    user_id: str = ""  # the verified user id of the site's member, if any

    @property
    def group(self) -> str:
        return visitor_group(self.visitor_id)


def visitor_group(visitor_id: str) -> str:
    return f"webchat.{visitor_id}"


def widget_connection(key: str) -> ChannelConnection | None:
    if not key or len(key) > 40:
        return None
    return ChannelConnection.objects.filter(
        channel=Channel.WEB_CHAT, webhook_key=key, is_active=True
    ).first()


# --- origins ----------------------------------------------------------------------------


def allowed_origins(connection: ChannelConnection) -> set[str]:
    raw = connection.settings.get("allowed_origins") or []
    if isinstance(raw, str):
        raw = raw.split(",")
    return {str(origin).strip().rstrip("/").lower() for origin in raw if str(origin).strip()}


def origin_allowed(connection: ChannelConnection, origin: str | None, *, own_host: str) -> bool:
    """A page of an allow-listed site, or of this server itself.

    ``origin`` None means the client sent no Origin header (not a browser page on another
    site; a browser always sends it on cross-origin requests and websockets).
    """
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    if origin in allowed_origins(connection) or "*" in allowed_origins(connection):
        return True
    return bool(own_host) and urlsplit(origin).netloc == own_host.lower()


# --- visitor tokens ---------------------------------------------------------------------


def new_visitor_id() -> str:
    return secrets.token_hex(16)


def issue_token(token: VisitorToken) -> str:
    return signing.dumps(
        {"v": token.visitor_id, "c": token.connection_id, "u": token.user_id},
        salt=VISITOR_SIGNING_SALT,
    )


def issue_socket_token(token: VisitorToken) -> str:
    """A two-minute token for opening the websocket: a URL (the only place a browser can
    put it) may end up in a proxy's log, so the visitor's own token never goes there."""
    return signing.dumps(
        {"v": token.visitor_id, "c": token.connection_id, "u": token.user_id},
        salt=SOCKET_SIGNING_SALT,
    )


def read_socket_token(connection: ChannelConnection, raw: str | None) -> VisitorToken:
    return read_token(connection, raw, salt=SOCKET_SIGNING_SALT, max_age=SOCKET_TOKEN_MAX_AGE)


def read_token(
    connection: ChannelConnection,
    raw: str | None,
    *,
    salt: str = VISITOR_SIGNING_SALT,
    max_age: int = TOKEN_MAX_AGE,
) -> VisitorToken:
    """The visitor a token names; 401 when it is missing, forged, expired or another
    connection's."""
    if not raw:
        raise WebChatRefused(_("A visitor token is needed."), code="missing_token", status=401)
    try:
        data = signing.loads(raw, salt=salt, max_age=max_age)
    except signing.BadSignature as exc:
        raise WebChatRefused(
            _("The visitor token is not valid."), code="invalid_token", status=401
        ) from exc
    if not isinstance(data, dict) or data.get("c") != connection.pk or not data.get("v"):
        raise WebChatRefused(_("The visitor token is not valid."), code="invalid_token", status=401)
    return VisitorToken(str(data["v"]), connection.pk, str(data.get("u") or ""))


def bearer_token(authorization: str) -> str:
    scheme, _sep, value = (authorization or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


# --- verified identity ------------------------------------------------------------------


def user_hash(secret: str, user_id: str) -> str:
    """What the site puts in ``data-user-hash``: hex HMAC-SHA256 of the user id."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def verified_user_id(connection: ChannelConnection, user_id: Any, given_hash: Any) -> str:
    """The site's user id when its signature is right; "" when none is claimed; 403 when
    the claim is forged (a visitor pretending to be a member)."""
    if user_id in (None, "") and given_hash in (None, ""):
        return ""
    if not isinstance(user_id, str) or not isinstance(given_hash, str) or not user_id.strip():
        raise WebChatRefused(
            _("user_id and user_hash must both be given as text."),
            code="invalid_identity",
            status=400,
        )
    user_id = user_id.strip()
    if len(user_id) > 255 or CONTROL_CHARS.search(user_id):
        raise WebChatRefused(
            _("The user id must be at most 255 characters without spaces."),
            code="invalid_identity",
            status=400,
        )
    secret = connection.secrets.get("identity_secret", "")
    if not secret:
        raise WebChatRefused(
            _("This chat does not accept verified identities."),
            code="identity_not_configured",
            status=403,
        )
    if not hmac.compare_digest(user_hash(secret, user_id), given_hash.strip().lower()):
        logger.warning("web chat: forged user hash on connection %s", connection.pk)
        raise WebChatRefused(
            _("The identity signature is not valid."), code="identity_forged", status=403
        )
    return user_id


def session_token(
    connection: ChannelConnection, *, previous: str | None, user_id: str
) -> VisitorToken:
    """Keep the visitor of a valid earlier token when it is the same person, else a new one.

    A member's token is never reused anonymously nor by another member (a shared computer
    after logging out shows a fresh chat), and an anonymous chat is not handed to a member.
    """
    if previous:
        try:
            token = read_token(connection, previous)
        except WebChatRefused:
            token = None
        if token is not None and token.user_id == user_id:
            return token
    return VisitorToken(new_visitor_id(), connection.pk, user_id)


def check_client_id(value: Any) -> str:
    """The client's id of a message (a UUID): the same id twice stores one message."""
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError, AttributeError) as exc:
        raise WebChatRefused(
            _("client_id must be a UUID made by the widget."), code="invalid_client_id", status=400
        ) from exc


# --- rate limits ------------------------------------------------------------------------


def check_rate(token: VisitorToken, *, ip: str) -> None:
    """Per visitor and per address (five visitors' worth, e.g. a shop's Wi-Fi); 429 past it."""
    limit = settings.WEB_CHAT_MESSAGES_PER_MINUTE
    for key, allowed in ((f"webchat-v:{token.visitor_id}", limit), (f"webchat-ip:{ip}", limit * 5)):
        if not ratelimit.hit(key, allowed, RATE_WINDOW_SECONDS).allowed:
            raise WebChatRefused(
                _("Too many messages; wait a minute."), code="throttled", status=429
            )


# --- opening hours and agents -----------------------------------------------------------


@dataclass(frozen=True)
class Availability:
    online: bool
    reason: str = ""  # "outside_hours" or "no_agent" when offline


def availability(connection: ChannelConnection, *, now: datetime) -> Availability:
    """Open when inside the connection's hours and (unless disabled) an agent is online.

    ``settings["calendar"]`` names a business-hours calendar (the SLA calendars, with
    their holidays); none means always open. ``settings["online_without_agents"]`` keeps
    the chat open when no agent is online in the console.
    """
    name = connection.setting("calendar").strip()
    if name and not calendar_open(name, now=now):
        return Availability(False, "outside_hours")
    if not connection.settings.get("online_without_agents") and not agents_online():
        return Availability(False, "no_agent")
    return Availability(True)


def calendar_open(name: str, *, now: datetime) -> bool:
    calendar = BusinessCalendar.objects.filter(name=name).first()
    if calendar is None:
        logger.warning("web chat: no business-hours calendar named %r; treated as open", name)
        return True
    try:
        return calendar_schedule(calendar).is_open(now)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        logger.warning("web chat: calendar %r cannot be read; treated as open", name)
        return True


def agents_online() -> bool:
    return StaffProfile.objects.filter(
        presence=Presence.ONLINE, role__in=[Role.AGENT, Role.MANAGER, Role.ADMIN]
    ).exists()
