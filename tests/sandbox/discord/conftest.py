"""What the Discord sandbox tests share: a seeded sandbox on a wall clock they can move, a bot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import discord
import discord.gateway
import discord.http
import pytest
from discord.ext import commands

from bot.sandbox.discord import DiscordSandbox, point_discord_py_at

GUILD_ID = 900_000_000_000_000_001
GENERAL_ID = 900_000_000_000_000_010
OWNER_ID = 900_000_000_000_000_100
ALICE_ID = 900_000_000_000_000_101
REGULARS_ID = 900_000_000_000_000_200
GUILD = discord.Object(id=GUILD_ID)


class WallClock:
    """The sandbox's wall clock, moved by hand (message times, snowflakes, CDN expiry)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def wall() -> WallClock:
    return WallClock()


@pytest.fixture
async def sandbox(wall: WallClock) -> AsyncIterator[DiscordSandbox]:
    sandbox = DiscordSandbox(wall_clock=wall)
    sandbox.add_guild(GUILD_ID, "Flywheel HQ", owner_id=OWNER_ID)
    sandbox.add_channel(GUILD_ID, GENERAL_ID, "general")
    sandbox.add_member(GUILD_ID, OWNER_ID, "owner")
    sandbox.add_member(GUILD_ID, ALICE_ID, "alice")
    await sandbox.start()
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    point_discord_py_at(sandbox)
    try:
        yield sandbox
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved
        await sandbox.stop()


def make_bot(*, intents: discord.Intents | None = None) -> commands.Bot:
    # The sandbox sends every GUILD_CREATE straight after READY, so on_ready need not wait the
    # default 2 s for late guilds.
    return commands.Bot(
        command_prefix="!", intents=intents or discord.Intents.default(), guild_ready_timeout=0.1
    )


@asynccontextmanager
async def running(bot: commands.Bot, sandbox: DiscordSandbox) -> AsyncIterator[commands.Bot]:
    """Run the bot against the sandbox until it has its guilds, and close it afterwards."""
    task = asyncio.create_task(bot.start("sandbox-token"))
    identified = asyncio.ensure_future(sandbox.wait_until_identified(timeout=5))
    try:
        await asyncio.wait({task, identified}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # surfaces a failed login instead of a bare timeout
        await identified
        await asyncio.wait_for(bot.wait_until_ready(), timeout=5)
        yield bot
    finally:
        identified.cancel()
        await bot.close()
        await asyncio.wait_for(task, timeout=5)
