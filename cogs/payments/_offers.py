"""Offers for owners on Discord: /offer list and /offer show <offer>.

The service checks the role (owners) and counts what each offer sold; this module writes
the facts it returns, escaped.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.bot import FlywheelBot, send_ephemeral
from bot.discord.render import paged
from bot.services import payments
from cogs.payments._buy import PER_PAGE, echo, offer_choices

Interaction = discord.Interaction[FlywheelBot]


def figures_text(figures: payments.OfferFigures, *, detailed: bool) -> str:
    """Return one offer's settings and counts."""
    facts = payments.offer_facts(figures, detailed=detailed)
    head = f"**{echo(figures.offer.name)}**"
    if detailed and figures.offer.description:
        head += f"\n> {echo(figures.offer.description, 300)}"
    return "\n".join([head, *(f"{label}: {echo(value, 200)}" for label, value in facts)])


def unknown_text(overview: payments.OfferOverview) -> list[str]:
    """Return the line about paid orders naming no offer, when there are any."""
    if not overview.unknown_offer_paid:
        return []
    return [f"Paid orders naming no offer in bot.toml: {overview.unknown_offer_paid}."]


class Offers(commands.Cog):
    """/offer list|show, for owners."""

    offer = app_commands.Group(
        name="offer", description="The offers sold through Stripe (owners)", guild_only=True
    )

    def __init__(self, bot: FlywheelBot) -> None:
        self.bot = bot

    @offer.command(name="list", description="Every offer with what it sold (owners)")
    @app_commands.describe(page="Page of the list")
    async def list_offers(
        self, interaction: Interaction, page: app_commands.Range[int, 1, 100] = 1
    ) -> None:
        """List the offers of bot.toml with their counts."""
        runtime = self.bot.runtime
        async with self.bot.acting(interaction) as (session, actor):
            overview = await payments.offer_overview(session, actor, runtime.settings.offers)
        lines = [figures_text(f, detailed=False) for f in overview.offers] or [
            "No offers yet: add [offers.<slug>] tables to bot.toml."
        ]
        await send_ephemeral(
            interaction, paged(lines + unknown_text(overview), page, "/offer list", PER_PAGE)
        )

    @app_commands.autocomplete(offer=offer_choices)
    @offer.command(name="show", description="One offer's settings and what it sold (owners)")
    @app_commands.describe(offer="The offer")
    async def show(self, interaction: Interaction, offer: app_commands.Range[str, 1, 100]) -> None:
        """Show one offer in full."""
        runtime = self.bot.runtime
        async with self.bot.acting(interaction) as (session, actor):
            overview = await payments.offer_overview(session, actor, runtime.settings.offers, offer)
        await send_ephemeral(interaction, figures_text(overview.offers[0], detailed=True))
