"""Canned responses: templates with variables, and information-request checklists.

A template may use ``{customer_name}``, ``{agent_name}`` and ``{reference}``; anything else
in braces is refused when the template is saved, so an agent never sends a customer a raw
``{placeholder}``. A checklist's items follow the text as a numbered list, so one message
asks for everything needed instead of a question per reply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from string import Formatter

from bridge.errors import InvalidInput

VARIABLES = frozenset({"customer_name", "agent_name", "reference"})
MAX_BODY = 8000
MAX_ITEMS = 20
MAX_ITEM = 200


def check_template(name: str, body: str, checklist: Sequence[str]) -> None:
    if not name.strip() or len(name) > 200:
        raise InvalidInput("a template needs a name of at most 200 characters")
    if not body.strip() or len(body) > MAX_BODY:
        raise InvalidInput(f"a template needs a text of at most {MAX_BODY} characters")
    if len(checklist) > MAX_ITEMS or any(not i.strip() or len(i) > MAX_ITEM for i in checklist):
        raise InvalidInput(
            f"a checklist has at most {MAX_ITEMS} items of 1 to {MAX_ITEM} characters"
        )
    try:
        parsed = list(Formatter().parse(body))
    except ValueError as error:
        raise InvalidInput(f"the text has a lone brace ({error}); write {{{{ for {{") from None
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in VARIABLES or spec or conversion:
            allowed = " ".join(f"{{{v}}}" for v in sorted(VARIABLES))
            raise InvalidInput(f"unknown variable {{{field}}}: use {allowed}")


def fill(body: str, values: Mapping[str, str]) -> str:
    """The template's text with its variables filled in (checked when it was saved)."""
    try:
        return body.format_map({name: values.get(name, "") for name in VARIABLES})
    except (KeyError, ValueError, IndexError):
        return body  # saved before the checks existed: show it as written


def with_checklist(text: str, items: Sequence[str]) -> str:
    if not items:
        return text
    listed = "\n".join(f"{n}. {item}" for n, item in enumerate(items, 1))
    return f"{text.rstrip()}\n\n{listed}"
