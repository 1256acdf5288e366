"""A member's own submissions on Slack: `share mine`, `share withdraw`, and the Withdraw button.

Withdrawing by command is the member's explicit word; the Withdraw button and deleting ask
first through the kit's confirm prompt, since neither can be undone (the files go at once).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.errors import Invalid
from bot.services import ugc
from bot.slack.blocks import Block
from bot.slack.confirm import ConfirmPrompt
from bot.slack.front import ActionCall, SlackCall, VerbCall, VerbHandler
from bot.slack.paging import paging
from bot.slack.rituals.verbs import unescape
from bot.slack.ugc.render import MINE_PER_PAGE, mine_blocks, quoted, withdrawn_text

CONFIRM = "ugc_withdraw"
DELETE_WORD = "delete"
WITHDRAW = "withdraw"


async def _page(call: SlackCall, page: int) -> tuple[str, list[Block]]:
    async with call.acting() as (session, actor):
        found = await ugc.my_page(session, actor, page=page, per_page=MINE_PER_PAGE)
    return mine_blocks(found, call.front.commands.command)


# `share mine [page]` and its Next/Previous buttons.
mine, mine_page = paging(_page)


async def _withdraw(call: SlackCall, reference: str, *, delete: bool) -> str:
    async with call.acting() as (session, actor):
        view = await ugc.withdraw(
            session,
            call.runtime.clock,
            actor,
            reference,
            delete=delete,
            store=call.runtime.media,
        )
    return withdrawn_text(view, deleted=delete)


async def _ask(call: SlackCall, prompt: ConfirmPrompt, reference: str, *, delete: bool) -> None:
    async with call.acting() as (session, actor):
        # Look it up now, so a typo is answered before anyone is asked to confirm.
        view = await ugc.find_mine(session, actor, reference)
    title = quoted(view.title)
    if delete:
        question = (
            f"*Delete {title}?* It and its files are gone for good, from the showcase and the "
            "public page too. This cannot be undone."
        )
    else:
        question = (
            f"*Withdraw {title}?* It leaves the showcase and the public page, and its files "
            "are deleted. This cannot be undone."
        )
    verb = "Delete" if delete else "Withdraw"
    await prompt.ask(
        call,
        text=f"{verb} {title}? Use the buttons below.",
        question=question,
        subject=f"{DELETE_WORD if delete else WITHDRAW}:{view.uid}",
    )


def withdraw_verb(prompt: ConfirmPrompt) -> VerbHandler:
    """Return `share withdraw <title or id> [delete]`; deleting asks with ``prompt`` first."""

    async def withdraw(call: VerbCall) -> None:
        words = call.rest.rsplit(maxsplit=1)
        delete = len(words) == 2 and words[1].lower() == DELETE_WORD
        reference = unescape(words[0] if delete else call.rest).strip().strip("\"'“”‘’")
        if not reference:
            command = call.front.commands.command
            raise Invalid(
                f"Say which: `{command} share withdraw <title> [delete]`; "
                f"`{command} share mine` lists yours.",
                code="reference.missing",
            )
        if delete:
            await _ask(call, prompt, reference, delete=True)
            return
        await call.reply(await _withdraw(call, reference, delete=False))

    return withdraw


def withdraw_button(prompt: ConfirmPrompt) -> Callable[[ActionCall], Awaitable[None]]:
    """Return the Withdraw button's handler (under `share mine`): it asks first."""

    async def clicked(call: ActionCall) -> None:
        await _ask(call, prompt, call.value, delete=False)

    return clicked


async def _confirmed(call: ActionCall, subject: str) -> str:
    mode, _, uid = subject.partition(":")
    if mode not in (WITHDRAW, DELETE_WORD) or not uid:
        raise Invalid("That button does not belong to a question I asked.", code="confirm.unknown")
    return await _withdraw(call, uid, delete=mode == DELETE_WORD)


def withdraw_prompt() -> ConfirmPrompt:
    """Return the prompt withdrawing (by button) and deleting ask with."""
    return ConfirmPrompt(
        CONFIRM,
        on_confirm=_confirmed,
        confirm_label="Yes, take it back",
        cancel_label="Keep it",
        cancelled_text="Nothing changed; it stays.",
        expired_text="This request expired; nothing changed.",
    )
