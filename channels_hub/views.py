"""Managers' console pages for the channel connections: list with health, add / edit
(credentials write-only), and "send test"."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from channels_hub.adapters import PermanentDeliveryError, TransientDeliveryError, adapter_for
from channels_hub.connections import save_connection, send_test_message
from channels_hub.forms import ConnectionForm, SendTestForm
from channels_hub.models import ChannelConnection
from channels_hub.template_selectors import templates_of
from tickets.models import Channel
from tickets.views_automation import manager_view


def connectable_channels() -> list[tuple[str, str]]:
    """Channels with a provider account to connect, in display order."""
    return [
        (value, label)
        for value, label in Channel.choices
        if (adapter := adapter_for(value)) is not None and adapter.needs_connection
    ]


@manager_view
def connection_list(request: HttpRequest) -> HttpResponse:
    connections = ChannelConnection.objects.order_by("channel", "name")
    return render(
        request,
        "channels_hub/connection_list.html",
        {"connections": connections, "channels": connectable_channels()},
    )


@manager_view
def connection_new(request: HttpRequest) -> HttpResponse:
    """The "Connect a channel" picker (a plain GET form, no script)."""
    channel = request.GET.get("channel", "")
    if channel not in dict(connectable_channels()):
        raise Http404
    return redirect("channels:connection-create", channel=channel)


@manager_view
def connection_create(request: HttpRequest, channel: str) -> HttpResponse:
    if channel not in dict(connectable_channels()):
        raise Http404
    return _edit(request, ChannelConnection(channel=channel))


@manager_view
def connection_edit(request: HttpRequest, connection_id: int) -> HttpResponse:
    return _edit(request, get_object_or_404(ChannelConnection, pk=connection_id))


def _edit(request: HttpRequest, connection: ChannelConnection) -> HttpResponse:
    adapter = adapter_for(connection.channel)
    assert adapter is not None
    form = ConnectionForm(request.POST or None, adapter=adapter, connection=connection)
    if request.method == "POST" and form.is_valid():
        created = connection.pk is None
        save_connection(
            connection=connection,
            name=form.cleaned_data["name"],
            is_active=form.cleaned_data["is_active"],
            is_default=form.cleaned_data["is_default"],
            settings=form.settings_values(),
            secrets=form.secret_values(),
        )
        messages.success(request, _("Connection created.") if created else _("Connection saved."))
        return redirect("channels:connection-edit", connection_id=connection.pk)
    return render(
        request,
        "channels_hub/connection_form.html",
        {
            "connection": connection,
            "form": form,
            "test_form": SendTestForm(),
            "webhook_url": webhook_url_of(request, connection)
            if connection.pk and adapter.receives_webhooks
            else "",
            "embed_snippet": embed_snippet_of(request, connection)
            if connection.pk and connection.channel == Channel.WEB_CHAT
            else "",
            "templates": list(templates_of(connection))
            if connection.pk and connection.channel == Channel.WHATSAPP
            else None,
        },
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@manager_view
def connection_test(request: HttpRequest, connection_id: int) -> HttpResponse:
    connection = get_object_or_404(ChannelConnection, pk=connection_id)
    form = SendTestForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say where to send the test message."))
    else:
        try:
            result = send_test_message(connection=connection, to=form.cleaned_data["to"])
        except (PermanentDeliveryError, TransientDeliveryError) as exc:
            messages.error(
                request, _("The test message was not sent: %(reason)s") % {"reason": exc}
            )
        else:
            messages.success(
                request,
                _("Test message sent (provider id %(id)s).")
                % {"id": result.provider_message_id or "-"},
            )
    return redirect("channels:connection-edit", connection_id=connection.pk)


def webhook_url_of(request: HttpRequest, connection: ChannelConnection) -> str:
    path = reverse("channels_hub:webhook", args=[connection.channel, connection.webhook_key])
    return request.build_absolute_uri(path)


def embed_snippet_of(request: HttpRequest, connection: ChannelConnection) -> str:
    """The tag a site pastes into its pages to show this web chat."""
    script = request.build_absolute_uri(reverse("webchat:asset", args=["widget.js"]))
    return f'<script src="{script}" data-key="{connection.webhook_key}" async></script>'
