"""Payments on Discord: one cog per part, each in its own module.

Every rule lives in :mod:`bot.services.payments`; these modules parse, call it and render.
"""

from __future__ import annotations

from bot.discord.bot import FlywheelBot
from cogs.payments._access import Access
from cogs.payments._buy import Buying
from cogs.payments._claims import Claims
from cogs.payments._offers import Offers


async def setup(bot: FlywheelBot) -> None:
    """Load payments' cogs (one line per part)."""
    await bot.add_cog(Access(bot))
    await bot.add_cog(Claims(bot))
    await bot.add_cog(Buying(bot))
    await bot.add_cog(Offers(bot))
