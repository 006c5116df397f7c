"""HTTP edge of the web chat widget: the script, and the JSON API it calls from any site.

``/chat/widget.js`` and ``/chat/widget.css`` are the widget. Under ``/chat/api/<key>/``:
``session`` (POST: a visitor token and a two-minute token for the websocket, the texts
in the visitor's language, online or not),
``messages`` (GET the conversation, ``?after=<id>`` for what is new; POST a message, JSON
or multipart with ``files``), ``offline`` (POST the leave-a-message form) and
``attachments/<id>`` (GET a file of the conversation). The token travels as
``Authorization: Bearer <token>``; no cookie is used, so CSRF does not apply. Every
answer carries CORS headers for the allow-listed origin of the connection; a page of
another site is refused with 403 and nothing is written.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.contrib.staticfiles import finders
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from channels_hub import webchat
from channels_hub.models import ChannelConnection
from channels_hub.webchat_access import (
    VisitorToken,
    WebChatRefused,
    availability,
    bearer_token,
    check_client_id,
    check_rate,
    issue_socket_token,
    issue_token,
    origin_allowed,
    read_token,
    session_token,
    verified_user_id,
    widget_connection,
)
from channels_hub.webchat_texts import widget_texts
from omniservice import ratelimit
from omniservice.errors import DomainError
from tickets.attachments import (
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENTS_PER_MESSAGE,
    check_uploads,
    download_response,
)
from tickets.models import Message

logger = logging.getLogger(__name__)

LANGUAGES = {"zh-hans", "en"}
ASSETS = {"widget.js": "application/javascript", "widget.css": "text/css"}


def widget_asset(request: HttpRequest, name: str) -> HttpResponse:
    """The widget itself, from ``static/webchat/`` (no CDN, no third-party code)."""
    if name not in ASSETS:
        raise Http404
    path = finders.find(f"webchat/{name}")
    if not path:
        raise Http404
    response = HttpResponse(Path(path).read_bytes(), content_type=ASSETS[name])
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def _error(code: str, message: str, status: int, fields: dict | None = None) -> JsonResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return JsonResponse({"error": body}, status=status)


def _cors(response: HttpResponse, origin: str | None) -> HttpResponse:
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Headers"] = "Authorization, Content-Type, Accept-Language"
        response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response["Access-Control-Max-Age"] = "600"
        response["Access-Control-Expose-Headers"] = "Content-Disposition, Retry-After"
    response["Vary"] = "Origin"
    response["Cache-Control"] = "no-store"
    return response


def widget_api(methods: tuple[str, ...]) -> Callable:
    """Connection by key, origin allow-list, CORS, language, and errors as JSON."""

    def decorate(view: Callable) -> Callable:
        @csrf_exempt
        @functools.wraps(view)
        def wrapped(request: HttpRequest, key: str, **kwargs: Any) -> HttpResponse:
            origin = request.headers.get("Origin")
            connection = widget_connection(key)
            if connection is None:
                return _cors(_error("unknown_widget", _("No web chat has this key."), 404), origin)
            if not origin_allowed(connection, origin, own_host=request.get_host()):
                logger.warning(
                    "web chat: origin %r refused by connection %s", origin, connection.pk
                )
                return _error(
                    "origin_not_allowed", _("This site may not use this chat."), 403
                )  # no CORS headers: the foreign page cannot even read the refusal
            if request.method == "OPTIONS":
                return _cors(HttpResponse(status=204), origin)
            if request.method not in methods:
                return _cors(_error("method_not_allowed", _("Method not allowed."), 405), origin)
            lang = request.GET.get("lang", "")
            try:
                with translation.override(
                    lang if lang in LANGUAGES else translation.get_language()
                ):
                    response = view(request, connection, **kwargs)
            except WebChatRefused as exc:
                response = _error(exc.code, exc.text, exc.status)
                if exc.status == 429:
                    response["Retry-After"] = "60"
            except DomainError as exc:
                response = _error(exc.code or "invalid", exc.text, exc.status, exc.fields)
            except RequestDataTooBig:
                response = _error("body_too_large", _("The request body is too large."), 413)
            return _cors(response, origin)

        return wrapped

    return decorate


def _json_body(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebChatRefused(_("The body must be JSON."), code="bad_json", status=400) from exc
    if not isinstance(data, dict):
        raise WebChatRefused(_("The body must be a JSON object."), code="bad_json", status=400)
    return data


def _token(request: HttpRequest, connection: ChannelConnection) -> VisitorToken:
    return read_token(connection, bearer_token(request.headers.get("Authorization", "")))


@widget_api(("POST",))
def session(request: HttpRequest, connection: ChannelConnection) -> HttpResponse:
    data = _json_body(request)
    user_id = verified_user_id(connection, data.get("user_id"), data.get("user_hash"))
    previous = data.get("token") if isinstance(data.get("token"), str) else None
    token = session_token(connection, previous=previous, user_id=user_id)
    webchat.remember_member(connection, token)
    visitor = webchat.visitor_of(token)
    state = availability(connection, now=timezone.now())
    return JsonResponse(
        {
            "token": issue_token(token),
            "socket_token": issue_socket_token(token),
            "visitor": {
                "verified": bool(token.user_id),
                "has_conversation": webchat.visible_messages(visitor).exists(),
                "name": visitor.name if visitor else "",
            },
            "online": state.online,
            "offline_reason": state.reason,
            "prechat": not token.user_id and not connection.settings.get("no_prechat"),
            "title": connection.setting("title") or _("Customer service"),
            "limits": {
                "max_attachment_bytes": MAX_ATTACHMENT_BYTES,
                "max_attachments": MAX_ATTACHMENTS_PER_MESSAGE,
                "max_text_chars": 5000,
            },
            "language": translation.get_language(),
            "texts": widget_texts(),
        }
    )


@widget_api(("GET", "POST"))
def messages(request: HttpRequest, connection: ChannelConnection) -> HttpResponse:
    token = _token(request, connection)
    if request.method == "GET":
        try:
            after = max(0, int(request.GET.get("after") or 0))
        except ValueError as exc:
            raise WebChatRefused(
                _("after must be a message id."), code="invalid_after", status=400
            ) from exc
        visitor = webchat.visitor_of(token)
        items = webchat.history(visitor, after=after)
        return JsonResponse(
            {"messages": [webchat.message_payload(m, visitor_id=token.visitor_id) for m in items]}
        )
    message = _post(request, connection, token, offline=False)
    return JsonResponse(
        {"message": webchat.message_payload(message, visitor_id=token.visitor_id)}, status=201
    )


@widget_api(("POST",))
def offline(request: HttpRequest, connection: ChannelConnection) -> HttpResponse:
    """The leave-a-message form: a ticket like any other, tagged, answered later."""
    token = _token(request, connection)
    message = _post(request, connection, token, offline=True)
    return JsonResponse(
        {"message": webchat.message_payload(message, visitor_id=token.visitor_id)}, status=201
    )


def _post(
    request: HttpRequest, connection: ChannelConnection, token: VisitorToken, *, offline: bool
) -> Message:
    if request.content_type == "multipart/form-data":
        data: dict[str, Any] = request.POST.dict()
        files = check_uploads(request.FILES.getlist("files"))
    else:
        data, files = _json_body(request), []
    client_id = check_client_id(data.get("client_id"))
    text = data.get("text") if isinstance(data.get("text"), str) else ""
    if len(text) > 5000:
        raise WebChatRefused(
            _("A chat message is limited to 5,000 characters."), code="message_too_long", status=400
        )
    visitor = webchat.visitor_of(token)
    first = visitor is None or visitor.customer_id is None
    prechat = webchat.clean_prechat(
        data,
        contact_required=offline
        or (first and not token.user_id and not connection.settings.get("no_prechat")),
    )
    if offline and not text.strip():
        raise DomainError(
            _("Write your message."),
            code="empty_message",
            fields={"text": [_("Write your message.")]},
        )
    check_rate(token, ip=ratelimit.client_address(request.META))
    return webchat.post_visitor_message(
        connection=connection,
        token=token,
        client_id=client_id,
        text=text,
        attachments=files,
        prechat=prechat,
        offline=offline,
    )


@widget_api(("GET",))
def attachment(request: HttpRequest, connection: ChannelConnection, attachment_id: int) -> Any:
    token = _token(request, connection)
    found = webchat.visible_attachment(webchat.visitor_of(token), attachment_id)
    if found is None:
        raise WebChatRefused(_("No such file."), code="not_found", status=404)
    return download_response(found)
