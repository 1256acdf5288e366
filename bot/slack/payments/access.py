"""`/flywheel access why [@member] [page]` on Slack: a member's paid access explained.

The service decides who may ask (a member about themselves, moderators about anyone) and
words the answer as neutral rich text; this module renders it as mrkdwn and pages it with
Next/Previous buttons (value: the page, then whose access).
"""

from __future__ import annotations

import re

from slack_bolt.async_app import AsyncApp

from bot.errors import Invalid
from bot.inputs import ascii_int
from bot.services import payments
from bot.slack.blocks import Block, actions_block, button, mrkdwn_section
from bot.slack.front import ActionCall, SlackCall, SlackFront, VerbCall
from bot.slack.render import mrkdwn

PAGE_ACTION = "access_why_page"
PER_PAGE = 30
PAGE_TEXT = 2_900  # a section's 3,000 characters, leaving room for "Page 2 of 3."
MENTION = re.compile(r"<@(?P<mention>[UW][A-Z0-9]+)(?:\|[^>]*)?>|(?P<user_id>[UW][A-Z0-9]{2,})")


def _grouped(lines: list[str]) -> list[list[str]]:
    """Return the lines in pages of at most PER_PAGE lines and PAGE_TEXT characters."""
    grouped: list[list[str]] = [[]]
    size = 0
    for line in (text[:PAGE_TEXT] for text in lines):
        if grouped[-1] and (len(grouped[-1]) >= PER_PAGE or size + 1 + len(line) > PAGE_TEXT):
            grouped.append([])
            size = 0
        grouped[-1].append(line)
        size += len(line) + 1
    return grouped


async def _page(call: SlackCall, page: int, user_id: str | None) -> tuple[str, list[Block]]:
    name = None
    if user_id is not None and user_id != call.user_id:
        caller = await call.caller()
        found = await call.front.directory.lookup(
            call.client, team_id=caller.space_id, user_id=user_id
        )
        if found.is_bot or user_id == "USLACKBOT":
            raise Invalid("Bots have no paid access; name a member.", field="member")
        name = found.display_name
    runtime = call.runtime
    async with call.acting() as (session, actor):
        report = await payments.explain_access(
            session, runtime.clock, runtime.settings.offers, actor, user_id=user_id, name=name
        )
    grouped = _grouped([mrkdwn(line) for line in payments.why_lines(report)])
    shown = min(max(page, 1), len(grouped))
    text = "\n".join(grouped[shown - 1])
    blocks: list[Block] = [mrkdwn_section(text)]
    if len(grouped) > 1:
        who = user_id or ""
        turns = []
        if shown > 1:
            turns.append(button("Previous page", f"{PAGE_ACTION}_prev", f"{shown - 1} {who}"))
        if shown < len(grouped):
            turns.append(button("Next page", PAGE_ACTION, f"{shown + 1} {who}"))
        blocks.append(actions_block(f"{PAGE_ACTION}s", turns))
        text += f"\nPage {shown} of {len(grouped)}."
    return text, blocks


async def why_verb(call: VerbCall) -> None:
    """Explain paid access: yours, or (moderators) a mentioned member's."""
    user_id = None
    page = 1
    # A mention's label may hold spaces (<@U123|Ada Lovelace>): take it out of the text whole.
    rest = call.rest
    if (found := MENTION.search(rest)) is not None:
        user_id = found.group("mention") or found.group("user_id")
        rest = rest[: found.start()] + " " + rest[found.end() :]
    for word in rest.split():
        if (number := ascii_int(word, max_digits=4)) is not None:
            page = number
        else:
            command = call.front.commands.command
            raise Invalid(
                f"Say whose access, and a page if you like: `{command} access why @member 2`.",
                field="member",
            )
    text, blocks = await _page(call, page, user_id)
    await call.reply(text, blocks=blocks)


async def turn_page(call: ActionCall) -> None:
    """Show another page (the button's value: the page, then whose access)."""
    page_text, _, user = call.value.partition(" ")
    user_id = user if MENTION.fullmatch(user) else None
    text, blocks = await _page(call, ascii_int(page_text, max_digits=4) or 1, user_id)
    await call.replace(text, blocks=blocks)


def register(app: AsyncApp, front: SlackFront) -> None:
    """Add `access why` and its page buttons."""
    front.commands.add(
        "access why",
        why_verb,
        usage="[@member] [page]",
        summary="Why you have paid access or not (moderators: any member's).",
    )
    app.action(re.compile(rf"^{PAGE_ACTION}(_prev)?$"))(front.action(turn_page))
