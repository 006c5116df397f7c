"""WhatsApp templates without I/O: reading Meta's description, checking parameters,
filling them in, and the ``template`` object of a send request.

Text parameters are filled, numbered (``{{1}}``) or named (``{{first_name}}``, Meta's
``parameter_format: NAMED``): the one of a text header, the body's, and the dynamic end
of URL buttons (``https://shop.cn/track/{{1}}``). Values are given in the order of
:func:`template_slots` (header, body, buttons). A template that needs anything else (a
media header, a one-time code, a flow) is kept but not sendable.
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
MAX_HEADER_CHARS = 60
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
    _count, well_formed = parameter_count(body)
    return TemplateData(
        name=name,
        language=language,
        status=GRAPH_STATUSES.get(str(item.get("status", "")).upper(), TemplateStatus.PENDING),
        category=GRAPH_CATEGORIES.get(
            str(item.get("category", "")).upper(), TemplateCategory.OTHER
        ),
        body_text=body,
        parameter_count=len(template_slots(components)),
        supported=bool(body) and well_formed and _fillable(item, components),
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


def _placeholders(body: str) -> list[str]:
    return list(dict.fromkeys(PLACEHOLDER.findall(body)))


@dataclass(frozen=True)
class Slot:
    """One value a template needs: a placeholder of its text header or of its body, or
    the dynamic end of a URL button (``button`` is then the button's position)."""

    part: str  # "header", "body" or "button"
    key: str  # the placeholder: "1" … "n", or a name
    button: int = -1
    button_text: str = ""


def template_slots(components: list[dict[str, Any]]) -> list[Slot]:
    """Every value the template takes, in the order they are given: the text header's,
    the body's, then each URL button's."""
    slots = [Slot("header", key) for key in parameter_names(_header_text(components))]
    slots += [Slot("body", key) for key in parameter_names(_body_text(components))]
    for index, button in enumerate(_buttons(components)):
        if str(button.get("type", "")).upper() == "URL":
            text = str(button.get("text") or "")
            for key in parameter_names(str(button.get("url") or "")):
                slots.append(Slot("button", key, index, text))
    return slots


def _header_text(components: list[dict[str, Any]]) -> str:
    header = _component(components, "HEADER")
    if str(header.get("format", "TEXT")).upper() != "TEXT":
        return ""
    return str(header.get("text") or "")


def _body_text(components: list[dict[str, Any]]) -> str:
    return str(_component(components, "BODY").get("text") or "")


def _buttons(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    buttons = _component(components, "BUTTONS").get("buttons") or []
    return [b for b in buttons if isinstance(b, dict)]


def _component(components: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next((c for c in components if str(c.get("type", "")).upper() == kind), {})


def _fillable(item: dict[str, Any], components: list[dict[str, Any]]) -> bool:
    """Whether every value the template needs is a text omniservice can fill."""
    if str(item.get("parameter_format", "POSITIONAL")).upper() not in PARAMETER_FORMATS:
        return False
    if any(str(c.get("type", "")).upper() not in KNOWN_COMPONENTS for c in components):
        return False
    header = _component(components, "HEADER")
    if header:
        text = str(header.get("text") or "")
        count, well_formed = parameter_count(text)
        if str(header.get("format", "TEXT")).upper() != "TEXT" or count > 1 or not well_formed:
            return False  # a media header, or more than the one variable Meta allows
    for button in _buttons(components):
        kind, url = str(button.get("type", "")).upper(), str(button.get("url") or "")
        if kind not in STATIC_BUTTONS:
            return False
        count, well_formed = parameter_count(url)
        if count > 1 or not well_formed or (count and not url.rstrip().endswith("}}")):
            return False  # Meta takes one variable, at the end of the URL
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
                "The template %(name)s needs values omniservice cannot fill yet (a media "
                "header, a one-time code or a flow)."
            ),
            code="template_unsupported",
            params={"name": template.name},
        )
    slots = template_slots(template.components)
    if len(parameters) != len(slots):
        raise TemplateRefused(
            _("The template %(name)s takes %(expected)s parameters; %(given)s were given."),
            code="wrong_parameter_count",
            params={"name": template.name, "expected": len(slots), "given": len(parameters)},
            fields={"parameters": [_("Give exactly %(n)s values.") % {"n": len(slots)}]},
        )
    cleaned = [
        _check_parameter(position, slot_label(slot), value)
        for position, (slot, value) in enumerate(zip(slots, parameters, strict=True), 1)
    ]
    values, texts = _values_by_part(slots, cleaned), text_parts(template)
    limits = (
        ("body", MAX_BODY_CHARS, _("Filled in, the template is longer than %(limit)s characters.")),
        (
            "header",
            MAX_HEADER_CHARS,
            _("Filled in, the header is longer than %(limit)s characters."),
        ),
    )
    for part, limit, too_long in limits:
        if len(fill_body(texts[part], values[part])) > limit:
            hint = _("Shorten the values.") if part == "body" else _("Shorten the header's value.")
            raise TemplateRefused(
                too_long,
                code="template_too_long",
                params={"limit": limit},
                fields={"parameters": [hint]},
            )
    return cleaned


def slot_label(slot: Slot) -> str:
    """How the reply box and the refusals name a value: ``{{1}}`` in the body, the
    header's ``{{1}}``, a button's ``{{1}}``."""
    placeholder = "{{%s}}" % slot.key  # noqa: UP031 - braces are the text
    if slot.part == "header":
        return _("Header %(placeholder)s") % {"placeholder": placeholder}
    if slot.part == "button":
        return _('Button "%(text)s" %(placeholder)s') % {
            "text": slot.button_text,
            "placeholder": placeholder,
        }
    return placeholder


def _values_by_part(slots: Sequence[Slot], parameters: Sequence[str]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {"header": [], "body": []}
    for slot, value in zip(slots, parameters, strict=False):
        if slot.part in values:
            values[slot.part].append(value)
    return values


def _check_parameter(position: int, name: str, value: str) -> str:
    text = str(value).strip()
    problem, code = "", ""
    if not text:
        problem, code = _("%(parameter)s is empty."), "parameter_empty"
    elif len(text) > MAX_PARAMETER_CHARS:
        problem = _("%(parameter)s is longer than 1,024 characters.")
        code = "parameter_too_long"
    elif BAD_WHITESPACE.search(text):
        problem = _(
            "%(parameter)s may not contain line breaks, tabs or more than four spaces in a row."
        )
        code = "parameter_invalid"
    if problem:
        message = problem % {"parameter": name}
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


def text_parts(template: WhatsAppTemplate) -> dict[str, str]:
    """The texts a customer reads, placeholders unfilled: header, body, footer."""
    components = template.components
    return {
        "header": _header_text(components),
        "body": _body_text(components) or template.body_text,
        "footer": str(_component(components, "FOOTER").get("text") or ""),
    }


def rendered_text(template: WhatsAppTemplate, parameters: Sequence[str]) -> str:
    """What the customer sees: the header and the body filled in, and the footer (a URL
    button's address is not part of the text)."""
    texts = text_parts(template)
    values = _values_by_part(template_slots(template.components), parameters)
    parts = [
        fill_body(texts["header"], values["header"]),
        fill_body(texts["body"], values["body"]),
        texts["footer"],
    ]
    return "\n\n".join(part for part in parts if part.strip())


def template_payload(
    name: str, language: str, parameters: Sequence[str], *, components: list[dict[str, Any]]
) -> dict[str, Any]:
    """The ``template`` object of a Cloud API send request; ``components``, the
    template's description, says where each value goes (named ones carry their name)."""
    payload: dict[str, Any] = {"name": name, "language": {"code": language}}
    sent: list[dict[str, Any]] = []
    slots = template_slots(components)
    for part in ("header", "body"):
        values = [
            _text_parameter(slot, value)
            for slot, value in zip(slots, parameters, strict=False)
            if slot.part == part
        ]
        if values:
            sent.append({"type": part, "parameters": values})
    for slot, value in zip(slots, parameters, strict=False):
        if slot.part == "button":
            sent.append(
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": str(slot.button),
                    "parameters": [{"type": "text", "text": value}],
                }
            )
    if sent:
        payload["components"] = sent
    return payload


def _text_parameter(slot: Slot, value: str) -> dict[str, str]:
    parameter = {"type": "text", "text": value}
    if not slot.key.isdigit():
        parameter["parameter_name"] = slot.key
    return parameter


def language_label(code: str) -> str:
    """A language code as people read it (zh_CN → Simplified Chinese); else the code."""
    label = LANGUAGE_LABELS.get(code)
    return f"{label} · {code}" if label else code
