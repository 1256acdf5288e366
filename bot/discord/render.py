"""Render the neutral message vocabulary as Discord messages: markdown, components, limits.

This is the one place Discord markup is written. Plain text is escaped here, mentions
become ``<@id>`` and are the only ones ``allowed_mentions`` lets ping.

It is also the one place that knows Discord's limits: posts are fitted as they are
rendered, and every interaction reply goes through the fitters below (``fit_content``,
``fit_view``, ``fit_modal``, ``fit_choices``, ``fit_embed``, ``pages``), called by the
kit in :mod:`bot.discord.bot`, so Discord never refuses what a member is owed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import discord

from bot.messages import Bold, Button, Code, Italic, Link, Mention, Owned, Rich, Text
from bot.text import discord_escape

MAX_CONTENT = 2000
_URL_ESCAPES = {char: f"%{ord(char):02X}" for char in '<>()[]`"\\| '}
MAX_BUTTONS_PER_ROW = 5
MAX_ROWS = 5
MAX_LABEL = 80
MAX_CUSTOM_ID = 100
BUTTON_STYLES = {"primary": 1, "secondary": 2, "success": 3, "danger": 4}
ELLIPSIS = "…"
# Autocomplete: 25 choices, names and values of 1 to 100 characters.
MAX_CHOICES = 25
MAX_CHOICE = 100
# Selects: 25 options, each label, value and description up to 100; placeholder 150.
MAX_OPTIONS = 25
MAX_OPTION = 100
MAX_PLACEHOLDER = 150
# Modals: title 45; a text input's label 45, placeholder 100, value 4,000.
MAX_MODAL_TITLE = 45
MAX_INPUT_LABEL = 45
MAX_INPUT_PLACEHOLDER = 100
MAX_INPUT_VALUE = 4000
# Embeds: title 256, description 4,096, 25 fields (name 256, value 1,024), footer 2,048,
# author 256, and 6,000 characters in all.
MAX_EMBED_TITLE = 256
MAX_EMBED_DESCRIPTION = 4096
MAX_EMBED_FIELDS = 25
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_FOOTER = 2048
MAX_AUTHOR = 256
MAX_EMBED_TOTAL = 6000
# What a page of a list leaves free for its "Page 2 of 5…" line.
PAGE_FOOTER_ROOM = 200

ValueT = TypeVar("ValueT", str, int, float)


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
        # Discord ends <…> at the first ">" and a masked link at ")": encoded, what follows
        # in the URL can never become markdown, a masked link or a mention of its own.
        url = "".join(_URL_ESCAPES.get(char, char) for char in span.url)
        if span.label:
            return f"[{discord_escape(span.label)}](<{url}>)"
        return f"<{url}>"
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


def fit_content(text: str) -> str:
    """Fit a message's content to Discord's 2,000 characters."""
    return fit(text, MAX_CONTENT)


def fit_choices(choices: Iterable[tuple[str, ValueT]]) -> list[tuple[str, ValueT]]:
    """Fit autocomplete choices: at most 25, names cut with an ellipsis.

    A value is what the command receives, so it is never cut: a choice whose value is
    longer than Discord allows is left out rather than offered and then not found.
    """
    fitted: list[tuple[str, ValueT]] = []
    for name, value in choices:
        if isinstance(value, str) and not 1 <= len(value) <= MAX_CHOICE:
            continue
        fitted.append((fit(name, MAX_CHOICE) or ELLIPSIS, value))
        if len(fitted) == MAX_CHOICES:
            break
    return fitted


def pages(lines: Sequence[str], *, limit: int = MAX_CONTENT - PAGE_FOOTER_ROOM) -> list[str]:
    """Pack lines into pages of at most ``limit`` characters, each line on one page.

    A line longer than a page is cut with an ellipsis. Always at least one page.
    """
    found: list[str] = []
    current: list[str] = []
    size = 0
    for raw in lines:
        line = fit(raw, limit)
        extra = len(line) + (1 if current else 0)
        if current and size + extra > limit:
            found.append("\n".join(current))
            current, size = [], 0
            extra = len(line)
        current.append(line)
        size += extra
    found.append("\n".join(current))
    return found


def paged(lines: Sequence[str], page: int, more: str, per_page: int) -> str:
    """Return one page of a list (``per_page`` lines, fitted to a message) with a "Page 2 of 3"
    line naming the command that shows the next (``more``, e.g. "/buy") when there are more."""
    found = [
        part
        for start in range(0, len(lines), per_page)
        for part in pages(lines[start : start + per_page])
    ]
    shown = min(max(page, 1), len(found))
    text = found[shown - 1]
    if len(found) > 1:
        following = f"`{more} page:{shown + 1}` for more" if shown < len(found) else "the last page"
        text += f"\nPage {shown} of {len(found)}: {following}."
    return text


def fit_embed(embed: dict[str, Any]) -> dict[str, Any]:
    """Fit an embed's JSON to Discord's limits: each part, 25 fields, 6,000 in all."""
    fitted = dict(embed)
    budget = MAX_EMBED_TOTAL
    for key, limit in (("title", MAX_EMBED_TITLE), ("description", MAX_EMBED_DESCRIPTION)):
        if fitted.get(key):
            fitted[key] = fit(str(fitted[key]), min(limit, budget))
            budget -= len(fitted[key])
    for key, inner, limit in (("author", "name", MAX_AUTHOR), ("footer", "text", MAX_FOOTER)):
        part = fitted.get(key)
        if isinstance(part, dict) and part.get(inner):
            text = fit(str(part[inner]), min(limit, max(budget, 1)))
            fitted[key] = {**part, inner: text}
            budget -= len(text)
    fields = []
    for field in list(fitted.get("fields") or [])[:MAX_EMBED_FIELDS]:
        name = fit(str(field.get("name") or ""), MAX_FIELD_NAME)
        value = fit(str(field.get("value") or ""), MAX_FIELD_VALUE)
        if len(name) + len(value) > budget:
            break
        budget -= len(name) + len(value)
        fields.append({**field, "name": name, "value": value})
    if "fields" in fitted:
        fitted["fields"] = fields
    return fitted


def fit_view(view: discord.ui.View) -> discord.ui.View:
    """Fit a view's buttons and selects to Discord's limits, in place; return it."""
    for item in view.children:
        if isinstance(item, discord.ui.Button) and item.label:
            item.label = fit(item.label, MAX_LABEL)
        elif isinstance(item, discord.ui.Select):
            if item.placeholder:
                item.placeholder = fit(item.placeholder, MAX_PLACEHOLDER)
            options = item.options[:MAX_OPTIONS]
            for option in options:
                option.label = fit(option.label, MAX_OPTION)
                option.value = option.value[:MAX_OPTION]
                if option.description:
                    option.description = fit(option.description, MAX_OPTION)
            item.options = options
    return view


def fit_modal(modal: discord.ui.Modal) -> discord.ui.Modal:
    """Fit a modal to Discord's limits, in place: title, labels, placeholders, prefilled text.

    A text input's own label (deprecated in discord.py 2.7, where reading it warns) is the
    feature's constant text, which the sandbox checks; a ``discord.ui.Label`` is fitted.
    """
    modal.title = fit(modal.title, MAX_MODAL_TITLE)
    for item in modal.children:
        if isinstance(item, discord.ui.Label):
            item.text = fit(item.text, MAX_INPUT_LABEL)
            if item.description:
                item.description = fit(item.description, MAX_INPUT_PLACEHOLDER)
            if isinstance(item.component, discord.ui.TextInput):
                _fit_text_input(item.component)
        elif isinstance(item, discord.ui.TextInput):
            _fit_text_input(item)
    return modal


def _fit_text_input(item: discord.ui.TextInput[Any]) -> None:
    if item.placeholder:
        item.placeholder = fit(item.placeholder, MAX_INPUT_PLACEHOLDER)
    if item.default:
        longest = min(item.max_length or MAX_INPUT_VALUE, MAX_INPUT_VALUE)
        item.default = fit(item.default, longest)


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
