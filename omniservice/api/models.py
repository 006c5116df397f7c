"""API keys of partner systems and the idempotency records of their POSTs."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

SCOPES: dict[str, str] = {
    "customers:read": _("Read customers, identities and timelines"),
    "customers:write": _("Create and update customers"),
    "customers:merge": _("Merge customers"),
    "events:write": _("Push orders, returns, browsing and store events"),
    "tickets:read": _("Read tickets and messages"),
    "tickets:write": _("Create tickets and post messages"),
    "kb:read": _("Read the knowledge base"),
    "kb:write": _("Edit the knowledge base"),
}


class ApiKey(models.Model):
    """A partner system's credential. Only a SHA-256 of the secret is stored.

    The key's random secret has 256 bits of entropy, so a fast hash is enough (no
    password stretching needed) and keeps authentication to one indexed lookup.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    prefix = models.CharField(_("prefix"), max_length=12, unique=True)
    secret_hash = models.CharField(_("secret hash"), max_length=64)
    scopes = models.JSONField(_("scopes"), default=list)
    rate_per_minute = models.PositiveIntegerField(
        _("requests per minute"),
        null=True,
        blank=True,
        help_text=_("Empty: the installation default (API_RATE_PER_MINUTE)."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes or "*" in self.scopes


class IdempotencyRecord(models.Model):
    """The stored answer to a POST sent with an ``Idempotency-Key`` header."""

    owner = models.CharField(max_length=64)
    key = models.CharField(max_length=200)
    request_fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="idempotency_unique_owner_key")
        ]

    def __str__(self) -> str:
        return f"{self.owner}: {self.key}"
