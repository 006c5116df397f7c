"""Console actions on WhatsApp templates: a manager's "Sync templates" on the connection
page, and an agent's reply made from a template on the ticket page."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from channels_hub.adapters import PermanentDeliveryError, TransientDeliveryError
from channels_hub.models import ChannelConnection
from channels_hub.template_replies import TemplateChoice, send_template_reply
from channels_hub.template_sync import sync_templates
from channels_hub.whatsapp_templates import MAX_PARAMETER_CHARS
from omniservice.errors import DomainError
from tickets.models import Channel
from tickets.selectors import ticket_for
from tickets.views import console_view
from tickets.views_automation import manager_view

MAX_PARAMETERS = 20


class TemplateReplyForm(forms.Form):
    """``template`` is ``name:language`` (Meta's names and codes never hold a colon)."""

    template = forms.CharField(label=gettext_lazy("Template"), max_length=530)

    def choice(self, parameters: list[str]) -> TemplateChoice:
        name, _sep, language = self.cleaned_data["template"].rpartition(":")
        return TemplateChoice(name=name, language=language, parameters=parameters)


@require_POST
@manager_view
def connection_sync_templates(request: HttpRequest, connection_id: int) -> HttpResponse:
    connection = get_object_or_404(ChannelConnection, pk=connection_id, channel=Channel.WHATSAPP)
    try:
        result = sync_templates(connection=connection)
    except TransientDeliveryError as exc:
        messages.error(
            request, _("Templates not synced: %(reason)s. Try again later.") % {"reason": exc}
        )
    except (PermanentDeliveryError, DomainError) as exc:
        reason = exc.text if isinstance(exc, DomainError) else str(exc)
        messages.error(request, _("Templates not synced: %(reason)s") % {"reason": reason})
    else:
        messages.success(
            request,
            _("%(total)s templates synced: %(created)s new, %(disabled)s no longer on WhatsApp.")
            % {"total": result.total, "created": result.created, "disabled": result.disabled},
        )
    return redirect("channels:connection-edit", connection_id=connection.pk)


@require_POST
@console_view
def template_reply(request: HttpRequest, number: int) -> HttpResponse:
    ticket = ticket_for(request.user, number)
    if ticket is None:
        raise Http404
    form = TemplateReplyForm(request.POST)
    parameters = request.POST.getlist("parameters")[:MAX_PARAMETERS]
    if not form.is_valid():
        return _answer(request, number, _("Choose a template."), code="invalid", status=400)
    try:
        send_template_reply(
            ticket=ticket,
            author=request.user,
            choice=form.choice([value[: MAX_PARAMETER_CHARS + 1] for value in parameters]),
        )
    except DomainError as exc:
        return _answer(
            request, number, exc.text, code=exc.code, status=exc.status, fields=exc.fields
        )
    return _answer(request, number, _("Template reply queued for delivery."))


def _answer(
    request: HttpRequest,
    number: int,
    text: str,
    *,
    code: str = "",
    status: int = 200,
    fields: dict[str, list[str]] | None = None,
) -> HttpResponse:
    """JSON for the console's fetch, else a flash and back to the ticket."""
    if "application/json" in request.headers.get("Accept", ""):
        if status == 200:
            return JsonResponse({"ok": True, "message": text})
        body = {"error": {"code": code, "message": text, "fields": fields or {}}}
        return JsonResponse(body, status=status)
    (messages.success if status == 200 else messages.error)(request, text)
    return redirect("console:ticket", number=number)
