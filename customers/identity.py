"""Identity claims: normalising what channels send, and how much each kind can be trusted."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import phonenumbers
from django.conf import settings
from django.utils.translation import gettext as _

from customers.models import IdentityKind
from omniservice.errors import DomainError

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
WHATSAPP_PATTERN = re.compile(r"^[1-9][0-9]{6,14}$")
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\s]")
MAX_VALUE_LENGTH = 255
MAX_IDENTITIES_PER_CLAIM = 20

# When a claim's identities point to different customers and none is strong, the
# customer found through the highest-ranked kind receives the event (lowest first).
KIND_PRIORITY = {
    kind: rank
    for rank, kind in enumerate(
        [
            IdentityKind.MEMBER_NO,
            IdentityKind.APP_USER_ID,
            IdentityKind.WECHAT_UNIONID,
            IdentityKind.PHONE,
            IdentityKind.EMAIL,
            IdentityKind.WHATSAPP_ID,
            IdentityKind.WECHAT_OPENID,
            IdentityKind.FACEBOOK_PSID,
            IdentityKind.INSTAGRAM_ID,
            IdentityKind.WEIBO_ID,
            IdentityKind.DOUYIN_ID,
            IdentityKind.WEB_VISITOR_ID,
        ]
    )
}
IDENTITY_KINDS = frozenset(IdentityKind.values)  # Choices.values builds a new list per call
ALWAYS_STRONG = frozenset({IdentityKind.MEMBER_NO})
STRONG_WHEN_VERIFIED = frozenset({IdentityKind.PHONE, IdentityKind.EMAIL})


class InvalidIdentity(DomainError):
    pass


@dataclass(frozen=True)
class IdentityClaim:
    """A normalised (kind, value) that some input says belongs to the customer."""

    kind: str
    value: str
    verified: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.value)


def is_strong(kind: str, verified: bool) -> bool:
    """Strong identifiers are enough to merge two customers without a human."""
    return kind in ALWAYS_STRONG or (kind in STRONG_WHEN_VERIFIED and verified)


def normalize_phone(raw: str, region: str | None = None) -> str:
    try:
        number = phonenumbers.parse(raw, region or settings.DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentity(
            _("%(value)s is not a phone number."), code="invalid_phone", params={"value": raw}
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentity(
            _("%(value)s is not a valid phone number."), code="invalid_phone", params={"value": raw}
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    value = raw.strip().casefold()
    if len(value) > 254 or CONTROL_CHARS.search(value) or not EMAIL_PATTERN.match(value):
        raise InvalidIdentity(
            _("%(value)s is not an email address."), code="invalid_email", params={"value": raw}
        )
    return value


def require_known_kind(kind: Any) -> None:
    """InvalidIdentity unless ``kind`` is one of the identity kinds."""
    if not isinstance(kind, str) or kind not in IDENTITY_KINDS:
        raise InvalidIdentity(
            _("Unknown identity kind %(kind)s."),
            code="unknown_identity_kind",
            params={"kind": kind},
        )


def normalize_value(kind: str, raw: Any) -> str:
    """The canonical form of an identifier, or InvalidIdentity saying why not."""
    require_known_kind(kind)
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidIdentity(
            _("The %(kind)s identity needs a non-empty text value."),
            code="invalid_identity",
            params={"kind": kind},
        )
    if kind == IdentityKind.PHONE:
        return normalize_phone(raw)
    if kind == IdentityKind.EMAIL:
        return normalize_email(raw)
    value = raw.strip()
    if kind == IdentityKind.WHATSAPP_ID:
        value = value.lstrip("+").replace(" ", "")
        if not WHATSAPP_PATTERN.match(value):
            raise InvalidIdentity(
                _("%(value)s is not a WhatsApp id (the phone number in digits)."),
                code="invalid_identity",
                params={"value": raw},
            )
        return value
    if kind == IdentityKind.MEMBER_NO:
        value = value.upper()
    if len(value) > MAX_VALUE_LENGTH or CONTROL_CHARS.search(value):
        raise InvalidIdentity(
            _("The %(kind)s identity must be at most 255 characters without spaces."),
            code="invalid_identity",
            params={"kind": kind},
        )
    return value


def parse_claims(raw: Any) -> list[IdentityClaim]:
    """Parse ``[{"kind", "value", "verified"?}, ...]`` into claims, merging duplicates."""
    if not isinstance(raw, list) or not raw:
        raise InvalidIdentity(
            _("identities must be a non-empty list of {kind, value}."), code="missing_identities"
        )
    if len(raw) > MAX_IDENTITIES_PER_CLAIM:
        raise InvalidIdentity(_("At most 20 identities per customer."), code="too_many_identities")
    claims: dict[tuple[str, str], IdentityClaim] = {}
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidIdentity(
                _("Each identity must be an object {kind, value}."), code="invalid_identity"
            )
        kind = item.get("kind")
        value = normalize_value(kind if isinstance(kind, str) else "", item.get("value"))
        verified = item.get("verified", False)
        if not isinstance(verified, bool):
            raise InvalidIdentity(_("verified must be true or false."), code="invalid_identity")
        key = (kind, value)
        previous = claims.get(key)
        claims[key] = IdentityClaim(kind, value, verified or bool(previous and previous.verified))
    return list(claims.values())


def merge_claims(claims: Iterable[IdentityClaim]) -> list[IdentityClaim]:
    merged: dict[tuple[str, str], IdentityClaim] = {}
    for claim in claims:
        previous = merged.get(claim.key)
        if previous is None or (claim.verified and not previous.verified):
            merged[claim.key] = claim
    return list(merged.values())
