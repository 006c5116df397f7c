"""What a rule can test: one ``ConditionField`` per field, evaluated on a ticket's ``Facts``.

Every condition is evaluated in Python against the ticket as it is when the rule runs.
Time rules also turn their conditions into a ``Q`` that preselects candidate tickets in
the database; that filter only narrows the search (a condition it cannot express leaves
it open), Python still decides.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customers.models import TIER_RANK, ValueTier
from omniservice.org.models import Store, Team
from tickets.models import (
    OPEN_STATUSES,
    PRIORITY_RANK,
    Channel,
    Direction,
    Message,
    Priority,
    Ticket,
    TicketStatus,
    TicketStatusChange,
)

# A target due within this window puts the ticket "at risk" (tickets.sla owns the targets).
SLA_AT_RISK_WINDOW = timedelta(hours=1)
# Share of CJK characters among letters from which a text counts as Chinese: a Chinese
# character carries about as much as a short English word, hence the low threshold.
CJK_SHARE_FOR_CHINESE = 0.2
CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LATIN_LETTER = re.compile("[A-Za-z]")
MAX_TEXT_VALUE = 500
MAX_HOURS = 24 * 365


class SlaState:
    NONE = "none"
    OK = "ok"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    CHOICES = [
        (NONE, pgettext_lazy("SLA state", "No target")),
        (OK, pgettext_lazy("SLA state", "On track")),
        (AT_RISK, pgettext_lazy("SLA state", "At risk")),
        (BREACHED, pgettext_lazy("SLA state", "Breached")),
    ]


LANGUAGE_CHOICES = [("zh-hans", _("Chinese")), ("en", _("English"))]

OPERATOR_LABELS: dict[str, Any] = {
    "is": pgettext_lazy("rule operator", "is"),
    "is_not": pgettext_lazy("rule operator", "is not"),
    "at_least": pgettext_lazy("rule operator", "is at least"),
    "contains": pgettext_lazy("rule operator", "contains any of"),
    "not_contains": pgettext_lazy("rule operator", "contains none of"),
    "has": pgettext_lazy("rule operator", "includes"),
    "has_not": pgettext_lazy("rule operator", "does not include"),
    "gt": pgettext_lazy("rule operator", "more than"),
    "lt": pgettext_lazy("rule operator", "less than"),
}


def detect_language(text: str) -> str:
    """``zh-hans`` or ``en`` from the share of CJK characters; ``""`` without letters."""
    cjk = len(CJK.findall(text or ""))
    latin = len(LATIN_LETTER.findall(text or ""))
    if cjk + latin == 0:
        return ""
    return "zh-hans" if cjk / (cjk + latin) >= CJK_SHARE_FOR_CHINESE else "en"


def split_terms(value: str) -> list[str]:
    """Comma-separated alternatives (also the Chinese commas), trimmed, lower-cased."""
    return [t.strip().lower() for t in re.split("[,\uff0c\u3001]", value or "") if t.strip()]


def sla_state(ticket: Ticket, now: datetime) -> str:
    """Derived from the due times tickets.sla keeps on the ticket."""
    dues = active_dues(ticket)
    if ticket.sla_breached_at is not None or any(due <= now for due in dues):
        return SlaState.BREACHED
    if not dues:
        return SlaState.NONE
    if any(due <= now + SLA_AT_RISK_WINDOW for due in dues):
        return SlaState.AT_RISK
    return SlaState.OK


def active_dues(ticket: Ticket) -> list[datetime]:
    dues = []
    if ticket.first_response_due_at and ticket.first_response_at is None:
        dues.append(ticket.first_response_due_at)
    if ticket.next_response_due_at:
        dues.append(ticket.next_response_due_at)
    if ticket.resolution_due_at and ticket.status in OPEN_STATUSES:
        dues.append(ticket.resolution_due_at)
    return dues


def _due_before(moment: datetime) -> Q:
    return (
        Q(first_response_at__isnull=True, first_response_due_at__lte=moment)
        | Q(next_response_due_at__lte=moment)
        | Q(status__in=OPEN_STATUSES, resolution_due_at__lte=moment)
    )


def _any_due() -> Q:
    return (
        Q(first_response_at__isnull=True, first_response_due_at__isnull=False)
        | Q(next_response_due_at__isnull=False)
        | Q(status__in=OPEN_STATUSES, resolution_due_at__isnull=False)
    )


def sla_state_q(state: str, now: datetime) -> Q:
    breached = Q(sla_breached_at__isnull=False) | _due_before(now)
    at_risk = ~breached & _due_before(now + SLA_AT_RISK_WINDOW)
    if state == SlaState.BREACHED:
        return breached
    if state == SlaState.AT_RISK:
        return at_risk
    if state == SlaState.OK:
        return ~breached & ~at_risk & _any_due()
    return ~breached & ~_any_due()


def with_status_since(queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """Annotate when each ticket entered its current status."""
    latest = (
        TicketStatusChange.objects.filter(ticket=OuterRef("pk"))
        .order_by("-changed_at", "-id")
        .values("changed_at")[:1]
    )
    return queryset.annotate(status_since=Coalesce(Subquery(latest), F("created_at")))


class Facts:
    """What conditions look at: the ticket, the message of the event, the time."""

    def __init__(self, ticket: Ticket, *, message: Message | None, now: datetime) -> None:
        self.ticket = ticket
        self.message = message
        self.now = now

    @cached_property
    def text(self) -> str:
        message = self.message
        if message is None or message.direction != Direction.INBOUND:
            message = (
                self.ticket.messages.filter(direction=Direction.INBOUND)
                .order_by("-created_at", "-id")
                .first()
            )
        return message.body_text if message else ""

    @cached_property
    def language(self) -> str:
        return detect_language(self.text)

    @cached_property
    def channel(self) -> str:
        if self.message is not None and self.message.direction == Direction.INBOUND:
            return self.message.channel
        return self.ticket.last_channel or self.ticket.origin_channel

    @cached_property
    def tags(self) -> set[str]:
        return {name.lower() for name in self.ticket.tags.values_list("name", flat=True)}

    @cached_property
    def status_since(self) -> datetime:
        annotated = getattr(self.ticket, "status_since", None)
        if annotated is not None:
            return annotated
        change = self.ticket.status_changes.order_by("-changed_at", "-id").first()
        return change.changed_at if change else self.ticket.created_at

    @cached_property
    def sla_state(self) -> str:
        return sla_state(self.ticket, self.now)

    def hours_since(self, moment: datetime | None) -> float:
        return (self.now - moment).total_seconds() / 3600 if moment else 0.0


@dataclass(frozen=True)
class ConditionField:
    name: str
    label: Any
    operators: tuple[str, ...]
    value_kind: str  # "choice", "text", "number", "model"
    get: Callable[[Facts], Any]
    choices: Callable[[], list[tuple[str, Any]]] | None = None
    q: Callable[[str, Any, datetime], Q | None] | None = None
    rank: dict[str, int] | None = None


def _compare(field: ConditionField, operator: str, actual: Any, value: Any) -> bool:
    if operator == "is":
        return actual == value
    if operator == "is_not":
        return actual != value
    if operator == "at_least":
        assert field.rank is not None
        return field.rank.get(actual, -1) >= field.rank[value]
    if operator in ("contains", "not_contains"):
        text = (actual or "").lower()
        found = any(term in text for term in split_terms(value))
        return found if operator == "contains" else not found
    if operator in ("has", "has_not"):
        found = value.strip().lower() in actual
        return found if operator == "has" else not found
    if operator == "gt":
        return actual > value
    if operator == "lt":
        return actual < value
    raise ValueError(f"unknown operator {operator!r}")


def _choice_q(column: str, rank: dict[str, int] | None = None) -> Callable[..., Q | None]:
    def build(operator: str, value: Any, now: datetime) -> Q | None:
        if operator == "is":
            return Q(**{column: value})
        if operator == "is_not":
            return ~Q(**{column: value})
        if operator == "at_least" and rank is not None:
            return Q(**{f"{column}__in": [v for v, r in rank.items() if r >= rank[value]]})
        return None

    return build


def _fk_q(column: str) -> Callable[..., Q | None]:
    def build(operator: str, value: Any, now: datetime) -> Q | None:
        match = Q(**{f"{column}__isnull": True}) if value is None else Q(**{column: value})
        return match if operator == "is" else ~match

    return build


def _hours_q(column: str) -> Callable[..., Q | None]:
    def build(operator: str, value: Any, now: datetime) -> Q | None:
        edge = now - timedelta(hours=value)
        return Q(**{f"{column}__lt": edge}) if operator == "gt" else Q(**{f"{column}__gt": edge})

    return build


def _channel_q(operator: str, value: Any, now: datetime) -> Q | None:
    """The channel the customer used last, else the one the ticket came in on (as Facts)."""
    match = Q(last_channel=value) | Q(last_channel="", origin_channel=value)
    return match if operator == "is" else ~match


def _tag_q(operator: str, value: Any, now: datetime) -> Q | None:
    match = Q(
        pk__in=Ticket.tags.through.objects.filter(tickettag__name__iexact=value.strip()).values(
            "ticket_id"
        )
    )
    return match if operator == "has" else ~match


def _model_choices(model: Any, label: Callable[[Any], str]) -> Callable[[], list]:
    def choices() -> list[tuple[str, Any]]:
        none = [("", pgettext_lazy("rule value", "(none)"))]
        return none + [(str(obj.pk), label(obj)) for obj in model.objects.order_by("pk")[:500]]

    return choices


FIELDS: dict[str, ConditionField] = {
    f.name: f
    for f in [
        ConditionField(
            "channel",
            _("Channel"),
            ("is", "is_not"),
            "choice",
            lambda facts: facts.channel,
            choices=lambda: Channel.choices,
            q=_channel_q,
        ),
        ConditionField(
            "message_text",
            _("Customer's message text"),
            ("contains", "not_contains"),
            "text",
            lambda facts: facts.text,
        ),
        ConditionField(
            "message_language",
            _("Customer's message language"),
            ("is", "is_not"),
            "choice",
            lambda facts: facts.language,
            choices=lambda: LANGUAGE_CHOICES,
        ),
        ConditionField(
            "customer_tier",
            _("Customer value tier"),
            ("is", "is_not", "at_least"),
            "choice",
            lambda facts: facts.ticket.customer.tier,
            choices=lambda: ValueTier.choices,
            q=_choice_q("customer__tier", TIER_RANK),
            rank=TIER_RANK,
        ),
        ConditionField(
            "tag", _("Ticket tags"), ("has", "has_not"), "text", lambda facts: facts.tags, q=_tag_q
        ),
        ConditionField(
            "store",
            _("Store"),
            ("is", "is_not"),
            "model",
            lambda facts: facts.ticket.store_id,
            choices=_model_choices(Store, lambda s: f"{s.name} ({s.code})"),
            q=_fk_q("store_id"),
        ),
        ConditionField(
            "status",
            _("Status"),
            ("is", "is_not"),
            "choice",
            lambda facts: facts.ticket.status,
            choices=lambda: TicketStatus.choices,
            q=_choice_q("status"),
        ),
        ConditionField(
            "priority",
            _("Priority"),
            ("is", "is_not", "at_least"),
            "choice",
            lambda facts: facts.ticket.priority,
            choices=lambda: Priority.choices,
            q=_choice_q("priority", PRIORITY_RANK),
            rank=PRIORITY_RANK,
        ),
        ConditionField(
            "team",
            _("Team"),
            ("is", "is_not"),
            "model",
            lambda facts: facts.ticket.team_id,
            choices=_model_choices(Team, lambda t: t.name),
            q=_fk_q("team_id"),
        ),
        ConditionField(
            "hours_since_update",
            _("Hours since last update"),
            ("gt", "lt"),
            "number",
            lambda facts: facts.hours_since(facts.ticket.updated_at),
            q=_hours_q("updated_at"),
        ),
        ConditionField(
            "hours_in_status",
            _("Hours in the current status"),
            ("gt", "lt"),
            "number",
            lambda facts: facts.hours_since(facts.status_since),
            q=_hours_q("status_since"),
        ),
        ConditionField(
            "sla_state",
            _("SLA state"),
            ("is", "is_not"),
            "choice",
            lambda facts: facts.sla_state,
            choices=lambda: SlaState.CHOICES,
            q=lambda op, v, now: sla_state_q(v, now) if op == "is" else ~sla_state_q(v, now),
        ),
    ]
}


def clean_condition(row: dict[str, Any]) -> dict[str, Any]:
    """A stored condition row, with its value typed; raises ValueError with a message."""
    field = FIELDS.get(row.get("field", ""))
    if field is None:
        raise ValueError(_("Choose a field."))
    operator = row.get("operator", "")
    if operator not in field.operators:
        raise ValueError(
            _("“%(operator)s” does not apply to %(field)s.")
            % {"operator": OPERATOR_LABELS.get(operator, operator), "field": field.label}
        )
    raw = row.get("value")
    raw = "" if raw is None else str(raw).strip()
    value: Any
    if field.value_kind == "number":
        try:
            value = float(raw.replace(",", "."))
        except ValueError:
            raise ValueError(_("Enter a number of hours.")) from None
        if not 0 <= value <= MAX_HOURS:
            raise ValueError(_("Enter between 0 and 8760 hours."))
        value = int(value) if value == int(value) else value
    elif field.value_kind == "model":
        if raw == "":
            value = None
        else:
            if raw not in {v for v, _label in field.choices()}:
                raise ValueError(_("Choose one of the listed values."))
            value = int(raw)
    elif field.value_kind == "choice":
        if raw not in {v for v, _label in field.choices()}:
            raise ValueError(_("Choose one of the listed values."))
        value = raw
    else:
        if not raw:
            raise ValueError(_("Enter the text to look for."))
        if len(raw) > MAX_TEXT_VALUE:
            raise ValueError(_("Keep the text under 500 characters."))
        value = raw
    return {"field": field.name, "operator": operator, "value": value}


def describe_condition(row: dict[str, Any], labels: dict[str, dict] | None = None) -> str:
    """ "Customer value tier is at least Gold" for the rule list and page.

    ``labels`` caches each field's choices across calls, so a page listing many rules
    looks up the stores and teams once, not once per row.
    """
    field = FIELDS.get(row.get("field", ""))
    if field is None:
        return str(row)
    value = row.get("value")
    if field.choices is not None:
        cache = {} if labels is None else labels
        key = f"condition:{field.name}"
        if key not in cache:
            cache[key] = {str(v): label for v, label in field.choices()}
        value = cache[key].get("" if value is None else str(value), value)
    elif field.value_kind == "number":
        value = _("%(hours)s h") % {"hours": value}
    else:
        value = f"“{value}”"
    return f"{field.label} {OPERATOR_LABELS.get(row.get('operator'), row.get('operator'))} {value}"


def condition_holds(row: dict[str, Any], facts: Facts) -> bool:
    field = FIELDS[row["field"]]
    value = row["value"]
    if field.value_kind == "model" and value is not None:
        value = int(value)
    return _compare(field, row["operator"], field.get(facts), value)


def rule_matches(match: str, conditions: list[dict[str, Any]], facts: Facts) -> bool:
    """``all``: every condition holds (none = always); ``any``: at least one holds."""
    if not conditions:
        return True
    results = (condition_holds(row, facts) for row in conditions)
    return all(results) if match == "all" else any(results)


def prefilter(match: str, conditions: list[dict[str, Any]], now: datetime) -> Q:
    """A Q selecting at least every ticket the conditions may match (time rules)."""
    parts = []
    for row in conditions:
        field = FIELDS.get(row["field"])
        built = field.q(row["operator"], row["value"], now) if field and field.q else None
        if built is None:
            if match == "any":
                return Q()
            continue
        parts.append(built)
    if not parts:
        return Q()
    combined = parts[0]
    for part in parts[1:]:
        combined = combined & part if match == "all" else combined | part
    return combined
