"""In-store interactions logged by store staff on the tablet."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, override

from channels_hub.adapters.base import claim
from customers.identity import IdentityClaim
from customers.models import IdentityKind
from omniservice.errors import DomainError
from omniservice.org.models import Store
from tickets.models import Channel
from tickets.services import InboundResult, thread_inbound_message
from tickets.visibility import profile_of


class InteractionKind(models.TextChoices):
    CONSULTATION = "consultation", gettext_lazy("Consultation")
    PICKUP = "pickup", gettext_lazy("Pickup")
    RETURN = "return", gettext_lazy("Return")
    REPAIR = "repair", gettext_lazy("Repair drop-off")
    COMPLAINT = "complaint", gettext_lazy("Complaint")


def log_store_interaction(
    *,
    store: Store,
    staff: AbstractBaseUser,
    kind: str,
    text: str,
    phone: str = "",
    member_no: str = "",
    name: str = "",
    token: str = "",
) -> InboundResult:
    """A visit becomes a message (channel store) on the customer's ticket.

    The customer is found by phone or member number, or created; ``token`` (one per
    form shown) makes a double submit a no-op.
    """
    if kind not in InteractionKind.values:
        raise DomainError(_("Choose what the visit was about."), code="invalid_kind")
    identities: list[IdentityClaim] = []
    if member_no.strip():
        identities.append(claim(IdentityKind.MEMBER_NO, member_no))
    if phone.strip():
        identities.append(claim(IdentityKind.PHONE, phone))
    if not identities:
        raise DomainError(
            _("Give the customer's phone or member number."), code="identity_required"
        )
    staff_name = getattr(profile_of(staff), "display_name", "") or staff.get_username()
    with override(settings.LANGUAGE_CODE):  # stored in the site's language, like other system text
        label = str(InteractionKind(kind).label)
        body = _("%(kind)s at %(store)s, logged by %(staff)s") % {
            "kind": label,
            "store": store.name,
            "staff": staff_name,
        }
    if text.strip():
        body = f"{body}\n{text.strip()}"
    return thread_inbound_message(
        channel=Channel.STORE,
        external_id=f"store:{store.pk}:{token}" if token else None,
        identities=identities,
        text=body,
        store=store,
        subject=f"{label}: {text.strip()}" if text.strip() else label,
        profile={"name": name.strip()} if name.strip() else {},
    )
