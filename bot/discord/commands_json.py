"""The application-command payload the bot syncs (`flywheel commands discord`), built offline."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.discord.bot import FlywheelBot
from bot.runtime import build_runtime
from bot.settings import Settings


async def collect_command_payload(settings: Settings) -> list[dict[str, Any]]:
    """Load every cog into a bot that never connects and return what it would sync."""
    # Building the runtime opens nothing: the engine connects on first use, and it is unused.
    runtime = build_runtime(settings)
    try:
        bot = FlywheelBot(runtime)
        await bot.load_cogs()
        return [command.to_dict(bot.tree) for command in bot.tree.get_commands()]
    finally:
        await runtime.close()


def command_payload(settings: Settings) -> list[dict[str, Any]]:
    """Return the JSON list of commands the bot syncs (globally, or to each configured guild)."""
    return asyncio.run(collect_command_payload(settings))
