"""Render the neutral message vocabulary as Slack messages: mrkdwn, Block Kit, limits.

This is the one place Slack markup is written. Plain text is escaped here (``&``, ``<``
and ``>`` are Slack's control characters, so ``<!channel>`` typed by a member stays
text), formatting marks in it are neutralised, and only a mention span pings.

It is also the one place that knows Block Kit's limits: posts are fitted as they are
rendered, and every reply, modal and Home tab goes through :func:`fit_text`,
:func:`fit_blocks` and :func:`fit_view`, called by the kit in :mod:`bot.slack.front`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

from bot.messages import Bold, Button, Code, Italic, Link, Mention, Owned, Rich, Text
from bot.text import slack_escape

MAX_TEXT = 40_000  # chat.postMessage truncates text beyond this
MAX_SECTION_TEXT = 3000
MAX_BLOCKS = 50
MAX_ACTIONS = 25
MAX_ACTION_ID = 255
MAX_BUTTON_TEXT = 75
BUTTON_STYLES = frozenset({"primary", "danger"})
ELLIPSIS = "…"
MAX_VIEW_BLOCKS = 100  # a modal or a Home tab
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_BUTTON_VALUE = 2000
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_PLACEHOLDER = 150
MAX_INPUT_LABEL = 2000
MAX_HINT = 2000
MAX_INITIAL_VALUE = 3000
MAX_VIEW_TITLE = 24  # also the submit and close buttons
# A zero-width space before a formatting mark keeps Slack from reading it as markup.
_MARKS = re.compile(r"([*_~`])")


_QUOTE = re.compile(r"(?m)^(\s*)&gt;")


def plain(text: str) -> str:
    """Escape user text so Slack shows it literally and it can ping no one."""
    escaped = _QUOTE.sub("\\1\u200b&gt;", slack_escape(text))
    return _MARKS.sub("\u200b\\1", escaped)


def mrkdwn(body: Rich) -> str:
    """Return the body as Slack mrkdwn."""
    return fit("".join(_span(span) for span in body.spans), MAX_TEXT)


def _span(span: Any) -> str:
    if isinstance(span, Text):
        return plain(span.text)
    if isinstance(span, Code):
        return f"`{slack_escape(span.text).replace('`', 'ˋ')}`"
    if isinstance(span, Link):
        url = span.url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
        if span.label:
            label = slack_escape(span.label).replace("|", "¦")
            return f"<{url}|{label}>"
        return f"<{url}>"
    if isinstance(span, Mention):
        if span.user_id:
            return f"<@{span.user_id}>"
        return plain(span.fallback)
    inner = "".join(_span(child) for child in span.spans)
    if isinstance(span, Owned) or not inner.strip():
        return inner
    if isinstance(span, Bold):
        return f"*{inner}*"
    if isinstance(span, Italic):
        return f"_{inner}_"
    raise TypeError(f"unknown span {span!r}")


def fit(text: str, limit: int) -> str:
    """Cut text to ``limit`` characters, ending with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def sections(text: str) -> list[dict[str, Any]]:
    """Split mrkdwn text into section blocks, on line breaks where one is near the limit."""
    found: list[dict[str, Any]] = []
    rest = text.strip()
    while rest and len(found) < MAX_BLOCKS - 1:
        cut = len(rest)
        if cut > MAX_SECTION_TEXT:
            newline = rest.rfind("\n", 0, MAX_SECTION_TEXT)
            cut = newline if newline > 0 else MAX_SECTION_TEXT
        chunk, rest = rest[:cut], rest[cut:].lstrip("\n")
        found.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
    return found


def actions(buttons: tuple[Button, ...]) -> dict[str, Any]:
    """Return one actions block of the buttons."""
    elements: list[dict[str, Any]] = []
    for button in buttons[:MAX_ACTIONS]:
        action_id = button.id[:MAX_ACTION_ID]
        element: dict[str, Any] = {
            "type": "button",
            "text": {"type": "plain_text", "text": fit(button.label, MAX_BUTTON_TEXT)},
            "action_id": action_id,
            "value": action_id,
        }
        if button.style in BUTTON_STYLES:
            element["style"] = button.style
        elements.append(element)
    return {"type": "actions", "elements": elements}


def content(body: Rich, buttons: tuple[Button, ...], *, edit: bool = False) -> dict[str, Any]:
    """Return ``text`` (and ``blocks`` where buttons need them) for chat.postMessage/update.

    A message with blocks shows only them: the text goes into sections above the buttons
    and stays the notification fallback. An edit always states its blocks, so an edit
    without buttons removes them.
    """
    text = mrkdwn(body)
    result: dict[str, Any] = {"text": text}
    if buttons:
        result["blocks"] = [*sections(text), actions(buttons)]
    elif edit:
        result["blocks"] = sections(text)
    return result


# -- fitting what the kit sends -------------------------------------------------------------


def fit_text(text: str) -> str:
    """Fit a message's text (its notification fallback when it has blocks) to 40,000."""
    return fit(text, MAX_TEXT)


def _fit_object(text_object: Any, limit: int) -> None:
    if isinstance(text_object, dict) and isinstance(text_object.get("text"), str):
        text_object["text"] = fit(text_object["text"], limit)


def _fit_element(element: Any) -> None:
    if not isinstance(element, dict):
        return
    kind = element.get("type")
    if kind == "button":
        _fit_object(element.get("text"), MAX_BUTTON_TEXT)
        if isinstance(element.get("value"), str):
            element["value"] = element["value"][:MAX_BUTTON_VALUE]
    if isinstance(element.get("options"), list):
        options = element["options"][:MAX_OPTIONS]
        for option in options:
            if isinstance(option, dict):
                _fit_object(option.get("text"), MAX_OPTION_TEXT)
                if isinstance(option.get("value"), str):
                    option["value"] = option["value"][:MAX_OPTION_VALUE]
        element["options"] = options
    if kind == "plain_text_input" and isinstance(element.get("initial_value"), str):
        element["initial_value"] = fit(element["initial_value"], MAX_INITIAL_VALUE)
    _fit_object(element.get("placeholder"), MAX_PLACEHOLDER)
    if isinstance(element.get("action_id"), str):
        element["action_id"] = element["action_id"][:MAX_ACTION_ID]


def _fit_block(block: dict[str, Any]) -> None:
    kind = block.get("type")
    if kind == "section":
        _fit_object(block.get("text"), MAX_SECTION_TEXT)
        if isinstance(block.get("fields"), list):
            block["fields"] = block["fields"][:MAX_SECTION_FIELDS]
            for item in block["fields"]:
                _fit_object(item, MAX_FIELD_TEXT)
        _fit_element(block.get("accessory"))
    elif kind == "header":
        _fit_object(block.get("text"), MAX_HEADER_TEXT)
    elif kind == "context" and isinstance(block.get("elements"), list):
        block["elements"] = block["elements"][:MAX_CONTEXT_ELEMENTS]
        for item in block["elements"]:
            _fit_object(item, MAX_SECTION_TEXT)
    elif kind == "actions" and isinstance(block.get("elements"), list):
        block["elements"] = block["elements"][:MAX_ACTIONS]
        for item in block["elements"]:
            _fit_element(item)
    elif kind == "input":
        _fit_object(block.get("label"), MAX_INPUT_LABEL)
        _fit_object(block.get("hint"), MAX_HINT)
        _fit_element(block.get("element"))


def fit_blocks(
    blocks: Sequence[dict[str, Any]], *, limit: int = MAX_BLOCKS
) -> list[dict[str, Any]]:
    """Return a copy of the blocks fitted to Block Kit: at most ``limit``, each within its limits.

    Text is cut with an ellipsis; a list of blocks too long keeps its first ``limit``.
    """
    fitted = copy.deepcopy(list(blocks[:limit]))
    for block in fitted:
        _fit_block(block)
    return fitted


def fit_view(view: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a modal or Home tab view fitted to Block Kit's view limits."""
    fitted = dict(view)
    fitted["blocks"] = fit_blocks(view.get("blocks") or [], limit=MAX_VIEW_BLOCKS)
    for key in ("title", "submit", "close"):
        if isinstance(view.get(key), dict):
            fitted[key] = dict(view[key])
            _fit_object(fitted[key], MAX_VIEW_TITLE)
    return fitted
