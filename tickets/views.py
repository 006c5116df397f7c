"""The agent console's HTML views: parse, authorise, call one service or selector, render.

Every action answers a plain form post with a redirect back to the ticket (POST/redirect/
GET, the outcome as a flash message) and a ``fetch`` asking for JSON with
``{"ok": true, "message"}`` or ``{"error": {"code", "message"}}``. Live updates arrive
over the console websocket (``channels_hub.consumers``); pages refetch their fragments.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from omniservice.errors import DomainError
from tickets import console_queries, services
from tickets.attachments import check_uploads, download_response
from tickets.forms import (
    AssignForm,
    InboxFilterForm,
    MessageForm,
    PropertiesForm,
    StatusForm,
    status_filter_choices,
)
from tickets.models import Attachment, Channel, Priority, Ticket
from tickets.reply_channels import reply_choice
from tickets.selectors import ticket_for
from tickets.visibility import can_see, sees_everything

IDLE_SECONDS = 5 * 60  # without keyboard or pointer activity the agent shows as away
TICKET_PAGE_CSP = "img-src 'self'"
View = Callable[..., HttpResponse]


def console_view(view: View) -> View:
    """Login required; then staff with a staff profile, or superusers. Others get 403."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not console_queries.may_use_console(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return login_required(guarded)


# --- pages ------------------------------------------------------------------------------


@require_GET
@console_view
def inbox(request: HttpRequest) -> HttpResponse:
    filters = InboxFilterForm(request.GET).filters()
    page = console_queries.inbox_page(
        request.user,
        filters,
        before=console_queries.Cursor.decode(request.GET.get("before")),
    )
    context = {
        "filters": filters,
        "page": page,
        "query": _query_without(request, "before", "fragment"),
        "today": timezone.localdate().strftime("%Y%m%d"),
    }
    if request.GET.get("fragment"):
        return render(request, "tickets/_ticket_rows.html", context)
    tabs = [
        ("mine", _("My tickets")),
        ("unassigned", _("Unassigned")),
        ("teams", _("My teams")),
    ]
    if sees_everything(request.user):
        tabs.append(("all", _("All tickets")))
    context.update(
        tabs=tabs,
        tab_query=_query_without(request, "before", "fragment", "view"),
        status_choices=status_filter_choices(),
        channel_choices=Channel.choices,
        priority_choices=Priority.choices,
        console_config=_console_config(request, page="inbox"),
        **console_queries.inbox_filter_options(),
    )
    return render(request, "tickets/inbox.html", context)


def images_from_self_only(view: View) -> View:
    """Messages show their images in place: the browser loads images from this site only,
    even if a stored body slipped past the sanitiser (the fragments land in the page)."""

    @wraps(view)
    def limited(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = TICKET_PAGE_CSP
        return response

    return limited


@require_GET
@console_view
@images_from_self_only
def ticket_page(request: HttpRequest, number: int) -> HttpResponse:
    ticket = _visible_ticket(request, number)
    if ticket.merged_into_id:
        return redirect("console:ticket", number=ticket.merged_into_id)
    fragment = request.GET.get("fragment")
    if fragment == "timeline":
        return render(
            request,
            "tickets/_timeline.html",
            {"ticket": ticket, "timeline": console_queries.timeline_for(ticket)},
        )
    context = {
        "ticket": ticket,
        "controls": console_queries.ticket_controls(request.user, ticket),
        "priority_choices": Priority.choices,
    }
    if fragment == "summary":
        return render(request, "tickets/_summary.html", context)
    context.update(console_queries.ticket_page(ticket))
    context.update(
        reply=reply_choice(ticket),
        search_view="all" if sees_everything(request.user) else "teams",
        console_config=_console_config(request, page="ticket", ticket=ticket),
    )
    return render(request, "tickets/ticket.html", context)


@require_GET
@console_view
def attachment(request: HttpRequest, attachment_id: int) -> FileResponse:
    found = Attachment.objects.select_related("message__ticket").filter(pk=attachment_id).first()
    if found is None or not can_see(request.user, found.message.ticket):
        raise Http404
    return download_response(found)


# --- actions ----------------------------------------------------------------------------


@require_POST
@console_view
def post_message(request: HttpRequest, number: int) -> HttpResponse:
    ticket = _visible_ticket(request, number)
    form = MessageForm(request.POST)
    if not form.is_valid():
        return _refused(request, ticket, _form_error(form))
    data = form.cleaned_data
    try:
        attachments = check_uploads(request.FILES.getlist("attachments"))
        if data["mode"] == "note":
            services.add_note(
                ticket=ticket, author=request.user, text=data["text"], attachments=attachments
            )
            done = _("Note added.")
        else:
            services.reply(
                ticket=ticket,
                author=request.user,
                text=data["text"],
                channel=data["channel"] or None,
                attachments=attachments,
            )
            done = _("Reply queued for delivery.")
    except DomainError as exc:
        return _refused(request, ticket, exc)
    return _done(request, ticket, done)


@require_POST
@console_view
def change_status(request: HttpRequest, number: int) -> HttpResponse:
    ticket = _visible_ticket(request, number)
    form = StatusForm(request.POST)
    if not form.is_valid():
        return _refused(request, ticket, _form_error(form))
    try:
        ticket = services.change_status(
            ticket=ticket, status=form.cleaned_data["status"], actor=request.user
        )
    except DomainError as exc:
        return _refused(request, ticket, exc)
    return _done(
        request, ticket, _("Status: %(status)s.") % {"status": ticket.get_status_display()}
    )


@require_POST
@console_view
def update_properties(request: HttpRequest, number: int) -> HttpResponse:
    ticket = _visible_ticket(request, number)
    form = PropertiesForm(request.POST)
    if not form.is_valid():
        return _refused(request, ticket, _form_error(form))
    try:
        services.update_ticket(ticket=ticket, actor=request.user, **form.changes(request.POST))
    except DomainError as exc:
        return _refused(request, ticket, exc)
    return _done(request, ticket, _("Ticket updated."))


@require_POST
@console_view
def assign(request: HttpRequest, number: int) -> HttpResponse:
    ticket = _visible_ticket(request, number)
    form = AssignForm(request.POST)
    if not form.is_valid():
        return _refused(request, ticket, _form_error(form))
    try:
        services.assign(ticket=ticket, actor=request.user, **form.changes(request.POST))
    except DomainError as exc:
        return _refused(request, ticket, exc)
    return _done(request, ticket, _("Assignment saved."))


# --- helpers ----------------------------------------------------------------------------


def _console_config(request: HttpRequest, *, page: str, ticket: Ticket | None = None) -> dict:
    """What console.js needs, rendered with ``json_script``; its strings translated here."""
    return {
        "page": page,
        "socketPath": "/ws/console/",
        "userId": request.user.pk,
        "ticket": ticket.pk if ticket else None,
        "loginUrl": reverse("login"),
        "idleSeconds": IDLE_SECONDS,
        "strings": {
            "connecting": _("Connecting…"),
            "live": _("Live"),
            "reconnecting": _("Reconnecting…"),
            "away": _("Away"),
            "viewing": _("%(name)s is viewing"),
            "replying": _("%(name)s is replying"),
            "customerTyping": _("The customer is typing…"),
            "failed": _("That did not work. Check your connection and try again."),
        },
    }


def _visible_ticket(request: HttpRequest, number: int) -> Ticket:
    ticket = ticket_for(request.user, number)
    if ticket is None:
        raise Http404
    return ticket


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _done(request: HttpRequest, ticket: Ticket, text: str) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"ok": True, "message": text})
    messages.success(request, text)
    return redirect("console:ticket", number=ticket.pk)


def _refused(request: HttpRequest, ticket: Ticket, error: DomainError) -> HttpResponse:
    if _wants_json(request):
        body = {"error": {"code": error.code, "message": error.text, "fields": error.fields}}
        return JsonResponse(body, status=error.status)
    messages.error(request, error.text)
    return redirect("console:ticket", number=ticket.pk)


def _form_error(form: Any) -> DomainError:
    fields = {name: [str(e) for e in errors] for name, errors in form.errors.items()}
    first = next(iter(fields.values()))[0]
    return DomainError(first, code="invalid", fields=fields)


def _query_without(request: HttpRequest, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()
