"""Render the neutral message vocabulary as Slack messages: mrkdwn, Block Kit, limits.

This is the one place Slack markup is written. Plain text is escaped here (``&``, ``<``
and ``>`` are Slack's control characters, so ``<!channel>`` typed by a member stays
text), formatting marks in it are neutralised, and only a mention span pings.
"""

from __future__ import annotations

import re
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
