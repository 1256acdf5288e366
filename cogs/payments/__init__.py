"""Payments on Discord: one cog per part, each in its own module.

Every rule lives in :mod:`bot.services.payments`; these modules parse, call it and render.
"""

from __future__ import annotations

from bot.discord.bot import FlywheelBot


async def setup(bot: FlywheelBot) -> None:
    """Load payments' cogs (one line per part)."""
