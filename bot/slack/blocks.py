"""Block Kit builders and readers shared by the Slack feature modules.

Builders return plain dicts; the caller escapes user text in mrkdwn (``bot.text.slack_escape``).
Readers take what Slack sends back (a modal's state, its private metadata) and never raise.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

Block = dict[str, Any]


def plain(text: str) -> Block:
    """Return a plain_text object (Slack shows it as typed; no markup)."""
    return {"type": "plain_text", "text": text}


def mrkdwn_section(text: str) -> Block:
    """Return a section block of mrkdwn text (the caller escapes user text in it)."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context_block(text: str) -> Block:
    """Return a context block: small grey mrkdwn text."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def header_block(text: str) -> Block:
    """Return a header block (plain text, at most 150 characters)."""
    return {"type": "header", "text": plain(text[:150])}


def button(text: str, action_id: str, value: str = "", *, style: str | None = None) -> Block:
    """Return a button element."""
    element: Block = {
        "type": "button",
        "text": plain(text),
        "action_id": action_id,
        "value": value or action_id,
    }
    if style is not None:
        element["style"] = style
    return element


def actions_block(block_id: str, elements: Sequence[Block]) -> Block:
    """Return an actions block (a row of buttons or menus)."""
    return {"type": "actions", "block_id": block_id, "elements": list(elements)}


def input_block(
    block_id: str, label: str, element: Block, *, hint: str | None = None, optional: bool = False
) -> Block:
    """Return a modal input block; the element's action_id should be its block_id."""
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint[:2000])
    return block


def text_input(
    block_id: str,
    label: str,
    *,
    initial: str | None = None,
    placeholder: str | None = None,
    hint: str | None = None,
    optional: bool = False,
    multiline: bool = False,
    max_length: int | None = None,
) -> Block:
    """Return a modal text input whose action_id is its block_id."""
    element: Block = {"type": "plain_text_input", "action_id": block_id, "multiline": multiline}
    if initial:
        element["initial_value"] = initial
    if placeholder:
        element["placeholder"] = plain(placeholder[:150])
    if max_length:
        element["max_length"] = max_length
    return input_block(block_id, label, element, hint=hint, optional=optional)


def option(text: str, value: str) -> Block:
    """Return an option of a static select."""
    return {"text": plain(text), "value": value}


def modal(
    callback_id: str,
    title: str,
    blocks: Sequence[Block],
    *,
    submit: str,
    close: str = "Cancel",
    metadata: dict[str, Any] | None = None,
) -> Block:
    """Return a modal view; ``metadata`` comes back with the submission as private_metadata."""
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": json.dumps(metadata or {}),
        "title": plain(title[:24]),
        "submit": plain(submit),
        "close": plain(close),
        "blocks": list(blocks),
    }


# -- reading what Slack sends back ------------------------------------------------------------


def view_values(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return a submitted modal's inputs by block id (inputs whose action_id is the block id)."""
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    if not isinstance(values, dict):
        return {}
    found: dict[str, dict[str, Any]] = {}
    for block_id, actions in values.items():
        if isinstance(actions, dict):
            entry = actions.get(block_id)
            if isinstance(entry, dict):
                found[str(block_id)] = entry
    return found


def text_value(values: dict[str, dict[str, Any]], block_id: str) -> str:
    """Return the stripped text of a text input ("" if blank or missing)."""
    return str(values.get(block_id, {}).get("value") or "").strip()


def selected_value(values: dict[str, dict[str, Any]], block_id: str) -> str | None:
    """Return the value of a static select's chosen option, if any."""
    chosen = values.get(block_id, {}).get("selected_option")
    return str(chosen.get("value")) if isinstance(chosen, dict) else None


def view_metadata(view: dict[str, Any]) -> dict[str, Any]:
    """Return a modal's private metadata as a dict ({} if missing or not ours)."""
    try:
        metadata = json.loads(str(view.get("private_metadata") or "{}"))
    except json.JSONDecodeError:
        return {}
    return metadata if isinstance(metadata, dict) else {}
