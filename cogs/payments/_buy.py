"""Buying on Discord: /buy [offer] gives a member their personal signed links, /billing their
Stripe billing page. Both answers are ephemeral: a link names the member who asked.

The service (:mod:`bot.services.payments`) signs the links and finds the Stripe customer;
this module calls it and writes the answer (offer names escaped, links not embedded).
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.bot import FlywheelBot, send_ephemeral
from bot.discord.render import fit_choices, paged
from bot.inputs import shorten
from bot.services import payments
from bot.text import discord_escape

Interaction = discord.Interaction[FlywheelBot]
PER_PAGE = 8


def echo(text: str, limit: int = 80) -> str:
    """Return bot.toml text to show: cut, then escaped."""
    return discord_escape(shorten(text, limit))


def link_line(link: payments.BuyLink) -> str:
    """Return one offer and the member's link to it (in <> so Discord shows no preview)."""
    kind = " (subscription)" if link.offer.mode == "subscription" else ""
    line = f"**{echo(link.offer.name)}**{kind}: <{link.url}>"
    if link.offer.description:
        line += f"\n> {echo(link.offer.description, 150)}"
    return line


async def offer_choices(interaction: Interaction, typed: str) -> list[app_commands.Choice[str]]:
    """Offer the offers whose slug or name contains what is typed."""
    wanted = typed.strip().casefold()
    offers = interaction.client.runtime.settings.offers
    found = (
        (offer.name, slug)
        for slug, offer in sorted(offers.items())
        if wanted in slug or wanted in offer.name.casefold()
    )
    return [app_commands.Choice(name=name, value=value) for name, value in fit_choices(found)]


class Buying(commands.Cog):
    """/buy and /billing, for every member."""

    def __init__(self, bot: FlywheelBot) -> None:
        self.bot = bot

    @app_commands.command(name="buy", description="Your personal link to buy an offer")
    @app_commands.describe(offer="Which offer (default: every offer)", page="Page of the list")
    @app_commands.autocomplete(offer=offer_choices)
    @app_commands.guild_only()
    async def buy(
        self,
        interaction: Interaction,
        offer: app_commands.Range[str, 1, 100] | None = None,
        page: app_commands.Range[int, 1, 100] = 1,
    ) -> None:
        """Give the member their signed link to one offer, or to each offer."""
        runtime = self.bot.runtime
        async with self.bot.acting(interaction) as (session, actor):
            links = await payments.buy_links(
                session, runtime.clock, actor, runtime.settings, offer=offer
            )
        lines = [link_line(link) for link in links]
        lines.append(
            f"Your personal link{'s' if len(links) > 1 else ''}, valid until "
            f"{links[0].expires_at:%d %b %Y}: it tells the shop it's you, so keep it to yourself."
        )
        await send_ephemeral(interaction, paged(lines, page, "/buy", PER_PAGE))

    @app_commands.command(
        name="billing", description="Your billing page: update your card or cancel"
    )
    @app_commands.guild_only()
    async def billing(self, interaction: Interaction) -> None:
        """Give a paying member a link to Stripe's billing portal."""
        runtime = self.bot.runtime
        async with self.bot.acting(interaction) as (session, actor):
            customer = await payments.billing_customer(session, actor)
        if customer is None:
            claim = runtime.commands.spell("discord", "link-purchase")
            await send_ephemeral(interaction, payments.NO_PURCHASE.format(link_purchase=claim))
            return
        portal = await payments.open_portal(
            runtime.stripe, customer, runtime.settings.web.public_url
        )
        await send_ephemeral(
            interaction,
            f"Your billing page, to update your card or cancel: <{portal.url}>\n"
            "It is yours alone and works for a short while; ask again for a fresh one.",
        )
