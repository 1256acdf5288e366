"""`/access why [member]` on Discord: a member's paid access explained from the records.

The service decides who may ask (a member about themselves, moderators about anyone) and
words the answer as neutral rich text; this module renders it and pages it.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.bot import FlywheelBot, send_ephemeral
from bot.discord.render import markdown, paged
from bot.errors import Invalid
from bot.services import payments

Interaction = discord.Interaction[FlywheelBot]
LINES_PER_PAGE = 30


class Access(commands.Cog):
    """/access why."""

    access = app_commands.Group(
        name="access", description="Paid access: who has it and why", guild_only=True
    )

    def __init__(self, bot: FlywheelBot) -> None:
        self.bot = bot

    @access.command(name="why", description="Why you have paid access or not (moderators: anyone)")
    @app_commands.describe(
        member="Whose access (moderators and owners; default: yours)", page="Page of the answer"
    )
    async def why(
        self,
        interaction: Interaction,
        member: discord.Member | None = None,
        page: app_commands.Range[int, 1, 100] = 1,
    ) -> None:
        """Explain a member's paid access: offers, decisions, deliveries, orders, subscriptions."""
        if member is not None and member.bot:
            raise Invalid("Bots have no paid access; name a member.", field="member")
        runtime = self.bot.runtime
        async with self.bot.acting(interaction) as (session, actor):
            report = await payments.explain_access(
                session,
                runtime.clock,
                runtime.settings.offers,
                actor,
                user_id=None if member is None else str(member.id),
                name=None if member is None else member.display_name,
            )
        lines = [markdown(line)[0] for line in payments.why_lines(report)]
        await send_ephemeral(interaction, paged(lines, page, "/access why", LINES_PER_PAGE))
