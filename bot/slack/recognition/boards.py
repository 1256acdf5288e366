"""The boards on Slack: `rank`, `leaderboard`, `privacy leaderboard` and the Home tab summary.

The answers are ephemeral, as slash commands' are on Slack. A card is uploaded with
``files_upload_v2`` into no conversation (the file stays the bot's) and shown in the answer
by an image block naming it (``slack_file``); if it cannot be drawn or uploaded, the
answer is the text alone — also when Slack refuses the image block (a file it is still
processing is ``invalid_blocks``, and a refused ``response_url`` post shows nothing at all:
the answer is sent again without the image, the leaderboard's rows in its text). Page buttons carry the board and period in their action id
(``lb-page:points:week``) and the page in their value, so a click needs nothing remembered;
each page uploads its own card.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import Invalid
from bot.inputs import ascii_int, shorten
from bot.services import recognition
from bot.services.callers import Actor
from bot.services.recognition import BoardChoice, LeaderboardPage, RankCard
from bot.slack.blocks import Block, context_block, mrkdwn_section
from bot.slack.front import ActionCall, SlackCall, SlackFront, VerbCall
from bot.slack.paging import pager
from bot.slack.render import fit_blocks, fit_text
from bot.text import slack_escape

log = logging.getLogger(__name__)

PAGE_ACTION = "lb-page"
UNNAMED = "A member"
MENTION = re.compile(r"^<@(?P<user>[UW][A-Z0-9]+)(?:\|[^>]*)?>$")
PAGE_ID = re.compile(
    rf"^{PAGE_ACTION}:(?P<board>[a-z]+):(?P<period>[a-z-]+)(?P<prev>_prev)?$",
)
SETTING = {
    True: "You are shown on public leaderboards again. `{command} privacy leaderboard off` "
    "hides you.",
    False: "You are hidden from public leaderboards and from others' `rank`; you still see "
    "your own rank. `{command} privacy leaderboard on` shows you again.",
}


def _name(text: str, limit: int = 60) -> str:
    return slack_escape(shorten(text, limit))


def rank_text(card: RankCard) -> str:
    """Return the rank as mrkdwn: beside the card, or alone when there is no card."""
    name = _name(card.name)
    if card.private:
        return f"{name} keeps their rank private."
    line = (
        f"*{name}* · {recognition.rank_words(card)} · {card.score:,} {card.choice.unit} "
        f"({recognition.board_title(card.choice)})"
    )
    if card.badges:
        line += "\n" + " ".join(f"{_name(b.emoji, 40)} {_name(b.name, 40)}" for b in card.badges)
    if card.hidden:
        line += "\n_You hide from public boards: only you see your rank._"
    return line


def page_text(page: LeaderboardPage, *, rows: bool) -> str:
    """Return a page's title line, and its rows too when there is no card."""
    head = (
        f"*{recognition.board_title(page.choice)}* · page {page.page} of {page.pages} "
        f"({page.ranked:,} ranked)"
    )
    if not page.entries:
        return f"{head}\nNobody is on this board yet."
    if not rows:
        return head
    lines = [
        f"#{e.rank} {_name(e.display_name or UNNAMED, 40)} · {e.score:,}" for e in page.entries
    ]
    return "\n".join([head, *lines])


def _choice(words: list[str]) -> BoardChoice:
    board = next((w for w in words if w in recognition.BOARD_WORDS), None)
    period = next((w for w in words if w in recognition.PERIOD_WORDS), None)
    return recognition.board_choice(board, period)


async def _image(call: SlackCall, png: bytes | None, filename: str, alt: str) -> Block | None:
    """Upload a card (into no conversation) and return the image block showing it."""
    if png is None:
        return None
    try:
        uploaded = await call.client.files_upload_v2(
            filename=filename, content=png, title=alt, alt_txt=alt
        )
    except SlackApiError as error:
        log.warning(
            "slack: a %s card could not be uploaded (%s)", filename, error.response.get("error")
        )
        return None
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as error:
        # The bytes go to files.slack.com, outside the Web API: its failures are no API error.
        log.warning("slack: a %s card could not be uploaded (%s)", filename, error)
        return None
    return {
        "type": "image",
        "slack_file": {"id": str(uploaded["file"]["id"])},
        "alt_text": alt,
    }


def _taken(answer: Any) -> bool:
    """Return whether Slack took a ``response_url`` post (it answers ok false, or an HTTP
    error, when it refuses one, and then shows nothing)."""
    status = getattr(answer, "status_code", 200)
    if status != 200:
        return False
    try:
        body = json.loads(str(getattr(answer, "body", "") or "null"))
    except json.JSONDecodeError:
        return True  # Slack's plain "ok"
    return not (isinstance(body, dict) and body.get("ok") is False)


async def _send(call: SlackCall, text: str, blocks: list[Block], *, replace: bool) -> bool:
    """Answer through the response URL (ephemeral, or replacing the clicked message); return
    whether Slack took it."""
    if call.respond is None:  # not for slash commands and clicks, which carry a response URL
        await (call.replace if replace else call.reply)(text, blocks=blocks)
        return True
    how: dict[str, Any] = {"replace_original": True} if replace else {"response_type": "ephemeral"}
    answer = await call.respond(text=fit_text(text), blocks=fit_blocks(blocks), **how)
    return _taken(answer)


Answer = tuple[str, list[Block]]


async def _answer(
    call: SlackCall, shown: Answer, fallback: Answer | None, *, replace: bool
) -> None:
    """Send an answer with a card; if Slack refuses it, send ``fallback`` (no card) instead."""
    if await _send(call, *shown, replace=replace) or fallback is None:
        return
    log.warning("slack: an answer with a card was refused; answering with the text alone")
    await _send(call, *fallback, replace=replace)


async def _page_answer(call: SlackCall, page: LeaderboardPage) -> tuple[Answer, Answer | None]:
    """Return a page's text and blocks, and the same without the card (None: no card)."""
    png = await recognition.leaderboard_png(page) if page.entries else None
    image = await _image(call, png, "leaderboard.png", recognition.board_title(page.choice))
    text = page_text(page, rows=image is None)
    action = f"{PAGE_ACTION}:{page.choice.board.value}:{page.choice.period_word}"
    turns = pager(action, page.page, page.pages)
    tail: list[Block] = [turns] if turns is not None else []
    if image is None:
        return (text, [mrkdwn_section(text), *tail]), None
    rows = page_text(page, rows=True)
    return (text, [mrkdwn_section(text), image, *tail]), (rows, [mrkdwn_section(rows), *tail])


async def rank_verb(call: VerbCall) -> None:
    """`rank [@member] [board] [period]`: a rank card."""
    user_id: str | None = None
    words: list[str] = []
    for word in call.args:
        mention = MENTION.match(word)
        if mention:
            user_id = mention["user"]
        elif word.lower() in (*recognition.BOARD_WORDS, *recognition.PERIOD_WORDS):
            words.append(word.lower())
        else:
            raise Invalid(
                f"{shorten(word, 40)!r} is not a member, a board or a period: try "
                f"`{call.front.commands.command} rank @someone points week`.",
                field="rank",
            )
    choice = _choice(words)
    name = None
    if user_id is not None:
        caller = await call.caller()
        found = await call.front.directory.lookup(
            call.client, team_id=caller.space_id, user_id=user_id
        )
        name = found.display_name
    async with call.acting() as (session, actor):
        card = await recognition.rank_card(
            session, call.runtime.clock, actor, choice, user_id=user_id, name=name
        )
    text = rank_text(card)
    blocks: list[Block] = [mrkdwn_section(text)]
    image = None
    if not card.private:
        png = await recognition.rank_png(card)
        image = await _image(call, png, "rank.png", f"Rank card of {shorten(card.name, 60)}")
    if image is None:
        await call.reply(text, blocks=blocks)
        return
    await _answer(call, (text, [*blocks, image]), (text, blocks), replace=False)


async def leaderboard_verb(call: VerbCall) -> None:
    """`leaderboard [board] [period] [page]`: a page of a board, with page buttons."""
    words, page = [], 1
    for word in call.args:
        number = ascii_int(word, max_digits=4)
        if number is not None:
            page = number
        elif word.lower() in (*recognition.BOARD_WORDS, *recognition.PERIOD_WORDS):
            words.append(word.lower())
        else:
            raise Invalid(
                f"{shorten(word, 40)!r} is not a board, a period or a page: try "
                f"`{call.front.commands.command} leaderboard helpers month`.",
                field="leaderboard",
            )
    choice = _choice(words)
    async with call.acting() as (session, actor):
        shown = await recognition.leaderboard_page(
            session, call.runtime.clock, actor.community_id, choice, page
        )
    answer, fallback = await _page_answer(call, shown)
    await _answer(call, answer, fallback, replace=False)


async def turn_page(call: ActionCall) -> None:
    """Previous / Next: replace the leaderboard with that page."""
    matched = PAGE_ID.match(call.action_id)
    if matched is None:
        raise Invalid("That button is not one of mine any more; ask for the leaderboard again.")
    choice = recognition.board_choice(matched["board"], matched["period"])
    page = ascii_int(call.value, max_digits=4) or 1
    async with call.acting() as (session, actor):
        shown = await recognition.leaderboard_page(
            session, call.runtime.clock, actor.community_id, choice, page
        )
    answer, fallback = await _page_answer(call, shown)
    await _answer(call, answer, fallback, replace=True)


async def privacy_verb(call: VerbCall) -> None:
    """`privacy leaderboard on|off`: show or hide the member on public boards."""
    setting = call.args[0].lower() if len(call.args) == 1 else ""
    command = call.front.commands.command
    if setting not in ("on", "off"):
        raise Invalid(
            f"Say on or off: `{command} privacy leaderboard off` hides you from public boards.",
            field="setting",
        )
    async with call.acting() as (session, actor):
        shown = await recognition.set_leaderboard_public(
            session, call.runtime.clock, actor.member_id, setting == "on"
        )
    await call.reply(SETTING[shown].format(command=command))


def _standing(card: RankCard) -> str:
    if card.rank is None:
        return f"unranked · {card.score:,} points"
    return f"{recognition.rank_words(card)} · {card.score:,} points"


async def home_section(session: AsyncSession, actor: Actor, front: SlackFront) -> list[Block]:
    """Return the Home tab's recognition part: points, rank this week and all time, badges."""
    summary = await recognition.home_summary(session, front.runtime.clock, actor)
    badges = " ".join(f"{_name(b.emoji, 40)} {_name(b.name, 40)}" for b in summary.badges)
    blocks: list[Block] = [
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*This week*\n{_standing(summary.week)}"},
                {"type": "mrkdwn", "text": f"*All time*\n{_standing(summary.all_time)}"},
                {"type": "mrkdwn", "text": f"*Top badges*\n{badges or 'none yet'}"},
            ],
        }
    ]
    command = front.commands.command
    if summary.all_time.hidden:
        blocks.append(
            context_block(
                f"You hide from public leaderboards; `{command} privacy leaderboard on` shows you."
            )
        )
    else:
        blocks.append(context_block(f"`{command} leaderboard week` shows this week's board."))
    return blocks


def register(app: AsyncApp, front: SlackFront) -> None:
    """Add the board verbs, the page buttons and the Home tab section."""
    add = front.commands.add
    add(
        "rank",
        rank_verb,
        usage="[@member] [points|rituals|helpers] [all|week|month|last-week|last-month]",
        summary="A rank card: yours, or another member's.",
    )
    add(
        "leaderboard",
        leaderboard_verb,
        usage="[points|rituals|helpers] [all|week|month|last-week|last-month] [page]",
        summary="The top of a board, ten a page, with page buttons.",
    )
    add(
        "privacy leaderboard",
        privacy_verb,
        usage="on|off",
        summary="Show or hide yourself on public leaderboards (you still see your own rank).",
    )

    async def section(session: AsyncSession, actor: Actor) -> list[Block]:
        return await home_section(session, actor, front)

    front.home_sections.append(section)
    app.action(re.compile(rf"^{PAGE_ACTION}:"))(front.action(turn_page))
