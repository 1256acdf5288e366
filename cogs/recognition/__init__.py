"""Recognition on Discord: one cog per part, each in its own module.

Parts: chat and reactions feeding points, accepted answers, badges, and the boards
(/rank, /leaderboard, opting out). Every rule and check lives in
:mod:`bot.services.recognition`; these modules parse, call it and render the answer.
"""

from __future__ import annotations

from bot.discord.bot import FlywheelBot
from cogs.recognition import _answers, _boards
from cogs.recognition._badges import Badges
from cogs.recognition._chat import Chat


async def setup(bot: FlywheelBot) -> None:
    """Load recognition's cogs (one line per part)."""
    await bot.add_cog(Chat(bot))
    await _boards.setup(bot)
    await _answers.setup(bot)
    await bot.add_cog(Badges(bot))
