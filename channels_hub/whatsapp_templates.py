"""WhatsApp templates without I/O: reading Meta's description, checking parameters,
filling them in, and the ``template`` object of a send request.

Only body parameters are filled, numbered (``{{1}}``) or named (``{{first_name}}``,
Meta's ``parameter_format: NAMED``); values are given in the order of
:func:`parameter_names`. A template whose header or buttons need values of their own (a
media header, a dynamic URL, a one-time code) is kept but not sendable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from channels_hub.template_models import TemplateCategory, TemplateStatus, WhatsAppTemplate
from omniservice.errors import DomainError

PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
# Meta's rule for named parameters: lower-case letters, digits and underscores.
PARAMETER_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
PARAMETER_FORMATS = frozenset({"POSITIONAL", "NAMED"})
# Meta's limits: a body of at most 1,024 characters once filled in; a parameter without
# new lines or tabs and with at most four spaces in a row (error 132018).
MAX_BODY_CHARS = 1024
MAX_PARAMETER_CHARS = 1024
BAD_WHITESPACE = re.compile(r"[\n\r\t]| {5,}")
GRAPH_STATUSES = {
    "APPROVED": TemplateStatus.APPROVED,
    "PENDING": TemplateStatus.PENDING,
    "IN_APPEAL": TemplateStatus.PENDING,
    "REJECTED": TemplateStatus.REJECTED,
    "PAUSED": TemplateStatus.PAUSED,
    "DISABLED": TemplateStatus.DISABLED,
    "PENDING_DELETION": TemplateStatus.DISABLED,
    "DELETED": TemplateStatus.DISABLED,
    "ARCHIVED": TemplateStatus.DISABLED,
    "LIMIT_EXCEEDED": TemplateStatus.DISABLED,
}
GRAPH_CATEGORIES = {
    "MARKETING": TemplateCategory.MARKETING,
    "UTILITY": TemplateCategory.UTILITY,
    "TRANSACTIONAL": TemplateCategory.UTILITY,
    "AUTHENTICATION": TemplateCategory.AUTHENTICATION,
    "OTP": TemplateCategory.AUTHENTICATION,
}
# Buttons that need no parameter; any other kind (OTP, copy code, flows...) does.
STATIC_BUTTONS = frozenset({"QUICK_REPLY", "PHONE_NUMBER", "URL"})
# Carousels, limited-time offers and any later kind of component are left out.
KNOWN_COMPONENTS = frozenset({"HEADER", "BODY", "FOOTER", "BUTTONS"})
LANGUAGE_LABELS = {
    "zh_CN": gettext_lazy("Simplified Chinese"),
    "zh_HK": gettext_lazy("Chinese (Hong Kong)"),
    "zh_TW": gettext_lazy("Traditional Chinese"),
    "en": gettext_lazy("English"),
    "en_US": gettext_lazy("English (US)"),
    "en_GB": gettext_lazy("English (UK)"),
}


class TemplateRefused(DomainError):
    """A template reply that cannot be sent; ``code`` says why, before any provider call."""


@dataclass(frozen=True)
class TemplateData:
    """One template as Meta describes it, read into our fields."""

    name: str
    language: str
    status: str
    category: str
    body_text: str
    parameter_count: int
    supported: bool
    components: list[dict[str, Any]]
    provider_id: str


def template_from_graph(item: dict[str, Any]) -> TemplateData | None:
    """Meta's ``message_templates`` entry; ``None`` when it has no name or language."""
    name, language = str(item.get("name") or ""), str(item.get("language") or "")
    if not name or not language or len(name) > 512 or len(language) > 15:
        return None
    components = [c for c in item.get("components") or [] if isinstance(c, dict)]
    body = str(_component(components, "BODY").get("text") or "")
    count, numbered = parameter_count(body)
    return TemplateData(
        name=name,
        language=language,
        status=GRAPH_STATUSES.get(str(item.get("status", "")).upper(), TemplateStatus.PENDING),
        category=GRAPH_CATEGORIES.get(
            str(item.get("category", "")).upper(), TemplateCategory.OTHER
        ),
        body_text=body,
        parameter_count=count,
        supported=bool(body) and numbered and _only_body_parameters(item, components),
        components=components,
        provider_id=str(item.get("id") or "")[:64],
    )


def parameter_count(body: str) -> tuple[int, bool]:
    """How many parameters the body takes, and whether they are well formed: ``{{1}}``
    … ``{{n}}`` without a gap, or names only (never a mix)."""
    names = _placeholders(body)
    if names and not any(name.isdigit() for name in names):
        return len(names), all(PARAMETER_NAME.match(name) for name in names)
    if not all(name.isdigit() for name in names):
        return len(names), False  # numbers and names mixed
    numbers = {int(name) for name in names}
    return len(numbers), numbers == set(range(1, len(numbers) + 1))


def parameter_names(body: str) -> list[str]:
    """The placeholders in the order their values are given: ``1`` … ``n`` for
    numbered parameters, the names in order of first appearance for named ones."""
    names = _placeholders(body)
    if all(name.isdigit() for name in names):
        return [str(number) for number in range(1, len(names) + 1)]
    return names


def is_named(body: str) -> bool:
    names = _placeholders(body)
    return bool(names) and not any(name.isdigit() for name in names)


def _placeholders(body: str) -> list[str]:
    return list(dict.fromkeys(PLACEHOLDER.findall(body)))


def _component(components: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next((c for c in components if str(c.get("type", "")).upper() == kind), {})


def _only_body_parameters(item: dict[str, Any], components: list[dict[str, Any]]) -> bool:
    if str(item.get("parameter_format", "POSITIONAL")).upper() not in PARAMETER_FORMATS:
        return False
    if any(str(c.get("type", "")).upper() not in KNOWN_COMPONENTS for c in components):
        return False
    header = _component(components, "HEADER")
    if header and (
        str(header.get("format", "TEXT")).upper() != "TEXT"
        or PLACEHOLDER.search(str(header.get("text", "")))
    ):
        return False
    for button in _component(components, "BUTTONS").get("buttons") or []:
        kind = str(button.get("type", "")).upper()
        if kind not in STATIC_BUTTONS or PLACEHOLDER.search(str(button.get("url", ""))):
            return False
    return True


def check_parameters(template: WhatsAppTemplate, parameters: Sequence[str]) -> list[str]:
    """The cleaned parameters, or ``TemplateRefused`` saying what is wrong."""
    if template.status != TemplateStatus.APPROVED:
        raise TemplateRefused(
            _(
                "The template %(name)s (%(language)s) is not approved (status: %(status)s); "
                "only approved templates may be sent."
            ),
            code="template_not_approved",
            params={
                "name": template.name,
                "language": template.language,
                "status": template.get_status_display(),
            },
        )
    if not template.supported:
        raise TemplateRefused(
            _(
                "The template %(name)s needs header or button parameters, which "
                "omniservice cannot fill yet."
            ),
            code="template_unsupported",
            params={"name": template.name},
        )
    if len(parameters) != template.parameter_count:
        raise TemplateRefused(
            _("The template %(name)s takes %(expected)s parameters; %(given)s were given."),
            code="wrong_parameter_count",
            params={
                "name": template.name,
                "expected": template.parameter_count,
                "given": len(parameters),
            },
            fields={
                "parameters": [_("Give exactly %(n)s values.") % {"n": template.parameter_count}]
            },
        )
    names = parameter_names(template.body_text)
    cleaned = [
        _check_parameter(position, name, value)
        for position, (name, value) in enumerate(zip(names, parameters, strict=True), 1)
    ]
    if len(fill_body(template.body_text, cleaned)) > MAX_BODY_CHARS:
        raise TemplateRefused(
            _("Filled in, the template is longer than %(limit)s characters."),
            code="template_too_long",
            params={"limit": MAX_BODY_CHARS},
            fields={"parameters": [_("Shorten the values.")]},
        )
    return cleaned


def _check_parameter(position: int, name: str, value: str) -> str:
    text = str(value).strip()
    problem, code = "", ""
    if not text:
        problem, code = _("{{%(n)s}} is empty."), "parameter_empty"
    elif len(text) > MAX_PARAMETER_CHARS:
        problem, code = _("{{%(n)s}} is longer than 1,024 characters."), "parameter_too_long"
    elif BAD_WHITESPACE.search(text):
        problem = _(
            "{{%(n)s}} may not contain line breaks, tabs or more than four spaces in a row."
        )
        code = "parameter_invalid"
    if problem:
        message = problem % {"n": name}
        raise TemplateRefused(
            message, code=code, fields={"parameters": [message]}, extra={"parameter": position}
        )
    return text


def fill_body(body: str, parameters: Sequence[str]) -> str:
    """The body with its placeholders replaced in one pass (a value containing ``{{2}}``
    stays as typed); a placeholder without a value is left as it is."""
    values = dict(zip(parameter_names(body), parameters, strict=False))

    def value(match: re.Match[str]) -> str:
        return values.get(match.group(1), match.group(0))

    return PLACEHOLDER.sub(value, body)


def rendered_text(template: WhatsAppTemplate, parameters: Sequence[str]) -> str:
    """What the customer sees: the static header, the filled body and the footer."""
    header = _component(template.components, "HEADER")
    header_text = str(header.get("text") or "")
    if str(header.get("format", "TEXT")).upper() != "TEXT":
        header_text = ""
    parts = [
        header_text,
        fill_body(template.body_text, parameters),
        str(_component(template.components, "FOOTER").get("text") or ""),
    ]
    return "\n\n".join(part for part in parts if part.strip())


def template_payload(
    name: str, language: str, parameters: Sequence[str], *, body: str = ""
) -> dict[str, Any]:
    """The ``template`` object of a Cloud API send request; ``body``, the template's
    body text, tells whether its parameters go by name."""
    payload: dict[str, Any] = {"name": name, "language": {"code": language}}
    if parameters:
        names = parameter_names(body) if is_named(body) else []
        values: list[dict[str, str]] = [{"type": "text", "text": value} for value in parameters]
        for item, parameter_name in zip(values, names, strict=False):
            item["parameter_name"] = parameter_name
        payload["components"] = [{"type": "body", "parameters": values}]
    return payload


def language_label(code: str) -> str:
    """A language code as people read it (zh_CN → Simplified Chinese); else the code."""
    label = LANGUAGE_LABELS.get(code)
    return f"{label} · {code}" if label else code
