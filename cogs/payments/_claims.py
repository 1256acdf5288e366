"""`/link-purchase <email>` on Discord, and the "Yes, this was my purchase" button in its DM.

Discord has no `/link purchase`: `/link` is a command with an option, and a command cannot
also hold subcommands. The button lives in a DM, where an interaction names no server, so
the clicker is found by their Discord account among the community's members; the service
checks they were offered that order and that it is still unclaimed.
"""

from __future__ import annotations

import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.bot import FlywheelBot, edit_reply, report_failure, send_ephemeral
from bot.services import payments
from bot.text import discord_escape

Interaction = discord.Interaction[FlywheelBot]


def confirmed_text(done: payments.ClaimConfirmed) -> str:
    """Tell the member what their click linked."""
    what = f"your **{discord_escape(done.offer)}** purchase" if done.offer else ("your purchase")
    granted = [c for c in done.changes if c.granted]
    access = " Your access is on its way." if granted else ""
    return f"Done: {what} ({done.amount}) is now linked to you here.{access}"


class ClaimButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"purchase-claim:(?P<order>[0-9a-f]{16})",
):
    """ "Yes, this was my purchase" under a claim's DM; it works across restarts."""

    def __init__(self, order_uid: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Yes, this was my purchase",
                style=discord.ButtonStyle.primary,
                custom_id=f"purchase-claim:{order_uid}",
            )
        )

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> ClaimButton:
        """Rebuild the button from its custom id."""
        return cls(match["order"])

    async def callback(self, interaction: Interaction) -> None:  # type: ignore[override]
        """Link the purchase to the member who clicked, if they were offered it."""
        runtime = interaction.client.runtime
        try:
            await interaction.response.defer()  # an update of the DM: its button goes after
            async with runtime.sessions() as session, session.begin():
                member_id = await payments.member_of_identity(
                    session, runtime.community_id, "discord", str(interaction.user.id)
                )
                done = await payments.confirm_claim(
                    session,
                    runtime.clock,
                    runtime.settings.offers,
                    community_id=runtime.community_id,
                    member_id=member_id,
                    button_id=self.item.custom_id or "",
                )
            await edit_reply(interaction, confirmed_text(done))
        except Exception as exc:  # every failure is answered by the one handler
            await report_failure(interaction, exc)


class Claims(commands.Cog):
    """/link-purchase."""

    def __init__(self, bot: FlywheelBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        """Make the confirmation buttons of earlier DMs work after a restart."""
        self.bot.add_dynamic_items(ClaimButton)

    @app_commands.command(
        name="link-purchase", description="Claim a purchase you paid for with your email"
    )
    @app_commands.describe(email="The email you paid with")
    @app_commands.guild_only()
    async def link_purchase(
        self, interaction: Interaction, email: app_commands.Range[str, 1, 254]
    ) -> None:
        """DM a confirmation for each purchase waiting under that email (never say if any)."""
        runtime = self.bot.runtime
        async with self.bot.acting(interaction) as (session, actor):
            asked = await payments.claim_purchase(
                session, runtime.clock, runtime.settings.offers, actor, email
            )
        await send_ephemeral(interaction, asked.told)
