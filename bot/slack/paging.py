"""Long lists on Slack: a verb that takes a page number and buttons that turn the page.

A feature gives one function that renders a page (``view(call, page)``); :func:`paging`
returns the verb (``… <page>``: a page past the end is the last one) and the button
handler (Next/Previous replace the message in place). Page numbers are read with
:func:`bot.inputs.ascii_int`, so a forged button value is page 1, never a crash.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.inputs import ascii_int
from bot.slack.blocks import Block, actions_block, button
from bot.slack.front import ActionCall, SlackCall, VerbCall

PageView = Callable[[SlackCall, int], Awaitable[tuple[str, list[Block]]]]


def pager(action_id: str, page: int, pages: int) -> Block | None:
    """Return the Previous/Next buttons of page ``page`` of ``pages`` (None on a single page);
    Previous carries ``<action_id>_prev``, and each button's value is the page it shows."""
    if pages <= 1:
        return None
    turns: list[Block] = []
    if page > 1:
        turns.append(button("Previous page", f"{action_id}_prev", str(page - 1)))
    if page < pages:
        turns.append(button("Next page", action_id, str(page + 1)))
    return actions_block(f"{action_id}s", turns)


def paging(
    view: PageView,
) -> tuple[Callable[[VerbCall], Awaitable[None]], Callable[[ActionCall], Awaitable[None]]]:
    """Return the verb showing a page (first argument), and the page buttons' handler."""

    async def verb(call: VerbCall) -> None:
        page = (ascii_int(call.args[0], max_digits=4) if call.args else None) or 1
        text, blocks = await view(call, page)
        await call.reply(text, blocks=blocks)

    async def turn(call: ActionCall) -> None:
        page = ascii_int(call.value, max_digits=4) or 1
        text, blocks = await view(call, page)
        await call.replace(text, blocks=blocks)

    return verb, turn
