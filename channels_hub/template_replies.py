"""Replies made from an approved WhatsApp template, the one way to write to a customer
on WhatsApp after the 24-hour window.

The reply is an ordinary outbound message (queued, delivered by the outbox, receipts as
usual) whose text is the template filled in, so the timeline shows what the customer
got; ``TemplateReply`` records the template and its parameters, and the adapter sends
from that record. Everything is checked here first, and again before the provider call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.translation import gettext as _

from channels_hub.connections import default_connection
from channels_hub.template_models import (
    TemplateCategory,
    TemplateReply,
    WhatsAppTemplate,
)
from channels_hub.whatsapp_templates import TemplateRefused, check_parameters, rendered_text
from customers.models import Consent, ConsentPurpose, Identity, IdentityKind
from tickets.models import AuthorKind, Channel, Message, Ticket
from tickets.services import reply


@dataclass(frozen=True)
class TemplateChoice:
    """What the agent or the partner app picked: a template and its parameter values."""

    name: str
    language: str
    parameters: Sequence[str] = ()


@transaction.atomic
def send_template_reply(
    *,
    ticket: Ticket,
    author: AbstractBaseUser | None,
    choice: TemplateChoice,
    author_kind: str = AuthorKind.AGENT,
) -> Message:
    """Queue a WhatsApp reply made from ``choice``; ``TemplateRefused`` when it cannot
    be sent (no connection, unknown or unapproved template, bad parameters, no WhatsApp
    number, no consent), with nothing written."""
    template = _template(choice)
    parameters = check_parameters(template, list(choice.parameters))
    _check_customer(ticket, template)
    message = reply(
        ticket=ticket,
        author=author,
        text=rendered_text(template, parameters),
        channel=Channel.WHATSAPP,
        author_kind=author_kind,
    )
    TemplateReply.objects.create(
        message=message,
        template=template,
        name=template.name,
        language=template.language,
        parameters=parameters,
    )
    return message


def _template(choice: TemplateChoice) -> WhatsAppTemplate:
    connection = default_connection(Channel.WHATSAPP)
    if connection is None:
        raise TemplateRefused(
            _("The WhatsApp channel is not connected."), code="channel_not_connected"
        )
    template = WhatsAppTemplate.objects.filter(
        connection=connection, name=choice.name, language=choice.language
    ).first()
    if template is None:
        raise TemplateRefused(
            _("The WhatsApp connection has no template %(name)s in %(language)s."),
            code="template_not_found",
            params={"name": choice.name, "language": choice.language},
            fields={"name": [_("Unknown template.")]},
        )
    return template


def _check_customer(ticket: Ticket, template: WhatsAppTemplate) -> None:
    customer_id = ticket.customer_id
    if not Identity.objects.filter(customer_id=customer_id, kind=IdentityKind.WHATSAPP_ID).exists():
        raise TemplateRefused(
            _("The customer has no WhatsApp number to write to."), code="no_whatsapp_number"
        )
    consents = dict(
        Consent.objects.filter(customer_id=customer_id, channel=Channel.WHATSAPP).values_list(
            "purpose", "granted"
        )
    )
    if consents.get(ConsentPurpose.SERVICE) is False:
        raise TemplateRefused(
            _("The customer refused service messages on WhatsApp."), code="consent_refused"
        )
    if template.category == TemplateCategory.MARKETING and not consents.get(
        ConsentPurpose.MARKETING
    ):
        raise TemplateRefused(
            _("A marketing template needs the customer's marketing consent on WhatsApp."),
            code="marketing_consent_missing",
        )
