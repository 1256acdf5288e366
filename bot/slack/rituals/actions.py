"""The rituals feature's buttons: check in from a post, page the list, confirm a delete."""

from __future__ import annotations

import re

from bot.errors import Invalid
from bot.inputs import ascii_int
from bot.services.rituals import (
    CHECKIN_PREFIX,
    checkin,
    delete_ritual,
    list_rituals,
    occurrence_of_button,
)
from bot.slack.confirm import ConfirmPrompt
from bot.slack.front import ActionCall
from bot.slack.rituals.render import checkin_text, list_blocks
from bot.text import slack_escape

CHECKIN_ACTION = re.compile(rf"^{re.escape(CHECKIN_PREFIX)}[0-9a-z]{{1,24}}$")
DELETE_PROMPT = "ritual_delete"
CONFIRM_DELETE = f"{DELETE_PROMPT}_confirm"
CANCEL_DELETE = f"{DELETE_PROMPT}_cancel"


async def checkin_button(call: ActionCall) -> None:
    """Check the clicker in to the post's occurrence, once."""
    occurrence = occurrence_of_button(call.action_id)
    if occurrence is None:
        raise Invalid("That button is not a ritual check-in.", code="button.unknown")
    async with call.acting() as (session, actor):
        result = await checkin(
            session,
            call.runtime.clock,
            occurrence_uid=occurrence,
            member_id=actor.member_id,
            method="button",
        )
    await call.reply(checkin_text(result))


async def list_page(call: ActionCall) -> None:
    """Show another page of the ritual list in place of the one clicked."""
    page = ascii_int(call.value, max_digits=4) or 1  # a forged value is page 1, not a crash
    async with call.acting() as (session, actor):
        views = await list_rituals(session, call.runtime.clock, actor.community_id)
    text, blocks = list_blocks(views, page, call.front.commands.command)
    await call.replace(text, blocks=blocks)


async def _delete(call: ActionCall, name: str) -> str:
    # The service checks the clicker's role again: the button is not the permission.
    async with call.acting() as (session, actor):
        deleted = await delete_ritual(session, call.runtime.clock, actor, name)
    return f"Deleted *{slack_escape(deleted)}*."


def delete_prompt() -> ConfirmPrompt:
    """Return the prompt `ritual delete` asks with."""
    return ConfirmPrompt(
        DELETE_PROMPT,
        on_confirm=_delete,
        confirm_label="Delete it",
        cancel_label="Keep it",
        cancelled_text="Nothing was deleted.",
        expired_text="This request expired; nothing was deleted.",
    )
