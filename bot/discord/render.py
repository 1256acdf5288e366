"""Render the neutral message vocabulary as Discord messages: markdown, components, limits.

This is the one place Discord markup is written. Plain text is escaped here, mentions
become ``<@id>`` and are the only ones ``allowed_mentions`` lets ping.
"""

from __future__ import annotations

from typing import Any

from bot.messages import Bold, Button, Code, Italic, Link, Mention, Owned, Rich, Text
from bot.text import discord_escape

MAX_CONTENT = 2000
MAX_BUTTONS_PER_ROW = 5
MAX_ROWS = 5
MAX_LABEL = 80
MAX_CUSTOM_ID = 100
BUTTON_STYLES = {"primary": 1, "secondary": 2, "success": 3, "danger": 4}
ELLIPSIS = "…"


def markdown(body: Rich) -> tuple[str, list[str]]:
    """Return the body as Discord markdown and the user ids it pings."""
    pinged: list[str] = []
    text = "".join(_span(span, pinged) for span in body.spans)
    return fit(text, MAX_CONTENT), list(dict.fromkeys(pinged))


def _span(span: Any, pinged: list[str]) -> str:
    if isinstance(span, Text):
        return discord_escape(span.text)
    if isinstance(span, Code):
        # A backtick would end the code span early; a look-alike keeps the text readable.
        return f"`{span.text.replace('`', 'ˋ')}`"
    if isinstance(span, Link):
        if span.label:
            return f"[{discord_escape(span.label)}](<{span.url}>)"
        return f"<{span.url}>"
    if isinstance(span, Mention):
        if span.user_id:
            pinged.append(span.user_id)
            return f"<@{span.user_id}>"
        return discord_escape(span.fallback)
    inner = "".join(_span(child, pinged) for child in span.spans)
    if isinstance(span, Owned) or not inner.strip():
        return inner
    if isinstance(span, Bold):
        return f"**{inner}**"
    if isinstance(span, Italic):
        return f"*{inner}*"
    raise TypeError(f"unknown span {span!r}")


def fit(text: str, limit: int) -> str:
    """Cut text to ``limit`` characters, ending with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def components(buttons: tuple[Button, ...]) -> list[dict[str, Any]]:
    """Return action rows of up to five buttons each (at most five rows)."""
    rows: list[dict[str, Any]] = []
    chosen = buttons[: MAX_BUTTONS_PER_ROW * MAX_ROWS]
    for start in range(0, len(chosen), MAX_BUTTONS_PER_ROW):
        rows.append(
            {
                "type": 1,
                "components": [
                    {
                        "type": 2,
                        "style": BUTTON_STYLES[button.style],
                        "label": fit(button.label, MAX_LABEL),
                        "custom_id": button.id[:MAX_CUSTOM_ID],
                    }
                    for button in chosen[start : start + MAX_BUTTONS_PER_ROW]
                ],
            }
        )
    return rows


def message_body(body: Rich, buttons: tuple[Button, ...], *, edit: bool = False) -> dict[str, Any]:
    """Return the JSON of a message (or of an edit, which always states its components)."""
    content, pinged = markdown(body)
    payload: dict[str, Any] = {
        "content": content,
        # Nobody is pinged unless the message names exactly whom to ping.
        "allowed_mentions": {"parse": [], "users": pinged},
    }
    if buttons or edit:
        payload["components"] = components(buttons)
    return payload
