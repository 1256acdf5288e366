"""The channels feature on Discord: /channel set, clear and list (moderators set them)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.destinations import PURPOSES
from bot.discord.bot import FlywheelBot, send_ephemeral
from bot.services.channels import DestinationView, clear_channel, list_channels, set_channel

Interaction = discord.Interaction[FlywheelBot]
PURPOSE_CHOICES = [app_commands.Choice(name=purpose, value=purpose) for purpose in PURPOSES]
PLATFORM = "discord"


def _where(view: DestinationView) -> str:
    channel = view.channel_on(PLATFORM)
    return f"<#{channel}>" if channel else "not set"


class Channels(commands.Cog):
    """Where each purpose's posts go in this server."""

    channel = app_commands.Group(
        name="channel",
        description="Where Flywheel posts rituals, the review queue, the showcase…",
        guild_only=True,
    )

    def __init__(self, bot: FlywheelBot) -> None:
        self.bot = bot

    @channel.command(name="set", description="Post one kind of message in a channel")
    @app_commands.describe(purpose="What is posted there", channel="The channel to post in")
    @app_commands.choices(purpose=PURPOSE_CHOICES)
    async def set_(
        self, interaction: Interaction, purpose: str, channel: discord.TextChannel
    ) -> None:
        """Set the channel of a purpose (moderators)."""
        clock = self.bot.runtime.clock
        view = await self.bot.in_transaction(
            interaction,
            lambda session, actor: set_channel(session, clock, actor, purpose, str(channel.id)),
        )
        await send_ephemeral(interaction, f"**{view.purpose}** posts now go to {_where(view)}.")

    @channel.command(name="clear", description="Stop posting one kind of message here")
    @app_commands.describe(purpose="What is no longer posted")
    @app_commands.choices(purpose=PURPOSE_CHOICES)
    async def clear(self, interaction: Interaction, purpose: str) -> None:
        """Clear the channel of a purpose (moderators)."""
        clock = self.bot.runtime.clock
        had = await self.bot.in_transaction(
            interaction, lambda session, actor: clear_channel(session, clock, actor, purpose)
        )
        text = (
            f"**{purpose}** posts are off in this server."
            if had
            else (f"**{purpose}** had no channel here; nothing changed.")
        )
        await send_ephemeral(interaction, text)

    @channel.command(name="list", description="Where each kind of message is posted")
    async def list_(self, interaction: Interaction) -> None:
        """Show every purpose and its channel here."""
        views = await self.bot.in_transaction(
            interaction, lambda session, actor: list_channels(session, actor.community_id)
        )
        lines = [f"**{view.purpose}**: {_where(view)}" for view in views]
        await send_ephemeral(interaction, "\n".join(lines))


async def setup(bot: FlywheelBot) -> None:
    """Load the channels cog."""
    await bot.add_cog(Channels(bot))
