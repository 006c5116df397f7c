"""Calls from the hotline (CTI) and the call-back tasks of those nobody answered."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from tickets.models import Message, Ticket


class CallState(models.TextChoices):
    RINGING = "ringing", _("Ringing")
    ANSWERED = "answered", _("Answered")
    ENDED = "ended", _("Ended")
    MISSED = "missed", _("Missed")
    VOICEMAIL = "voicemail", _("Voicemail")


# A late event never moves a call back (a PBX may deliver "ended" before "answered").
CALL_STATE_RANK = {"ringing": 0, "answered": 1, "ended": 2, "missed": 2, "voicemail": 3}


class CallDirection(models.TextChoices):
    INBOUND = "inbound", _("Inbound call")
    OUTBOUND = "outbound", _("Outbound call")


class CallRecord(models.Model):
    """One call as the PBX reported it; ``message`` is its entry on the customer's ticket."""

    connection = models.ForeignKey(
        "channels_hub.ChannelConnection", on_delete=models.PROTECT, related_name="calls"
    )
    call_id = models.CharField(_("PBX call id"), max_length=120)
    direction = models.CharField(
        _("direction"), max_length=10, choices=CallDirection.choices, default=CallDirection.INBOUND
    )
    state = models.CharField(
        _("state"), max_length=10, choices=CallState.choices, default=CallState.RINGING
    )
    customer_number = models.CharField(_("customer number"), max_length=40, blank=True)
    line_number = models.CharField(_("line number"), max_length=40, blank=True)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ticket = models.ForeignKey(
        Ticket, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("agent"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    duration_seconds = models.PositiveIntegerField(_("duration (seconds)"), null=True, blank=True)
    recording_url = models.URLField(_("recording"), max_length=500, blank=True)
    notes = models.TextField(_("call notes"), blank=True)
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    answered_at = models.DateTimeField(_("picked up at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        verbose_name = _("call")
        verbose_name_plural = _("calls")
        constraints = [
            models.UniqueConstraint(fields=["connection", "call_id"], name="call_unique_pbx_id")
        ]
        indexes = [models.Index(fields=["ticket", "-started_at"], name="call_ticket_idx")]

    def __str__(self) -> str:
        return f"call {self.call_id} ({self.state})"


class CallEventReceipt(models.Model):
    """One row per (call, event) received: the PBX's retry of an event is a no-op."""

    connection = models.ForeignKey(
        "channels_hub.ChannelConnection", on_delete=models.CASCADE, related_name="+"
    )
    call_id = models.CharField(max_length=120)
    event = models.CharField(max_length=10, choices=CallState.choices)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("call event")
        verbose_name_plural = _("call events")
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "call_id", "event"], name="call_event_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.call_id}: {self.event}"


class CallbackStatus(models.TextChoices):
    OPEN = "open", _("To call back")
    DONE = "done", _("Called back")


class CallbackTask(models.Model):
    """A missed call or voicemail to return: exactly one per call (its unique ``call``)."""

    call = models.OneToOneField(CallRecord, on_delete=models.CASCADE, related_name="callback")
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="callbacks")
    status = models.CharField(
        _("status"), max_length=10, choices=CallbackStatus.choices, default=CallbackStatus.OPEN
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("call-back task")
        verbose_name_plural = _("call-back tasks")
        indexes = [models.Index(fields=["status", "created_at"], name="callback_status_idx")]

    def __str__(self) -> str:
        return f"call back #{self.ticket_id} ({self.status})"
