"""A customer's made-up year: orders and their status changes, returns, browsing,
store visits and feedback, in the shapes the partner event API accepts.

Causality is kept: an online order is browsed before, shipped and delivered after, a
return follows the delivery and is refunded, feedback follows what it is about.
Anything that would fall in the future is dropped (an order placed yesterday is
simply still in transit).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from customers.models import EventKind
from demo import reference_data as ref

CENT = Decimal("0.01")
CARRIERS = ("SF Express", "JD Logistics", "ZTO Express")
DISCOUNTS = (Decimal(0), Decimal("0.1"), Decimal("0.2"))
FRESHEST = timedelta(minutes=5)


@dataclass
class PlannedEvent:
    kind: str
    source: str
    external_id: str
    occurred_at: datetime
    amount: Decimal | None = None
    store_code: str | None = None
    data: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Shopper:
    first_seen: datetime
    home_store: str | None
    language: str
    categories: tuple[str, ...]


@dataclass
class _Order:
    number: str
    at: datetime
    in_store: bool
    category: str
    items: list[tuple[ref.Product, int]]


class HistoryGenerator:
    def __init__(self, *, rng: random.Random, now: datetime, store_codes: list[str]) -> None:
        self.rng = rng
        self.now = now
        self.store_codes = store_codes
        self.order_seq = 0
        self.event_seq = 0

    def history(self, who: Shopper, *, orders: tuple[int, int]) -> list[PlannedEvent]:
        rng = self.rng
        events: list[PlannedEvent] = []
        for _ in range(rng.randint(*orders)):
            self._order(who, events)
        for _ in range(rng.randint(0, 5)):
            self._browse(who, self._moment(who), events)
        if who.home_store:
            for _ in range(rng.randint(0, 3)):
                self._store_visit(who, events)
        latest = self.now - FRESHEST
        events = [e for e in events if who.first_seen <= e.occurred_at <= latest]
        events.sort(key=lambda e: e.occurred_at)
        return events

    def _moment(self, who: Shopper) -> datetime:
        span = (self.now - who.first_seen).total_seconds()
        return who.first_seen + timedelta(seconds=self.rng.uniform(0, span))

    def _external_id(self, prefix: str) -> str:
        self.event_seq += 1
        return f"demo-{prefix}-{self.event_seq:07d}"

    def _visit_store(self, who: Shopper) -> str:
        if who.home_store and self.rng.random() < 0.85:
            return who.home_store
        return self.rng.choice(self.store_codes)

    def _order(self, who: Shopper, events: list[PlannedEvent]) -> None:
        rng = self.rng
        category = rng.choice(who.categories)
        pool = [p for p in ref.PRODUCTS if p.category == category]
        count = rng.choices((1, 2, 3), weights=(60, 30, 10))[0]
        items = [
            (p, 2 if p.price < 300 and rng.random() < 0.3 else 1) for p in rng.sample(pool, count)
        ]
        self.order_seq += 1
        at = self._moment(who)
        order = _Order(
            number=f"SO{at:%y%m%d}{self.order_seq:06d}",
            at=at,
            in_store=who.home_store is not None and rng.random() < 0.35,
            category=category,
            items=items,
        )
        if not order.in_store:
            viewed = at - timedelta(minutes=rng.randint(5, 2_880))
            self._browse(who, viewed, events, sku=items[0][0].sku)
        events.append(self._order_event(who, order))
        received = order.at
        if not order.in_store:
            if rng.random() < 0.05:
                cancelled = order.at + timedelta(hours=rng.uniform(0.2, 12))
                self._status(order.number, "cancelled", cancelled, events)
                return
            received = self._delivery(order, events)
        returned = None
        if rng.random() < (0.12 if category == "apparel" else 0.07):
            returned = self._return(who, order, received, events)
        if rng.random() < 0.25:
            after = (returned or received) + timedelta(days=rng.uniform(0.5, 7))
            low = returned is not None
            self._feedback(who, after, events, order_no=order.number, low=low)

    def _order_event(self, who: Shopper, order: _Order) -> PlannedEvent:
        subtotal = sum((p.price * q for p, q in order.items), Decimal(0))
        discount = self.rng.choices(DISCOUNTS, weights=(70, 20, 10))[0]
        english = who.language == ref.EN
        data: dict[str, object] = {
            "order_no": order.number,
            "channel": "store" if order.in_store else "online",
            "status": "completed" if order.in_store else "paid",
            "items": [
                {
                    "sku": p.sku,
                    "name": p.name_en if english else p.name,
                    "quantity": q,
                    "unit_price": str(p.price),
                }
                for p, q in order.items
            ],
        }
        if discount:
            data["discount"] = str(discount)
        return PlannedEvent(
            EventKind.ORDER,
            "pos" if order.in_store else "shop",
            self._external_id("order"),
            order.at,
            (subtotal * (1 - discount)).quantize(CENT),
            self._visit_store(who) if order.in_store else None,
            data,
        )

    def _delivery(self, order: _Order, events: list[PlannedEvent]) -> datetime:
        rng = self.rng
        shipped = order.at + timedelta(hours=rng.uniform(4, 48))
        received = shipped + timedelta(hours=rng.uniform(20, 96))
        carrier = rng.choice(CARRIERS)
        tracking = f"{carrier[:2].upper()}{rng.randrange(10**11, 10**12)}"
        self._status(
            order.number, "shipped", shipped, events, carrier=carrier, tracking_no=tracking
        )
        self._status(order.number, "delivered", received, events, carrier=carrier)
        return received

    def _status(
        self, order_no: str, status: str, at: datetime, events: list[PlannedEvent], **extra: str
    ) -> None:
        data = {"order_no": order_no, "status": status, **extra}
        events.append(
            PlannedEvent(EventKind.ORDER_STATUS, "shop", self._external_id("status"), at, data=data)
        )

    def _return(
        self, who: Shopper, order: _Order, received: datetime, events: list[PlannedEvent]
    ) -> datetime:
        rng = self.rng
        product, quantity = rng.choice(order.items)
        at = received + timedelta(days=rng.uniform(1, 10))
        at_store = order.in_store or (who.home_store is not None and rng.random() < 0.4)
        data = {
            "order_no": order.number,
            "sku": product.sku,
            "quantity": quantity,
            "reason": rng.choice(ref.RETURN_REASONS),
        }
        events.append(
            PlannedEvent(
                EventKind.RETURN,
                "pos" if at_store else "shop",
                self._external_id("return"),
                at,
                (product.price * quantity).quantize(CENT),
                self._visit_store(who) if at_store else None,
                data,
            )
        )
        refunded = at + timedelta(days=rng.uniform(1, 5))
        self._status(order.number, "refunded", refunded, events)
        return refunded

    def _browse(
        self, who: Shopper, at: datetime, events: list[PlannedEvent], *, sku: str | None = None
    ) -> None:
        rng = self.rng
        page = "product" if sku else rng.choice(ref.BROWSE_PAGES)
        data: dict[str, object] = {"page": page, "seconds": rng.randint(8, 600)}
        if page == "product":
            pool = [p for p in ref.PRODUCTS if p.category in who.categories]
            data["sku"] = sku or rng.choice(pool).sku
        elif page == "search":
            data["query"] = rng.choice(ref.SEARCH_TERMS)
        elif page == "category":
            data["category"] = rng.choice(who.categories)
        source = "app" if rng.random() < 0.4 else "web"
        events.append(
            PlannedEvent(EventKind.BROWSE, source, self._external_id("view"), at, data=data)
        )

    def _store_visit(self, who: Shopper, events: list[PlannedEvent]) -> None:
        rng = self.rng
        at = self._moment(who)
        purpose = rng.choice(ref.STORE_VISIT_PURPOSES)
        if purpose == "repair" and "electronics" not in who.categories:
            purpose = "fitting"
        store = self._visit_store(who)
        events.append(
            PlannedEvent(
                EventKind.STORE_VISIT,
                "store",
                self._external_id("visit"),
                at,
                store_code=store,
                data={"purpose": purpose, "minutes": rng.randint(5, 75)},
            )
        )
        if rng.random() < 0.15:
            later = at + timedelta(hours=rng.uniform(1, 48))
            self._feedback(who, later, events, topic="store", store_code=store)

    def _feedback(
        self,
        who: Shopper,
        at: datetime,
        events: list[PlannedEvent],
        *,
        order_no: str | None = None,
        topic: str | None = None,
        store_code: str | None = None,
        low: bool = False,
    ) -> None:
        rng = self.rng
        weights = (25, 25, 20, 15, 15) if low else (4, 5, 11, 30, 50)
        rating = rng.choices((1, 2, 3, 4, 5), weights=weights)[0]
        data: dict[str, object] = {
            "rating": rating,
            "topic": topic or rng.choice(ref.FEEDBACK_TOPICS),
        }
        if rng.random() < 0.6:
            data["comment"] = rng.choice(ref.FEEDBACK_COMMENTS[who.language][rating])
        if order_no:
            data["order_no"] = order_no
        events.append(
            PlannedEvent(
                EventKind.FEEDBACK,
                "survey",
                self._external_id("survey"),
                at,
                store_code=store_code,
                data=data,
            )
        )
