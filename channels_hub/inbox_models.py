"""The inbox of verified provider messages: accepted by the webhook, threaded by a worker.

A provider's webhook must be answered within its deadline (WeChat gives five seconds,
Meta retries what is not answered quickly) whatever the load. So the webhook only
verifies, parses and stores each message here, unique on the provider's id, and answers;
``channels_hub.inbox`` threads the pending rows onto tickets in batches after commit.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets.models import Channel


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("Waiting to be threaded")
    DONE = "done", _("Threaded")
    DROPPED = "dropped", _("Dropped (unusable content)")
    FAILED = "failed", _("Failed after retries")


class InboundDelivery(models.Model):
    """One customer message a provider delivered, in the normalised form of the adapters.

    ``payload`` is emptied once the message is on its ticket (the ticket keeps the text);
    the row stays for a few days so that a provider's retry is refused at the door.
    """

    connection = models.ForeignKey(
        "channels_hub.ChannelConnection", on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    external_id = models.CharField(_("provider message id"), max_length=200)
    payload = models.JSONField(_("normalised message"), default=dict, blank=True)
    state = models.CharField(
        _("state"), max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # Not to be claimed before: a worker's lease while it threads the row, or the
    # backoff after a failed attempt.
    available_at = models.DateTimeField(_("available at"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    message = models.ForeignKey(
        "tickets.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("inbound delivery")
        verbose_name_plural = _("inbound deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"], name="inbound_delivery_provider_id_uniq"
            )
        ]
        indexes = [
            # The worker's claim: pending rows in arrival order (a partial index stays
            # small however many done rows wait for their purge).
            models.Index(
                fields=["id"],
                name="inbound_delivery_pending_idx",
                condition=models.Q(state="pending"),
            ),
            models.Index(fields=["state", "received_at"], name="inbound_delivery_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.channel}/{self.external_id}"
