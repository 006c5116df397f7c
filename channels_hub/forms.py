"""The console form of a channel connection, built from the adapter's field list."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from channels_hub.adapters.base import Adapter, ConnectionField
from channels_hub.models import ChannelConnection


class ConnectionForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    is_default = forms.BooleanField(
        label=_("Default for its channel"),
        required=False,
        help_text=_("Replies on this channel leave through the default connection."),
    )

    def __init__(
        self, *args: Any, adapter: Adapter, connection: ChannelConnection, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.adapter = adapter
        has_secrets = bool(connection.secrets_encrypted)
        stored = connection.secrets if has_secrets else {}
        for spec in adapter.connection_fields:
            self.fields[spec.name] = _field(spec, already_set=spec.name in stored)
            if not spec.secret and connection.pk:
                self.initial.setdefault(spec.name, connection.settings.get(spec.name, ""))
        if connection.pk:
            self.initial.setdefault("name", connection.name)
            self.initial.setdefault("is_active", connection.is_active)
            self.initial.setdefault("is_default", connection.is_default)

    def settings_values(self) -> dict[str, Any]:
        return {
            s.name: self.cleaned_data.get(s.name)
            for s in self.adapter.connection_fields
            if not s.secret
        }

    def secret_values(self) -> dict[str, str]:
        return {
            s.name: self.cleaned_data.get(s.name) or ""
            for s in self.adapter.connection_fields
            if s.secret
        }

    def secret_fields(self) -> list[forms.BoundField]:
        return [self[s.name] for s in self.adapter.connection_fields if s.secret]

    def setting_fields(self) -> list[forms.BoundField]:
        return [self[s.name] for s in self.adapter.connection_fields if not s.secret]


def _field(spec: ConnectionField, *, already_set: bool) -> forms.Field:
    if spec.kind == "bool":
        return forms.BooleanField(label=spec.label, required=False, help_text=spec.help_text)
    if spec.secret:
        # Never rendered back; blank keeps what is stored.
        help_text = _("Stored. Leave empty to keep it.") if already_set else spec.help_text
        return forms.CharField(
            label=spec.label,
            required=spec.required and not already_set,
            max_length=500,
            strip=True,
            widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
            help_text=help_text,
        )
    field_class = forms.URLField if spec.kind == "url" else forms.CharField
    return field_class(
        label=spec.label, required=spec.required, max_length=500, help_text=spec.help_text
    )


class SendTestForm(forms.Form):
    to = forms.CharField(
        label=_("Send to"),
        max_length=200,
        help_text=_("A phone number, WhatsApp number, openid or page-scoped id of a test account."),
    )
