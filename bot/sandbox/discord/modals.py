"""Modals: what Discord refuses in a modal a bot opens, and what it sends when one is submitted.

A modal holds at most five top-level components: action rows of text inputs (the older form),
labels (type 18) wrapping one input, and text displays (type 10). A label wraps a text input (4),
a select (3, 5-8), a file upload (19), a radio group (21), a checkbox group (22) or a checkbox
(23). Discord refuses anything over its limits with 400 / 50035 before the modal opens.

A submission mirrors the modal's layout: each answered component in its row or label, carrying
the ``id`` Discord numbered it with. A text input sends ``value``, a radio group ``value`` (the
chosen option's value, or null), a file upload ``values`` (attachment ids) with the attachments
themselves in ``data.resolved.attachments``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Final

from bot.sandbox.discord.state import DiscordState
from bot.sandbox.discord.wire import (
    MAX_CUSTOM_ID,
    MAX_ROWS,
    ApiError,
    check_component,
    invalid_form,
    too_long,
)

ACTION_ROW: Final = 1
TEXT_INPUT: Final = 4
TEXT_DISPLAY: Final = 10
LABEL: Final = 18
FILE_UPLOAD: Final = 19
RADIO_GROUP: Final = 21
CHECKBOX_GROUP: Final = 22
CHECKBOX: Final = 23
SELECTS: Final = frozenset({3, 5, 6, 7, 8})
LABELLED: Final = frozenset({TEXT_INPUT, FILE_UPLOAD, RADIO_GROUP, CHECKBOX_GROUP, CHECKBOX})

# A 45-character title; labels 45, descriptions and placeholders 100, text values 4,000.
MAX_MODAL_TITLE: Final = 45
MAX_INPUT_LABEL: Final = 45
MAX_INPUT_PLACEHOLDER: Final = 100
MAX_DESCRIPTION: Final = 100
MAX_INPUT_VALUE: Final = 4000
MAX_TEXT_DISPLAY: Final = 4000
# File uploads take 0 to 10 files (at least 1 as the most); radio groups 2 to 10 options,
# checkbox groups 1 to 10; option labels, values and descriptions 100 characters.
MAX_FILES: Final = 10
MIN_RADIO_OPTIONS: Final = 2
MAX_GROUP_OPTIONS: Final = 10
MAX_OPTION_TEXT: Final = 100

# What a submission may carry per custom id: a text (a text input, a radio group's value) or
# attachments (their ids, or the objects add_upload returned) for a file upload.
FieldValue = str | Sequence[str | Mapping[str, Any]] | None


# --------------------------------------------------------------------------- validation


def _bad_length(where: str, low: int, high: int) -> ApiError:
    return invalid_form(
        where, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length."
    )


def _between(where: str, value: Any, low: int, high: int) -> None:
    """Refuse a number outside [low, high] (None means the default, which fits)."""
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid_form(where, "NUMBER_TYPE_COERCE", "Value is not int.")
    if value < low:
        raise invalid_form(where, "NUMBER_TYPE_MIN", f"Must be greater than or equal to {low}.")
    if value > high:
        raise invalid_form(where, "NUMBER_TYPE_MAX", f"Must be less than or equal to {high}.")


def _custom_id(where: str, component: dict[str, Any]) -> None:
    custom_id = component.get("custom_id")
    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
        raise _bad_length(f"{where}.custom_id", 1, MAX_CUSTOM_ID)


def _check_text_input(where: str, component: dict[str, Any], *, labelled: bool) -> None:
    if not labelled:
        too_long(f"{where}.label", component.get("label"), MAX_INPUT_LABEL)
    too_long(f"{where}.placeholder", component.get("placeholder"), MAX_INPUT_PLACEHOLDER)
    value = component.get("value")
    too_long(f"{where}.value", value, MAX_INPUT_VALUE)
    longest = component.get("max_length")
    if value is not None and isinstance(longest, int) and len(str(value)) > longest:
        raise invalid_form(
            f"{where}.value", "BASE_TYPE_MAX_LENGTH", f"Must be {longest} or fewer in length."
        )
    custom_id = component.get("custom_id")
    if custom_id is not None and not 1 <= len(str(custom_id)) <= MAX_CUSTOM_ID:
        raise _bad_length(f"{where}.custom_id", 1, MAX_CUSTOM_ID)


def _check_file_upload(where: str, component: dict[str, Any]) -> None:
    _custom_id(where, component)
    low, high = component.get("min_values"), component.get("max_values")
    _between(f"{where}.min_values", low, 0, MAX_FILES)
    _between(f"{where}.max_values", high, 1, MAX_FILES)
    if (1 if low is None else low) > (1 if high is None else high):
        raise invalid_form(
            f"{where}.min_values", "NUMBER_TYPE_MAX", "min_values must not exceed max_values."
        )


def _check_options(where: str, component: dict[str, Any], low: int) -> None:
    options = component.get("options")
    if not isinstance(options, list) or not low <= len(options) <= MAX_GROUP_OPTIONS:
        raise _bad_length(f"{where}.options", low, MAX_GROUP_OPTIONS)
    defaults = 0
    for number, option in enumerate(options):
        at = f"{where}.options.{number}"
        if not isinstance(option, dict):
            raise invalid_form(
                at, "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType"
            )
        for key in ("label", "value"):
            text = option.get(key)
            if not isinstance(text, str) or not 1 <= len(text) <= MAX_OPTION_TEXT:
                raise _bad_length(f"{at}.{key}", 1, MAX_OPTION_TEXT)
        too_long(f"{at}.description", option.get("description"), MAX_OPTION_TEXT)
        defaults += bool(option.get("default"))
    if component.get("type") == RADIO_GROUP and defaults > 1:
        raise invalid_form(
            f"{where}.options", "COMPONENT_RADIO_GROUP_MULTIPLE_DEFAULTS", "Only one default."
        )


def _check_labelled(where: str, inner: Any) -> None:
    """Refuse the component a label wraps when Discord would."""
    if not isinstance(inner, dict):
        raise invalid_form(where, "BASE_TYPE_REQUIRED", "This field is required")
    kind = inner.get("type")
    if kind == TEXT_INPUT:
        _check_text_input(where, inner, labelled=True)
    elif kind == FILE_UPLOAD:
        _check_file_upload(where, inner)
    elif kind == RADIO_GROUP:
        _custom_id(where, inner)
        _check_options(where, inner, MIN_RADIO_OPTIONS)
    elif kind == CHECKBOX_GROUP:
        _custom_id(where, inner)
        _check_options(where, inner, 1)
        _between(f"{where}.min_values", inner.get("min_values"), 0, MAX_GROUP_OPTIONS)
        _between(f"{where}.max_values", inner.get("max_values"), 1, MAX_GROUP_OPTIONS)
    elif kind == CHECKBOX:
        _custom_id(where, inner)
    elif kind in SELECTS:
        _custom_id(where, inner)
        check_component(where, inner)
    else:
        raise invalid_form(
            f"{where}.type", "UNION_TYPE_CHOICES", "This component type is not allowed in a label."
        )


def validate_modal(data: dict[str, Any]) -> None:
    """Refuse a modal Discord would refuse: title, custom id, components and their limits."""
    title = data.get("title")
    if not isinstance(title, str) or not 1 <= len(title) <= MAX_MODAL_TITLE:
        raise _bad_length("data.title", 1, MAX_MODAL_TITLE)
    custom_id = data.get("custom_id")
    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
        raise _bad_length("data.custom_id", 1, MAX_CUSTOM_ID)
    components = data.get("components") or []
    if not isinstance(components, list) or not 1 <= len(components) <= MAX_ROWS:
        raise _bad_length("data.components", 1, MAX_ROWS)
    for index, top in enumerate(components):
        where = f"data.components.{index}"
        top = top if isinstance(top, dict) else {}
        kind = top.get("type")
        if kind == ACTION_ROW:
            for number, component in enumerate(top.get("components") or []):
                if isinstance(component, dict):
                    _check_text_input(f"{where}.components.{number}", component, labelled=False)
        elif kind == LABEL:
            # A label carries the label; the component it wraps has none of its own.
            label = top.get("label")
            if not isinstance(label, str) or not 1 <= len(label) <= MAX_INPUT_LABEL:
                raise _bad_length(f"{where}.label", 1, MAX_INPUT_LABEL)
            too_long(f"{where}.description", top.get("description"), MAX_DESCRIPTION)
            _check_labelled(f"{where}.component", top.get("component"))
        elif kind == TEXT_DISPLAY:
            too_long(f"{where}.content", top.get("content"), MAX_TEXT_DISPLAY)
        else:
            raise invalid_form(
                f"{where}.type",
                "UNION_TYPE_CHOICES",
                "This component type is not allowed in a modal.",
            )


# --------------------------------------------------------------------------- submission


class _Answer:
    """Fills one submission from the fields a test gave, numbering components as Discord does."""

    def __init__(self, state: DiscordState, fields: Mapping[str, FieldValue]) -> None:
        self.state = state
        self.fields = fields
        self.attachments: dict[str, dict[str, Any]] = {}
        self._next_id = 0

    def number(self, component: dict[str, Any]) -> int:
        self._next_id += 1
        declared = component.get("id")
        return declared if isinstance(declared, int) else self._next_id

    def component(self, component: dict[str, Any]) -> dict[str, Any] | None:
        kind, custom_id = component.get("type"), component.get("custom_id")
        number = self.number(component)
        if custom_id is None:
            return None
        given = self.fields.get(custom_id)
        answer: dict[str, Any] = {"type": kind, "id": number, "custom_id": custom_id}
        if kind == TEXT_INPUT:
            answer["value"] = given if isinstance(given, str) else ""
        elif kind == RADIO_GROUP:
            answer["value"] = self.radio(component, given)
        elif kind == FILE_UPLOAD:
            answer["values"] = self.files(component, given)
        else:
            return None
        return answer

    def radio(self, component: dict[str, Any], given: FieldValue) -> str | None:
        listed = [str(o.get("value")) for o in component.get("options") or []]
        if given is None and not component.get("required", True):
            return None
        if not isinstance(given, str) or given not in listed:
            raise ValueError(
                f"radio group {component.get('custom_id')!r} offers {listed}, not {given!r}: "
                "Discord only sends a listed value"
            )
        return given

    def files(self, component: dict[str, Any], given: FieldValue) -> list[str]:
        if given is None:
            items: Sequence[str | Mapping[str, Any]] = []
        elif isinstance(given, str):
            items = [given]
        else:
            items = given
        ids = []
        for item in items:
            if isinstance(item, Mapping):
                attachment = copy.deepcopy(dict(item))
            else:
                stored = self.state.uploads.get(str(item))
                if stored is None:
                    raise ValueError(f"unknown attachment {item!r}: upload it with add_upload()")
                attachment = copy.deepcopy(stored)
            self.attachments[str(attachment["id"])] = attachment
            ids.append(str(attachment["id"]))
        low = component.get("min_values")
        high = component.get("max_values")
        low, high = (1 if low is None else low), (1 if high is None else high)
        required = component.get("required", True)
        allowed = (
            (max(low, 1) <= len(ids) <= high) if required else (not ids or low <= len(ids) <= high)
        )
        if not allowed:
            raise ValueError(
                f"file upload {component.get('custom_id')!r} takes {low} to {high} files "
                f"({'required' if required else 'optional'}), not {len(ids)}"
            )
        return ids


def modal_answer(
    state: DiscordState, modal: dict[str, Any], fields: Mapping[str, FieldValue]
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Mirror the layout of a modal the bot sent, filled from fields; return the attachments too."""
    answer = _Answer(state, fields)
    components: list[dict[str, Any]] = []
    for top in modal.get("components") or []:
        kind = top.get("type")
        if kind == ACTION_ROW:
            number = answer.number(top)
            inner = [a for c in top.get("components") or [] if (a := answer.component(c))]
            if inner:
                components.append({"type": ACTION_ROW, "id": number, "components": inner})
        elif kind == LABEL:
            number = answer.number(top)
            if (a := answer.component(top.get("component") or {})) is not None:
                components.append({"type": LABEL, "id": number, "component": a})
        else:
            answer.number(top)
    return components, answer.attachments


def plain_answer(
    state: DiscordState, fields: Mapping[str, FieldValue]
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Answer a modal the sandbox never saw: text in action rows, files in labelled uploads."""
    answer = _Answer(state, fields)
    components: list[dict[str, Any]] = []
    for key, value in fields.items():
        if isinstance(value, str):
            text = {"type": TEXT_INPUT, "custom_id": key}
            components.append({"type": ACTION_ROW, "components": [answer.component(text)]})
        elif value is not None:
            upload = {"type": FILE_UPLOAD, "custom_id": key, "min_values": 0, "max_values": 10}
            components.append({"type": LABEL, "component": answer.component(upload)})
    return components, answer.attachments
