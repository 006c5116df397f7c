"""WeChat Official Account and Mini Program customer-service messages.

- URL verification: ``GET ?signature&timestamp&nonce&echostr`` answered with ``echostr``
  when ``signature = sha1(sorted(token, timestamp, nonce))``;
- pushes (POST) carry the same query signature, XML (Official Account) or JSON (Mini
  Program) bodies; in safe mode (``encrypt_type=aes``) the body holds ``Encrypt``,
  checked with ``msg_signature = sha1(sorted(token, timestamp, nonce, Encrypt))`` and
  decrypted with the EncodingAESKey (AES-256-CBC, PKCS#7 to 32 bytes, app id at the end);
- a timestamp outside ``CHANNEL_WEBHOOK_TOLERANCE_SECONDS`` is refused (replay);
- ``MsgId`` is the idempotency key; the sender's ``openid`` (per app) and, when sent or
  fetched, ``unionid`` (one per person across the brand's apps) are the identities;
- replies go out through ``/cgi-bin/message/custom/send`` within 48 hours of the
  customer's last message, with an access token cached until shortly before it expires
  and fetched again when WeChat says it is invalid.

Settings: ``base_url`` (default ``https://api.weixin.qq.com``), ``app_id``,
``fetch_unionid`` (ask ``/cgi-bin/user/info`` for the unionid of a new openid); secrets:
``token``, ``app_secret``, ``encoding_aes_key`` (safe mode).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import struct
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_hub.adapters.base import (
    Adapter,
    ChannelLimits,
    ConnectionField,
    InboundMessage,
    MediaRef,
    PermanentDeliveryError,
    SendResult,
    TransientDeliveryError,
    WebhookBatch,
    WebhookRefused,
    body_of,
    check_signed_timestamp,
    claim,
    constant_time_equal,
    customer_identity,
)
from channels_hub.provider_http import call_provider, download, json_body
from customers.identity import InvalidIdentity
from customers.models import Identity, IdentityKind
from tickets.attachments import MAX_ATTACHMENT_BYTES
from tickets.models import REPLY_WINDOWS, Channel, DeliveryStatus, Message

if TYPE_CHECKING:
    from channels_hub.models import ChannelConnection

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.weixin.qq.com"
TOKEN_INVALID = frozenset({40001, 40014, 42001})
TRANSIENT_ERRORS = frozenset({-1, 45009, 45011})  # busy, rate limits
TOKEN_MARGIN_SECONDS = 300
MEDIA_TYPES = {
    "image": "[image]",
    "voice": "[voice]",
    "video": "[video]",
    "shortvideo": "[video]",
    "file": "[file]",
}


def wechat_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeChat's scheme


def decrypt_wechat(encrypted: str, encoding_aes_key: str, app_id: str) -> bytes:
    """The plaintext of a safe-mode body; ``ValueError`` when it is not ours."""
    key = base64.b64decode(encoding_aes_key + "=")
    if len(key) != 32:
        raise ValueError("EncodingAESKey must decode to 32 bytes")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    padded = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= 32:
        raise ValueError("bad padding")
    plain = padded[:-pad]
    (length,) = struct.unpack(">I", plain[16:20])
    content, sender_app = plain[20 : 20 + length], plain[20 + length :]
    if sender_app.decode() != app_id:
        raise ValueError("the message is for another app")
    return content


def encrypt_wechat(content: bytes, encoding_aes_key: str, app_id: str, *, random16: bytes) -> str:
    """The inverse of ``decrypt_wechat`` (tests, and replies in safe mode)."""
    key = base64.b64decode(encoding_aes_key + "=")
    plain = random16 + struct.pack(">I", len(content)) + content + app_id.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


class WeChatAdapter(Adapter):
    channels = (Channel.WECHAT,)
    limits = ChannelLimits(max_text_chars=2000, reply_window=REPLY_WINDOWS[Channel.WECHAT])
    connection_fields = (
        ConnectionField("app_id", gettext_lazy("AppID")),
        ConnectionField("app_secret", gettext_lazy("AppSecret"), secret=True),
        ConnectionField("token", gettext_lazy("Token"), secret=True),
        ConnectionField(
            "encoding_aes_key",
            gettext_lazy("EncodingAESKey"),
            secret=True,
            required=False,
            help_text=gettext_lazy("Needed in safe mode (encrypted messages)."),
        ),
        ConnectionField(
            "fetch_unionid",
            gettext_lazy("Look up the unionid of new followers"),
            required=False,
            kind="bool",
        ),
        ConnectionField(
            "base_url",
            gettext_lazy("API base URL"),
            required=False,
            kind="url",
            help_text=gettext_lazy("Leave empty for https://api.weixin.qq.com"),
        ),
    )

    # --- inbound --------------------------------------------------------------------
    def handshake(self, request: HttpRequest, connection: ChannelConnection) -> HttpResponse:
        self._check_query_signature(request, connection)
        return HttpResponse(request.GET.get("echostr", ""), content_type="text/plain")

    def verify(self, request: HttpRequest, connection: ChannelConnection) -> None:
        self._check_query_signature(request, connection)
        if request.GET.get("encrypt_type") == "aes":
            token = connection.secrets.get("token", "")
            encrypted = _fields(body_of(request)).get("Encrypt", "")
            expected = wechat_signature(
                token, request.GET.get("timestamp", ""), request.GET.get("nonce", ""), encrypted
            )
            if not encrypted or not constant_time_equal(
                expected, request.GET.get("msg_signature", "")
            ):
                raise WebhookRefused(
                    _("The message signature does not match."), code="signature_invalid"
                )

    def _check_query_signature(self, request: HttpRequest, connection: ChannelConnection) -> None:
        token = connection.secrets.get("token", "")
        given = request.GET.get("signature", "")
        timestamp, nonce = request.GET.get("timestamp", ""), request.GET.get("nonce", "")
        if not given or not timestamp or not nonce:
            raise WebhookRefused(_("The request is not signed."), code="signature_missing")
        if not token or not constant_time_equal(wechat_signature(token, timestamp, nonce), given):
            raise WebhookRefused(_("The signature does not match."), code="signature_invalid")
        check_signed_timestamp(timestamp)

    def parse(self, request: HttpRequest, connection: ChannelConnection) -> WebhookBatch:
        fields = _fields(body_of(request))
        if request.GET.get("encrypt_type") == "aes":
            try:
                plain = decrypt_wechat(
                    fields.get("Encrypt", ""),
                    connection.secrets.get("encoding_aes_key", ""),
                    connection.setting("app_id"),
                )
            except (ValueError, struct.error, UnicodeDecodeError) as exc:
                raise WebhookRefused(
                    _("The message cannot be decrypted."), code="malformed", status=400
                ) from exc
            fields = _fields(plain)
        batch = WebhookBatch()
        inbound = self._message(fields, connection)
        if inbound is None:
            batch.ignored += 1
        else:
            batch.messages.append(inbound)
        return batch

    def acknowledge(self, batch: WebhookBatch) -> HttpResponse:
        return HttpResponse("success", content_type="text/plain")

    def _message(
        self, fields: dict[str, str], connection: ChannelConnection
    ) -> InboundMessage | None:
        openid, msg_id, kind = (
            fields.get("FromUserName", ""),
            fields.get("MsgId", ""),
            fields.get("MsgType", ""),
        )
        text = fields.get("Content", "") if kind == "text" else MEDIA_TYPES.get(kind, "")
        if kind == "location":
            where = f"{fields.get('Location_X', '')},{fields.get('Location_Y', '')}"
            text = f"[location] {fields.get('Label', '')} {where}"
        if kind == "link":
            text = f"[link] {fields.get('Title', '')} {fields.get('Url', '')}"
        if not openid or not msg_id or not text.strip():
            return None  # events (subscribe, menu clicks) carry no MsgId and no message
        try:
            identities = [claim(IdentityKind.WECHAT_OPENID, openid)]
            unionid = (
                fields.get("UnionId")
                or fields.get("unionid")
                or self._fetch_unionid(connection, openid)
            )
            if unionid:
                identities.append(claim(IdentityKind.WECHAT_UNIONID, unionid))
        except InvalidIdentity:
            logger.warning("wechat: message %s dropped: bad openid", msg_id)
            return None
        media: tuple[MediaRef, ...] = ()
        if kind == "image" and fields.get("MediaId"):
            media = (MediaRef(ref=fields["MediaId"], filename=f"wechat-{msg_id}.jpg"),)
        return InboundMessage(
            channel=Channel.WECHAT,
            external_id=msg_id,
            identities=identities,
            text=text.strip(),
            media=media,
        )

    def _fetch_unionid(self, connection: ChannelConnection, openid: str) -> str:
        """For an openid seen for the first time, when the connection asks for it.

        Best effort with a short timeout: the message is stored without a unionid if
        WeChat does not answer in time.
        """
        if not connection.settings.get("fetch_unionid"):
            return ""
        if Identity.objects.filter(kind=IdentityKind.WECHAT_OPENID, value=openid).exists():
            return ""
        try:
            body = self._api(
                connection,
                "GET",
                "/cgi-bin/user/info",
                params={"openid": openid, "lang": "zh_CN"},
                timeout=2,
            )
        except (PermanentDeliveryError, TransientDeliveryError) as exc:
            logger.info("wechat: no unionid for a new openid: %s", exc)
            return ""
        return str(body.get("unionid", ""))

    def fetch_media(self, connection: ChannelConnection, ref: str) -> bytes:
        """``/cgi-bin/media/get`` answers with the file, or with a JSON error."""
        for attempt in range(2):
            content, content_type = download(
                self.url(connection, "/cgi-bin/media/get"),
                provider="WeChat",
                max_bytes=MAX_ATTACHMENT_BYTES,
                params={
                    "access_token": access_token(connection, refresh=attempt > 0),
                    "media_id": ref,
                },
            )
            code = _media_error(content, content_type)
            if code is None:
                return content
            if code in TOKEN_INVALID and attempt == 0:
                continue
            error = f"WeChat: media {ref} not fetched ({code})"
            if code in TRANSIENT_ERRORS:
                raise TransientDeliveryError(error)
            raise PermanentDeliveryError(error)
        raise TransientDeliveryError("WeChat: the access token was refused twice")

    # --- outbound -------------------------------------------------------------------
    def send(self, message: Message, connection: ChannelConnection | None) -> SendResult:
        assert connection is not None
        openid = customer_identity(message, IdentityKind.WECHAT_OPENID)
        return self._send_text(connection, openid, message.body_text)

    def send_test(self, connection: ChannelConnection, to: str) -> SendResult:
        return self._send_text(connection, to, _("omniservice test message"))

    def _send_text(self, connection: ChannelConnection, openid: str, text: str) -> SendResult:
        self._api(
            connection,
            "POST",
            "/cgi-bin/message/custom/send",
            content=json.dumps(
                {"touser": openid, "msgtype": "text", "text": {"content": text}}, ensure_ascii=False
            ).encode(),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        # The customer-service API returns no message id and no receipts.
        return SendResult(status=DeliveryStatus.SENT)

    def _api(
        self, connection: ChannelConnection, method: str, path: str, **kwargs: Any
    ) -> dict[str, Any]:
        """Call WeChat with the access token; WeChat reports errors in a 200 body."""
        params = dict(kwargs.pop("params", {}))
        for attempt in range(2):
            params["access_token"] = access_token(connection, refresh=attempt > 0)
            body = json_body(
                call_provider(
                    method, self.url(connection, path), provider="WeChat", params=params, **kwargs
                )
            )
            code = int(body.get("errcode", 0) or 0)
            if code == 0:
                return body
            if code in TOKEN_INVALID and attempt == 0:
                continue
            reason = f"WeChat: {body.get('errmsg', '')} ({code})"
            if code in TRANSIENT_ERRORS:
                raise TransientDeliveryError(reason)
            raise PermanentDeliveryError(reason)
        raise TransientDeliveryError("WeChat: the access token was refused twice")

    @staticmethod
    def url(connection: ChannelConnection, path: str) -> str:
        return connection.setting("base_url", DEFAULT_BASE_URL).rstrip("/") + path


def access_token(connection: ChannelConnection, *, refresh: bool = False) -> str:
    """The connection's access token, cached until shortly before it expires."""
    key = f"wechat:access_token:{connection.pk}"
    if not refresh:
        cached = cache.get(key)
        if cached:
            return cached
    response = call_provider(
        "GET",
        WeChatAdapter.url(connection, "/cgi-bin/token"),
        provider="WeChat",
        params={
            "grant_type": "client_credential",
            "appid": connection.setting("app_id"),
            "secret": connection.secrets.get("app_secret", ""),
        },
    )
    body = json_body(response)
    token = body.get("access_token")
    if not token:
        reason = f"WeChat: no access token: {body.get('errmsg', '')} ({body.get('errcode', '')})"
        if int(body.get("errcode", -1) or -1) in TRANSIENT_ERRORS:
            raise TransientDeliveryError(reason)
        raise PermanentDeliveryError(reason)
    lifetime = max(int(body.get("expires_in", 7200)) - TOKEN_MARGIN_SECONDS, 60)
    cache.set(key, token, lifetime)
    return str(token)


def _media_error(content: bytes, content_type: str) -> int | None:
    """WeChat's error code when ``/cgi-bin/media/get`` answered with JSON, else None."""
    if "json" not in content_type and not content.lstrip().startswith(b"{"):
        return None
    try:
        body = json.loads(content)
    except ValueError:
        return None  # not JSON after all: a file that starts with a brace
    if not isinstance(body, dict) or "errcode" not in body:
        return None
    return int(body["errcode"])


def _fields(body: bytes) -> dict[str, str]:
    """The flat fields of a WeChat push, XML or JSON."""
    stripped = body.strip()
    if stripped.startswith(b"{"):
        try:
            data = json.loads(stripped)
        except ValueError as exc:
            raise WebhookRefused(
                _("The body is not valid JSON."), code="malformed", status=400
            ) from exc
        if not isinstance(data, dict):
            raise WebhookRefused(_("The body is not a JSON object."), code="malformed", status=400)
        return {str(k): str(v) for k, v in data.items() if not isinstance(v, (dict, list))}
    if b"<!DOCTYPE" in stripped.upper() or b"<!ENTITY" in stripped.upper():
        raise WebhookRefused(
            _("Documents with a DOCTYPE are refused."), code="malformed", status=400
        )
    try:
        root = ET.fromstring(stripped)  # noqa: S314 - DOCTYPE and entities refused above
    except ET.ParseError as exc:
        raise WebhookRefused(_("The body is not valid XML."), code="malformed", status=400) from exc
    return {child.tag: (child.text or "") for child in root}
