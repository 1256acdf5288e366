"""/rank and /leaderboard on Discord: PNG cards with a text fallback, pages turned by buttons.

Both answer in the channel (as MEE6 does), never pinging anyone. What only the member may
see stays ephemeral: their own rank while they hide from public boards, and every refusal.
The page buttons are ``DynamicItem``s whose custom id carries the board, the period and the
page (``lb:points:week:2``), so a leaderboard posted before a restart still turns its pages;
anyone in the channel may turn them (the board is public). Opting out is `/privacy
leaderboard` (:mod:`cogs.members`).
"""

from __future__ import annotations

import io
import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.bot import (
    FlywheelBot,
    defer_public,
    report_failure,
    send_ephemeral,
    send_public,
)
from bot.errors import Invalid
from bot.inputs import shorten
from bot.services import recognition
from bot.services.recognition import BoardChoice, LeaderboardPage, RankCard
from bot.text import discord_escape

Interaction = discord.Interaction[FlywheelBot]
BOARDS = [
    app_commands.Choice(name="Points", value="points"),
    app_commands.Choice(name="Ritual check-ins", value="rituals"),
    app_commands.Choice(name="Helpers (accepted answers)", value="helpers"),
]
PERIODS = [
    app_commands.Choice(name="All time", value="all"),
    app_commands.Choice(name="This week", value="week"),
    app_commands.Choice(name="This month", value="month"),
    app_commands.Choice(name="Last week", value="last-week"),
    app_commands.Choice(name="Last month", value="last-month"),
]
PAGE_PREFIX = "lb"
UNNAMED = "A member"
_WORDS = "|".join(recognition.PERIOD_WORDS)
_BOARDS = "|".join(recognition.BOARD_WORDS)


def _name(text: str, limit: int = 60) -> str:
    return discord_escape(shorten(text, limit))


def rank_text(card: RankCard) -> str:
    """Return the rank as text: beside the card, or alone when the card could not be drawn."""
    name = _name(card.name)
    if card.private:
        return f"{name} keeps their rank private."
    title = recognition.board_title(card.choice)
    line = (
        f"**{name}** · {recognition.rank_words(card)} · {card.score:,} {card.choice.unit} ({title})"
    )
    if card.badges:
        line += "\n" + " ".join(f"{_name(b.emoji, 40)} {_name(b.name, 40)}" for b in card.badges)
    if card.hidden:
        line += (
            "\nOnly you see this: you hide from public boards (`/privacy leaderboard on` to show)."
        )
    return line


def page_text(page: LeaderboardPage, *, rows: bool) -> str:
    """Return a page's title line, and its rows too when there is no image."""
    head = (
        f"**{recognition.board_title(page.choice)}** · page {page.page} of {page.pages} "
        f"({page.ranked:,} ranked)"
    )
    if not page.entries:
        return f"{head}\nNobody is on this board yet."
    if not rows:
        return head
    lines = [
        f"#{entry.rank} {_name(entry.display_name or UNNAMED, 40)} · {entry.score:,}"
        for entry in page.entries
    ]
    return "\n".join([head, *lines])


def page_id(choice: BoardChoice, page: int) -> str:
    """Return the custom id of a button showing ``page`` of a board."""
    return f"{PAGE_PREFIX}:{choice.board.value}:{choice.period_word}:{page}"


class PageButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"{PAGE_PREFIX}:(?P<board>{_BOARDS}):(?P<period>{_WORDS}):(?P<page>[0-9]{{1,4}})",
):
    """Previous / Next under a leaderboard: edits the message to show that page."""

    def __init__(self, choice: BoardChoice, page: int, label: str = "Next") -> None:
        super().__init__(
            discord.ui.Button(
                label=label, style=discord.ButtonStyle.secondary, custom_id=page_id(choice, page)
            )
        )
        self.choice = choice
        self.page = page

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> PageButton:
        """Rebuild the button from its custom id."""
        choice = recognition.board_choice(match["board"], match["period"])
        return cls(choice, int(match["page"]), str(item.label or "Next"))

    async def callback(self, interaction: Interaction) -> None:  # type: ignore[override]
        """Show the page: the clicked message is edited (image, text and buttons)."""
        bot = interaction.client
        try:
            await interaction.response.defer()  # an update of the clicked message
            async with bot.acting(interaction) as (session, actor):
                page = await recognition.leaderboard_page(
                    session, bot.runtime.clock, actor.community_id, self.choice, self.page
                )
            text, file, view = await page_answer(page)
            await interaction.edit_original_response(
                content=text,
                attachments=[file] if file is not None else [],
                view=view,
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except Exception as exc:  # every failure is answered by the one handler
            await report_failure(interaction, exc)


def page_view(page: LeaderboardPage) -> discord.ui.View | None:
    """Return Previous / Next for a page (None on a single page)."""
    if page.pages <= 1:
        return None
    view = discord.ui.View(timeout=None)
    if page.page > 1:
        view.add_item(PageButton(page.choice, page.page - 1, "Previous"))
    if page.page < page.pages:
        view.add_item(PageButton(page.choice, page.page + 1, "Next"))
    return view


async def page_answer(
    page: LeaderboardPage,
) -> tuple[str, discord.File | None, discord.ui.View | None]:
    """Return a page's text, its card (None if it could not be drawn) and its buttons."""
    png = await recognition.leaderboard_png(page) if page.entries else None
    text = page_text(page, rows=png is None)
    file = None if png is None else discord.File(io.BytesIO(png), filename="leaderboard.png")
    return text, file, page_view(page)


class Boards(commands.Cog):
    """/rank and /leaderboard."""

    def __init__(self, bot: FlywheelBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        """Make the page buttons of earlier leaderboards work after a restart."""
        self.bot.add_dynamic_items(PageButton)

    @app_commands.command(name="rank", description="A rank card: yours, or another member's")
    @app_commands.guild_only()
    @app_commands.describe(
        member="Whose rank (default: yours)",
        board="What to rank by (default: points)",
        period="Which period (default: all time)",
    )
    @app_commands.choices(board=BOARDS, period=PERIODS)
    async def rank(
        self,
        interaction: Interaction,
        member: discord.Member | None = None,
        board: str = "points",
        period: str = "all",
    ) -> None:
        """Answer with the member's rank card."""
        if member is not None and member.bot:
            raise Invalid("Bots are not ranked: pick a member.", field="member")
        await defer_public(interaction)
        async with self.bot.acting(interaction) as (session, actor):
            card = await recognition.rank_card(
                session,
                self.bot.runtime.clock,
                actor,
                recognition.board_choice(board, period),
                user_id=None if member is None else str(member.id),
                name=None if member is None else member.display_name,
            )
        if card.private:
            await send_public(interaction, rank_text(card))
            return
        png = await recognition.rank_png(card)
        file = None if png is None else discord.File(io.BytesIO(png), filename="rank.png")
        if card.hidden:  # their own rank while hidden: for their eyes only
            await send_ephemeral(interaction, rank_text(card), file=file)
        else:
            await send_public(interaction, rank_text(card), file=file)

    @app_commands.command(name="leaderboard", description="The top of a board, with page buttons")
    @app_commands.guild_only()
    @app_commands.describe(
        board="What to rank by (default: points)",
        period="Which period (default: all time)",
        page="Which page (ten members a page)",
    )
    @app_commands.choices(board=BOARDS, period=PERIODS)
    async def leaderboard(
        self,
        interaction: Interaction,
        board: str = "points",
        period: str = "all",
        page: app_commands.Range[int, 1, 1000] = 1,
    ) -> None:
        """Answer with a page of the board."""
        await defer_public(interaction)
        async with self.bot.acting(interaction) as (session, actor):
            shown = await recognition.leaderboard_page(
                session,
                self.bot.runtime.clock,
                actor.community_id,
                recognition.board_choice(board, period),
                page,
            )
        text, file, view = await page_answer(shown)
        await send_public(interaction, text, file=file, view=view)


async def setup(bot: FlywheelBot) -> None:
    """Load /rank and /leaderboard."""
    await bot.add_cog(Boards(bot))
