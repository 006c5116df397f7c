"""The unified customer record: one row per real person, whatever channels they use."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from omniservice.org.models import Store, validate_timezone

PUBLIC_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_public_id() -> str:
    return "cus_" + "".join(secrets.choice(PUBLIC_ID_ALPHABET) for _ in range(16))


class ValueTier(models.TextChoices):
    STANDARD = "standard", _("Standard")
    SILVER = "silver", _("Silver")
    GOLD = "gold", _("Gold")
    VIP = "vip", _("VIP")


TIER_RANK = {tier: rank for rank, tier in enumerate(ValueTier.values)}


class ContactChannel(models.TextChoices):
    """Channels a customer can be reached on, for preferences and consent."""

    SMS = "sms", _("SMS")
    EMAIL = "email", _("Email")
    PHONE = "phone", _("Phone call")
    WECHAT = "wechat", _("WeChat")
    WHATSAPP = "whatsapp", _("WhatsApp")
    APP_PUSH = "app_push", _("App notification")
    WEB_CHAT = "web_chat", _("Web chat")
    MESSENGER = "messenger", _("Messenger")
    INSTAGRAM = "instagram", _("Instagram")
    STORE = "store", _("In store")


class CustomerStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    MERGED = "merged", _("Merged into another customer")


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    public_id = models.CharField(
        _("public id"), max_length=24, unique=True, default=new_public_id, editable=False
    )
    name = models.CharField(_("name"), max_length=200, blank=True)
    language = models.CharField(
        _("language"), max_length=10, choices=settings.LANGUAGES, default="zh-hans"
    )
    timezone = models.CharField(
        _("time zone"), max_length=64, default="Asia/Shanghai", validators=[validate_timezone]
    )
    tier = models.CharField(
        _("value tier"), max_length=10, choices=ValueTier.choices, default=ValueTier.STANDARD
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="customers")
    preferred_channel = models.CharField(
        _("preferred channel"), max_length=20, choices=ContactChannel.choices, blank=True
    )
    contact_hours_start = models.TimeField(
        _("contact from"), null=True, blank=True, help_text=_("In the customer's time zone.")
    )
    contact_hours_end = models.TimeField(_("contact until"), null=True, blank=True)
    home_store = models.ForeignKey(
        Store,
        verbose_name=_("home store"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customers",
    )
    status = models.CharField(
        _("status"), max_length=10, choices=CustomerStatus.choices, default=CustomerStatus.ACTIVE
    )
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_customers",
    )
    merged_at = models.DateTimeField(_("merged at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        permissions = [("merge_customer", _("Can merge customers"))]
        indexes = [
            models.Index(fields=["updated_at", "id"], name="customer_updated_idx"),
            models.Index(fields=["tier", "id"], name="customer_tier_idx"),
            models.Index(fields=["status", "id"], name="customer_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(status="merged") & models.Q(merged_into__isnull=False))
                | (models.Q(status="active") & models.Q(merged_into__isnull=True)),
                name="customer_merged_state_consistent",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(contact_hours_start__isnull=True)
                    & models.Q(contact_hours_end__isnull=True)
                )
                | (
                    models.Q(contact_hours_start__isnull=False)
                    & models.Q(contact_hours_end__isnull=False)
                ),
                name="customer_contact_hours_both_or_none",
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.public_id


class IdentityKind(models.TextChoices):
    PHONE = "phone", _("Phone")
    EMAIL = "email", _("Email")
    MEMBER_NO = "member_no", _("Member number")
    APP_USER_ID = "app_user_id", _("App user id")
    WECHAT_UNIONID = "wechat_unionid", _("WeChat unionid")
    WECHAT_OPENID = "wechat_openid", _("WeChat openid")
    WHATSAPP_ID = "whatsapp_id", _("WhatsApp id")
    FACEBOOK_PSID = "facebook_psid", _("Messenger id")
    INSTAGRAM_ID = "instagram_id", _("Instagram id")
    WEIBO_ID = "weibo_id", _("Weibo id")
    DOUYIN_ID = "douyin_id", _("Douyin id")
    WEB_VISITOR_ID = "web_visitor_id", _("Web chat visitor id")


class Identity(models.Model):
    """One identifier of a customer on one channel; a (kind, value) belongs to one customer."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="identities"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=IdentityKind.choices)
    value = models.CharField(_("value"), max_length=255)
    verified = models.BooleanField(_("verified"), default=False)
    source = models.CharField(_("source"), max_length=50, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("identity")
        verbose_name_plural = _("identities")
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="identity_unique_kind_value")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class EventKind(models.TextChoices):
    ORDER = "order", _("Order placed")
    ORDER_STATUS = "order_status", _("Order status changed")
    RETURN = "return", _("Return")
    BROWSE = "browse", _("Browsing")
    STORE_VISIT = "store_visit", _("Store visit")
    FEEDBACK = "feedback", _("Feedback")


class CustomerEvent(models.Model):
    """Something the customer did, pushed by a partner system, on the customer's timeline."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=EventKind.choices)
    source = models.CharField(_("source"), max_length=50)
    external_id = models.CharField(_("external id"), max_length=200)
    occurred_at = models.DateTimeField(_("occurred at"))
    amount = models.DecimalField(
        _("amount"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    currency = models.CharField(_("currency"), max_length=3, blank=True)
    store = models.ForeignKey(
        Store,
        verbose_name=_("store"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customer_events",
    )
    data = models.JSONField(_("data"), default=dict, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("customer event")
        verbose_name_plural = _("customer events")
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="event_unique_source_external_id"
            ),
            models.CheckConstraint(
                condition=models.Q(amount__isnull=True) | ~models.Q(currency=""),
                name="event_amount_has_currency",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-occurred_at", "-id"], name="event_timeline_idx"),
            models.Index(fields=["kind", "occurred_at"], name="event_kind_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.source}:{self.external_id}"


class ConsentPurpose(models.TextChoices):
    SERVICE = "service", _("Service messages")
    MARKETING = "marketing", _("Marketing")
    FEEDBACK = "feedback", _("Surveys and feedback")


class Consent(models.Model):
    """Current consent of a customer for one channel and purpose."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(_("channel"), max_length=20, choices=ContactChannel.choices)
    purpose = models.CharField(_("purpose"), max_length=10, choices=ConsentPurpose.choices)
    granted = models.BooleanField(_("granted"))
    source = models.CharField(_("source"), max_length=100, blank=True)
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "channel", "purpose"], name="consent_unique_channel_purpose"
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel}/{self.purpose}: {self.granted}"


class ConsentLog(models.Model):
    """Append-only history of consent changes, for audits."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consent_log")
    channel = models.CharField(max_length=20, choices=ContactChannel.choices)
    purpose = models.CharField(max_length=10, choices=ConsentPurpose.choices)
    granted = models.BooleanField()
    source = models.CharField(max_length=100, blank=True)
    actor = models.CharField(max_length=150, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("consent change")
        verbose_name_plural = _("consent changes")
        indexes = [models.Index(fields=["customer", "recorded_at"], name="consentlog_customer_idx")]

    def __str__(self) -> str:
        return f"{self.channel}/{self.purpose}: {self.granted} at {self.recorded_at}"


class SuggestionStatus(models.TextChoices):
    OPEN = "open", _("Open")
    MERGED = "merged", _("Merged")
    DISMISSED = "dismissed", _("Dismissed")


class MergeSuggestion(models.Model):
    """Two customers that look like one person on weak evidence: a human decides."""

    customer_a = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    customer_b = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    evidence = models.JSONField(_("evidence"), default=list)
    status = models.CharField(
        _("status"), max_length=10, choices=SuggestionStatus.choices, default=SuggestionStatus.OPEN
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.CharField(_("resolved by"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("merge suggestion")
        verbose_name_plural = _("merge suggestions")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(customer_a__lt=models.F("customer_b")),
                name="suggestion_ordered_pair",
            ),
            models.UniqueConstraint(
                fields=["customer_a", "customer_b"],
                condition=models.Q(status="open"),
                name="suggestion_unique_open_pair",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="suggestion_status_idx")]

    def __str__(self) -> str:
        return f"{self.customer_a_id} ~ {self.customer_b_id} ({self.status})"


class CustomerMerge(models.Model):
    """Audit trail of a merge: who merged what into what, why, and what moved."""

    source = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="merges_as_source")
    target = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="merges_as_target")
    actor = models.CharField(_("actor"), max_length=150)
    reason = models.CharField(_("reason"), max_length=255)
    moved = models.JSONField(_("moved"), default=dict)
    source_snapshot = models.JSONField(_("source snapshot"), default=dict)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("customer merge")
        verbose_name_plural = _("customer merges")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.source_id} -> {self.target_id}"
