"""Made-up customers: names, identities, preferences, consents and a year of history.

Pure generation, no database: a ``CustomerGenerator`` built from a seed and a point in
time yields the same customers every run, so the demo, its screenshots and the tests
all see the same people. Every identity value goes through
``customers.identity.normalize_value``, exactly as if a channel had sent it.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from customers.identity import InvalidIdentity, normalize_value
from customers.models import (
    PUBLIC_ID_ALPHABET,
    ConsentPurpose,
    ContactChannel,
    EventKind,
    IdentityKind,
    ValueTier,
)
from demo import reference_data as ref
from demo.histories import HistoryGenerator, PlannedEvent, Shopper

OPENID_ALPHABET = string.ascii_letters + string.digits + "-_"
TIER_WEIGHTS = {ValueTier.STANDARD: 75, ValueTier.SILVER: 15, ValueTier.GOLD: 8, ValueTier.VIP: 2}
ORDERS_PER_TIER = {
    ValueTier.STANDARD: (0, 4),
    ValueTier.SILVER: (3, 8),
    ValueTier.GOLD: (6, 14),
    ValueTier.VIP: (12, 24),
}
CONTACT_HOURS = (
    (time(9), time(21)),
    (time(10), time(20)),
    (time(8, 30), time(18)),
    (time(12), time(22)),
)
TWIN_EVERY = 400  # one look-alike pair per this many customers
TWIN_OFFSET = 17


@dataclass(frozen=True)
class PlannedIdentity:
    kind: str
    value: str
    verified: bool


@dataclass(frozen=True)
class PlannedConsent:
    channel: str
    purpose: str
    granted: bool
    updated_at: datetime


@dataclass
class PlannedCustomer:
    public_id: str
    name: str
    language: str
    timezone: str
    tier: str
    home_store: str | None
    first_seen: datetime
    preferred_channel: str = ""
    contact_hours: tuple[time, time] | None = None
    identities: list[PlannedIdentity] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    consents: list[PlannedConsent] = field(default_factory=list)
    events: list[PlannedEvent] = field(default_factory=list)
    twin_of: str | None = None  # public id of the customer this one looks like


@dataclass
class _Person:
    """What the identity and history generators need to know about someone."""

    name: str
    language: str
    email_local: str
    categories: tuple[str, ...]


class CustomerGenerator:
    def __init__(self, *, seed: int, now: datetime, store_codes: list[str] | None = None) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.stores = [s for s in ref.STORES if store_codes is None or s.code in store_codes]
        self.taken: set[tuple[str, str]] = set()
        self.taken_public_ids: set[str] = set()
        self.histories = HistoryGenerator(
            rng=self.rng, now=now, store_codes=[s.code for s in self.stores]
        )
        self.member_seq = 30_000_000
        self.us_numbers = [
            f"+1 ({area}) 555-01{n:02d}" for area in ref.US_FICTIONAL_AREA_CODES for n in range(100)
        ]
        self.rng.shuffle(self.us_numbers)

    # --- customers ------------------------------------------------------------------

    def generate(self, count: int) -> Iterator[PlannedCustomer]:
        made = 0
        while made < count:
            customer, person = self._customer()
            yield customer
            made += 1
            if made < count and made % TWIN_EVERY == TWIN_OFFSET % TWIN_EVERY:
                yield self._twin(customer, person)
                made += 1

    def _customer(self) -> tuple[PlannedCustomer, _Person]:
        rng = self.rng
        english = rng.random() < 0.25
        person = self._english_person() if english else self._chinese_person()
        tier = rng.choices(list(TIER_WEIGHTS), weights=list(TIER_WEIGHTS.values()))[0]
        days = rng.triangular(1, ref.HISTORY_DAYS - 1, ref.HISTORY_DAYS * 0.8)
        customer = PlannedCustomer(
            public_id=self._public_id(),
            name=person.name,
            language=person.language,
            timezone=(
                rng.choice(ref.FOREIGN_TIMEZONES)
                if english and rng.random() < 0.3
                else "Asia/Shanghai"
            ),
            tier=tier,
            home_store=self._home_store(0.6 if english else 0.75),
            first_seen=self.now - timedelta(days=days, seconds=rng.randrange(86_400)),
        )
        if english:
            self._english_identities(customer, person)
        else:
            self._chinese_identities(customer, person)
        if not customer.identities:
            self._add(customer, IdentityKind.WEB_VISITOR_ID, self._visitor_id())
        customer.preferred_channel = self._preferred_channel(customer)
        if rng.random() < 0.3:
            customer.contact_hours = rng.choice(CONTACT_HOURS)
        customer.consents = self._consents(customer)
        customer.events = self.histories.history(
            self._shopper(customer, person), orders=ORDERS_PER_TIER[customer.tier]
        )
        customer.tags = self._tags(customer, person)
        return customer, person

    def _twin(self, original: PlannedCustomer, person: _Person) -> PlannedCustomer:
        """Same name and store, a look-alike email on another domain: a human should decide."""
        rng = self.rng
        twin = PlannedCustomer(
            public_id=self._public_id(),
            name=original.name,
            language=original.language,
            timezone=original.timezone,
            tier=ValueTier.STANDARD,
            home_store=original.home_store,
            first_seen=self.now - timedelta(days=rng.uniform(5, 60)),
            twin_of=original.public_id,
        )
        used = {v.split("@")[1] for k, v in self._values(original) if k == IdentityKind.EMAIL}
        domain = next((d for d in ref.EMAIL_DOMAINS if d not in used), "example.org")
        self._add_email(twin, person.email_local, domain, verified=False)
        self._add(twin, IdentityKind.WEB_VISITOR_ID, self._visitor_id())
        if rng.random() < 0.5:
            self._add(twin, IdentityKind.WECHAT_OPENID, self._openid())
        twin.preferred_channel = ContactChannel.EMAIL
        twin.consents = self._consents(twin)
        twin.events = self.histories.history(self._shopper(twin, person), orders=(0, 1))
        return twin

    def _chinese_person(self) -> _Person:
        rng = self.rng
        surname, surname_py, _w = rng.choices(ref.SURNAMES, weights=[s[2] for s in ref.SURNAMES])[0]
        given, given_py = rng.choice(ref.GIVEN_NAMES)
        local = rng.choice(
            (
                f"{surname_py}{given_py}",
                f"{surname_py}.{given_py}",
                f"{given_py}.{surname_py}",
                f"{surname_py}_{given_py}",
            )
        )
        if rng.random() < 0.6:
            local += rng.choice((str(rng.randint(80, 99)), f"{rng.randint(0, 9999):04d}"))
        return _Person(f"{surname}{given}", ref.ZH, local, self._categories())

    def _english_person(self) -> _Person:
        rng = self.rng
        first, last = rng.choice(ref.ENGLISH_FIRST_NAMES), rng.choice(ref.ENGLISH_LAST_NAMES)
        clean_last = last.replace("'", "").lower()
        local = rng.choice(
            (f"{first.lower()}.{clean_last}", f"{first[0].lower()}{clean_last}", first.lower())
        )
        if rng.random() < 0.4:
            local += str(rng.randint(1, 99))
        return _Person(f"{first} {last}", ref.EN, local, self._categories())

    @staticmethod
    def _shopper(customer: PlannedCustomer, person: _Person) -> Shopper:
        return Shopper(
            customer.first_seen, customer.home_store, customer.language, person.categories
        )

    def _categories(self) -> tuple[str, ...]:
        return self.rng.choice((("electronics",), ("apparel",), ("electronics", "apparel")))

    def _home_store(self, probability: float) -> str | None:
        if self.rng.random() >= probability:
            return None
        return self.rng.choices(self.stores, weights=[s.weight for s in self.stores])[0].code

    def _public_id(self) -> str:
        while True:
            suffix = "".join(self.rng.choice(PUBLIC_ID_ALPHABET) for _ in range(12))
            public_id = ref.DEMO_PUBLIC_ID_PREFIX + suffix
            if public_id not in self.taken_public_ids:
                self.taken_public_ids.add(public_id)
                return public_id

    # --- identities -----------------------------------------------------------------

    def _chinese_identities(self, customer: PlannedCustomer, person: _Person) -> None:
        rng = self.rng
        member = customer.tier != ValueTier.STANDARD or rng.random() < 0.5
        if rng.random() < 0.9:
            self._add(customer, IdentityKind.PHONE, self._cn_mobile(), verified=rng.random() < 0.7)
        if rng.random() < 0.45:
            self._add_email(customer, person.email_local, None, verified=rng.random() < 0.5)
        if member:
            self._add(customer, IdentityKind.MEMBER_NO, self._member_no(), verified=True)
        if rng.random() < 0.6:
            self._add(customer, IdentityKind.WECHAT_OPENID, self._openid())
            if rng.random() < 0.7:
                self._add(customer, IdentityKind.WECHAT_UNIONID, self._openid())
        if rng.random() < 0.25:
            self._add(customer, IdentityKind.APP_USER_ID, f"u{rng.randrange(10**8, 10**9)}")
        if rng.random() < 0.3:
            self._add(customer, IdentityKind.WEB_VISITOR_ID, self._visitor_id())
        if rng.random() < 0.06:
            self._add(customer, IdentityKind.DOUYIN_ID, f"dy{rng.randrange(10**9, 10**10)}")
        if rng.random() < 0.04:
            self._add(customer, IdentityKind.WEIBO_ID, str(rng.randrange(10**9, 10**10)))

    def _english_identities(self, customer: PlannedCustomer, person: _Person) -> None:
        rng = self.rng
        if rng.random() < 0.9:
            self._add_email(customer, person.email_local, None, verified=rng.random() < 0.6)
        if rng.random() < 0.5:
            self._add(customer, IdentityKind.PHONE, self._cn_mobile(), verified=rng.random() < 0.5)
        if rng.random() < 0.45 and self.us_numbers:
            number = self.us_numbers.pop()
            if rng.random() < 0.8:
                self._add(customer, IdentityKind.PHONE, number, verified=rng.random() < 0.3)
            self._add(customer, IdentityKind.WHATSAPP_ID, "+" + re.sub(r"\D", "", number))
        if customer.tier != ValueTier.STANDARD or rng.random() < 0.4:
            self._add(customer, IdentityKind.MEMBER_NO, self._member_no(), verified=True)
        if rng.random() < 0.3:
            self._add(customer, IdentityKind.WECHAT_OPENID, self._openid())
        if rng.random() < 0.4:
            self._add(customer, IdentityKind.WEB_VISITOR_ID, self._visitor_id())
        if rng.random() < 0.08:
            self._add(customer, IdentityKind.FACEBOOK_PSID, str(rng.randrange(10**15, 10**16)))
        if rng.random() < 0.08:
            self._add(customer, IdentityKind.INSTAGRAM_ID, str(rng.randrange(10**16, 10**17)))

    def _add(
        self, customer: PlannedCustomer, kind: str, raw: str, *, verified: bool = False
    ) -> bool:
        value = normalize_value(kind, raw)
        if (kind, value) in self.taken:
            return False
        self.taken.add((kind, value))
        customer.identities.append(PlannedIdentity(kind, value, verified))
        return True

    def _add_email(
        self, customer: PlannedCustomer, local: str, domain: str | None, *, verified: bool
    ) -> None:
        domain = domain or self.rng.choice(ref.EMAIL_DOMAINS)
        candidate, n = local, 1
        while not self._add(
            customer, IdentityKind.EMAIL, self._cased(f"{candidate}@{domain}"), verified=verified
        ):
            n += 1
            candidate = f"{local}{n}"

    def _cased(self, email: str) -> str:
        """Some people type their address with capitals; the normaliser folds them."""
        return email.title() if self.rng.random() < 0.1 else email

    def _cn_mobile(self) -> str:
        rng = self.rng
        while True:
            digits = rng.choice(ref.CN_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
            raw = rng.choice(
                (
                    digits,
                    digits,
                    f"{digits[:3]} {digits[3:7]} {digits[7:]}",
                    f"+86 {digits[:3]}-{digits[3:7]}-{digits[7:]}",
                    f"0086{digits}",
                )
            )
            try:
                value = normalize_value(IdentityKind.PHONE, raw)
            except InvalidIdentity:
                continue
            if (IdentityKind.PHONE, value) not in self.taken:
                return raw

    def _member_no(self) -> str:
        self.member_seq += self.rng.randint(1, 17)
        return f"m{self.member_seq}" if self.rng.random() < 0.1 else f"M{self.member_seq}"

    def _openid(self) -> str:
        return "o" + "".join(self.rng.choice(OPENID_ALPHABET) for _ in range(27))

    def _visitor_id(self) -> str:
        return f"v-{self.rng.getrandbits(96):024x}"

    @staticmethod
    def _values(customer: PlannedCustomer) -> list[tuple[str, str]]:
        return [(i.kind, i.value) for i in customer.identities]

    # --- preferences ----------------------------------------------------------------

    def _reachable(self, customer: PlannedCustomer) -> list[str]:
        kinds = {i.kind for i in customer.identities}
        channels = []
        if IdentityKind.PHONE in kinds:
            channels += [ContactChannel.SMS, ContactChannel.PHONE]
        if IdentityKind.EMAIL in kinds:
            channels.append(ContactChannel.EMAIL)
        if kinds & {IdentityKind.WECHAT_OPENID, IdentityKind.WECHAT_UNIONID}:
            channels.append(ContactChannel.WECHAT)
        if IdentityKind.WHATSAPP_ID in kinds:
            channels.append(ContactChannel.WHATSAPP)
        if IdentityKind.APP_USER_ID in kinds:
            channels.append(ContactChannel.APP_PUSH)
        return channels

    def _preferred_channel(self, customer: PlannedCustomer) -> str:
        weights = {
            ContactChannel.WECHAT: 45 if customer.language == ref.ZH else 15,
            ContactChannel.SMS: 20 if customer.language == ref.ZH else 3,
            ContactChannel.PHONE: 8,
            ContactChannel.APP_PUSH: 10,
            ContactChannel.EMAIL: 8 if customer.language == ref.ZH else 45,
            ContactChannel.WHATSAPP: 40,
        }
        reachable = self._reachable(customer)
        if not reachable or self.rng.random() < 0.15:
            return ""
        return self.rng.choices(reachable, weights=[weights[c] for c in reachable])[0]

    def _consents(self, customer: PlannedCustomer) -> list[PlannedConsent]:
        rng = self.rng
        consents = []
        for channel in self._reachable(customer):
            if channel == ContactChannel.PHONE:
                continue
            at = customer.first_seen + timedelta(minutes=rng.randint(0, 600))
            consents.append(
                PlannedConsent(channel, ConsentPurpose.SERVICE, rng.random() < 0.95, at)
            )
            roll = rng.random()
            if roll < 0.7:
                granted = roll < 0.4 or channel == customer.preferred_channel
                consents.append(PlannedConsent(channel, ConsentPurpose.MARKETING, granted, at))
        return consents

    def _tags(self, customer: PlannedCustomer, person: _Person) -> list[str]:
        rng = self.rng
        tags = {name for name, p in ref.TAGS_RANDOM if rng.random() < p}
        if customer.tier in (ValueTier.GOLD, ValueTier.VIP):
            tags.add(ref.TAGS_LOYAL)
        orders = [e for e in customer.events if e.kind == EventKind.ORDER]
        returns = [e for e in customer.events if e.kind == EventKind.RETURN]
        if len(orders) >= 3:
            tags.update(person.categories)
        if len(returns) >= 2:
            tags.add("frequent-returner")
        if any(
            c.channel == ContactChannel.EMAIL
            and c.purpose == ConsentPurpose.MARKETING
            and c.granted
            for c in customer.consents
        ):
            tags.add("newsletter")
        if customer.language == ref.EN and customer.timezone == "Asia/Shanghai":
            tags.add("expat")
        return sorted(tags)
