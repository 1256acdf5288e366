"""The members feature on Discord: /link, /privacy export|delete|leaderboard and /about."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.bot import ConfirmView, FlywheelBot, send_ephemeral
from bot.discord.checks import PLATFORM
from bot.services import members as members_service
from bot.services.identities import joined_as, member_joined
from bot.services.linking import CODE_LENGTH
from bot.services.members import (
    expires_in_minutes,
    link_finish,
    link_start,
    privacy_delete,
    privacy_export,
)
from bot.services.recognition import set_leaderboard_public
from bot.text import discord_escape

log = logging.getLogger(__name__)
Interaction = discord.Interaction[FlywheelBot]
CONFIRM_SECONDS = 120.0
LEADERBOARD_SETTING = {
    True: "You are shown on public leaderboards again. `/privacy leaderboard off` hides you.",
    False: "You are hidden from public leaderboards and from others' `/rank`; you still see "
    "your own rank. `/privacy leaderboard on` shows you again.",
}


def _plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {words or word + 's'}"


class Members(commands.Cog):
    """Linking accounts, the member's own data, and what this bot is."""

    privacy = app_commands.Group(
        name="privacy",
        description="Get or erase the data Flywheel holds about you",
        guild_only=True,
    )

    def __init__(self, bot: FlywheelBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_member_join(self, member: discord.Member) -> None:
        """Tell the core a known member (re)joined, so features give back what they keep."""
        if member.bot or not self.bot.serves(member.guild.id):
            return
        runtime = self.bot.runtime
        async with runtime.sessions() as session, session.begin():
            known = await member_joined(
                session,
                runtime.clock,
                platform=PLATFORM,
                space=str(member.guild.id),
                user_id=str(member.id),
            )
        log.info("user %s joined guild %s: %s", member.id, member.guild.id, joined_as(known))

    @app_commands.command(name="link", description="Link your Discord and Slack accounts")
    @app_commands.describe(code="The code Slack gave you; leave empty to get a code for Slack")
    @app_commands.guild_only()
    async def link(
        self,
        interaction: Interaction,
        code: app_commands.Range[str, 1, 4 * CODE_LENGTH] | None = None,
    ) -> None:
        """Issue a link code, or finish linking with one from Slack."""
        clock = self.bot.runtime.clock
        if code is None:
            issued = await self.bot.in_transaction(
                interaction, lambda session, actor: link_start(session, clock, actor)
            )
            minutes = expires_in_minutes(issued, clock.now())
            slack_command = self.bot.runtime.settings.slack.command
            await send_ephemeral(
                interaction,
                f"Your link code is **{issued.code}**. In Slack, type "
                f"`{slack_command} link {issued.code}` within {_plural(minutes, 'minute')} "
                "to combine your accounts and points.",
            )
            return
        result = await self.bot.in_transaction(
            interaction, lambda session, actor: link_finish(session, clock, actor, code)
        )
        await send_ephemeral(
            interaction,
            "Your accounts are linked. Together you have "
            f"**{_plural(result.points_total, 'point')}** from "
            f"{_plural(result.activity_count, 'activity', 'activities')}.",
        )

    @privacy.command(name="export", description="Get a DM with everything Flywheel holds about you")
    async def export(self, interaction: Interaction) -> None:
        """Queue the member's data as a JSON file in a DM."""
        clock = self.bot.runtime.clock
        queued = await self.bot.in_transaction(
            interaction, lambda session, actor: privacy_export(session, clock, actor)
        )
        if queued.already:
            text = "Your data is already on its way to your DMs; it will arrive shortly."
        else:
            text = (
                "Check your DMs: I'm sending you one JSON file with everything this community's "
                "Flywheel holds about you. Nothing arrives? Allow DMs from this server."
            )
        await send_ephemeral(interaction, text)

    @privacy.command(name="delete", description="Erase your personal data (asks you to confirm)")
    async def delete(self, interaction: Interaction) -> None:
        """Ask the member to confirm, with buttons only they can press."""
        clock = self.bot.runtime.clock

        async def erase(clicked: Interaction) -> str:
            report = await self.bot.in_transaction(
                clicked, lambda session, actor: privacy_delete(session, clock, actor)
            )
            return (
                "Done: your personal data has been erased. Your points "
                f"({report.points_kept}) are kept only as an anonymous total."
            )

        # A double click must not erase a member, then a fresh member made by the second click.
        prompt = ConfirmView(
            interaction,
            on_confirm=erase,
            confirm_label="Erase my data",
            cancel_label="Cancel",
            cancelled_text="Nothing was erased.",
            expired_text="This request expired; nothing was erased.",
            timeout=CONFIRM_SECONDS,
        )
        await send_ephemeral(
            interaction,
            "**Erase your personal data?** Your name, linked accounts and open link codes are "
            "deleted from this community's Flywheel. Your points stay only as an anonymous "
            "total. This cannot be undone.",
            view=prompt,
        )

    @privacy.command(name="leaderboard", description="Show or hide yourself on public leaderboards")
    @app_commands.describe(
        setting="on: shown on public boards; off: hidden (you still see your rank)"
    )
    @app_commands.choices(
        setting=[
            app_commands.Choice(name="on", value="on"),
            app_commands.Choice(name="off", value="off"),
        ]
    )
    async def leaderboard(self, interaction: Interaction, setting: str) -> None:
        """Opt in to or out of public leaderboards."""
        clock = self.bot.runtime.clock
        shown = await self.bot.in_transaction(
            interaction,
            lambda session, actor: set_leaderboard_public(
                session, clock, actor.member_id, setting == "on"
            ),
        )
        await send_ephemeral(interaction, LEADERBOARD_SETTING[shown])

    @app_commands.command(name="about", description="What this bot is and does")
    @app_commands.guild_only()
    async def about(self, interaction: Interaction) -> None:
        """Describe the bot and link the public proof page."""
        settings = self.bot.runtime.settings
        info = members_service.about(settings.community.name, settings.web.public_url)
        # The URL is the owner's configuration, not user text: escaping would break the link.
        await send_ephemeral(
            interaction,
            f"**Flywheel {info.version}** for {discord_escape(info.community_name)}\n"
            f"{info.summary}\n"
            f"What this community has built together: <{info.proof_url}>",
        )


async def setup(bot: commands.Bot) -> None:
    """Add the members cog (discord.py's extension entry point)."""
    if not isinstance(bot, FlywheelBot):
        raise TypeError("the members cog needs a FlywheelBot")
    await bot.add_cog(Members(bot))
