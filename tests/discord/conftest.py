"""A real FlywheelBot against the Discord sandbox, on a real runtime and database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import discord.gateway
import discord.http
import pytest
import pytest_asyncio
from discord.ext import commands
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.discord.bot import FlywheelBot
from bot.runtime import Runtime, bootstrap_community, build_runtime
from bot.sandbox.discord import DiscordSandbox, Interaction, RecordedCall, point_discord_py_at
from bot.settings import Settings, load_settings

GUILD_ID = 910_000_000_000_000_001
GENERAL_ID = 910_000_000_000_000_010
GUILD_OWNER_ID = 910_000_000_000_000_100  # owns the server in Discord
CONFIGURED_OWNER_ID = 910_000_000_000_000_101  # listed in [discord] owner_user_ids
MODERATOR_ID = 910_000_000_000_000_102  # has the configured moderator role
MANAGER_ID = 910_000_000_000_000_103  # has a role with Manage Server
ALICE_ID = 910_000_000_000_000_104
BOB_ID = 910_000_000_000_000_105
MODERATOR_ROLE_ID = 910_000_000_000_000_200
MANAGER_ROLE_ID = 910_000_000_000_000_201
MANAGE_GUILD = 1 << 5
COMMUNITY_NAME = "Acme *Makers*"

# Callback types: a message, a deferred ("thinking") message, a deferred update, an update.
CALLBACK_MESSAGE = 4
CALLBACK_DEFERRED = 5
CALLBACK_DEFERRED_UPDATE = 6
CALLBACK_UPDATE = 7

CogFactory = Callable[[FlywheelBot], commands.Cog]
StartBot = Callable[..., Awaitable[FlywheelBot]]
Slash = Callable[..., Awaitable["Answer"]]


@dataclass(frozen=True)
class Answer:
    """What a member saw from an interaction, shaped like an immediate callback.

    ``json`` is ``{"type": …, "data": …}``: a deferred reply reads as the message (type 4)
    or update (type 7) its follow-up made, so tests need not care whether it was deferred.
    """

    json: dict[str, Any]
    callback: RecordedCall
    deferred: bool

    @property
    def status(self) -> int:
        """Return the callback's HTTP status."""
        return self.callback.status


def _toml_list(values: list[int]) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


@pytest.fixture
def discord_section() -> dict[str, Any]:
    """Return the [discord] settings; parametrize this fixture to change them."""
    return {
        "guild_ids": [GUILD_ID],
        "moderator_role_ids": [MODERATOR_ROLE_ID],
        "owner_user_ids": [CONFIGURED_OWNER_ID],
        "message_content_intent": False,
    }


@pytest.fixture
def media_section() -> dict[str, Any]:
    """Return [media] settings besides its folder; parametrize this fixture to change them."""
    return {}


@pytest.fixture
def extra_config() -> tuple[str, dict[str, str]]:
    """Return more bot.toml text and environment (e.g. offers and a secret key); override it."""
    return "", {}


@pytest.fixture
def settings(
    tmp_path: Path,
    database_url: str,
    discord_section: dict[str, Any],
    media_section: dict[str, Any],
    extra_config: tuple[str, dict[str, str]],
) -> Settings:
    """Return settings with a Discord token, the test database and the [discord] section.

    Members' files go to the test's own folder, never the working directory.
    """
    lines = ["[community]", f'name = "{COMMUNITY_NAME}"', "", "[discord]"]
    for key, value in discord_section.items():
        shown = _toml_list(value) if isinstance(value, list) else str(value).lower()
        lines.append(f"{key} = {shown}")
    lines += ["", "[media]", f"dir = {str(tmp_path / 'media')!r}"]
    lines += [f"{key} = {value}" for key, value in media_section.items()]
    config = tmp_path / "bot.toml"
    config.write_text("\n".join(lines) + "\n" + extra_config[0], encoding="utf-8")
    return load_settings(
        config,
        environ={
            "FLYWHEEL_DATABASE_URL": database_url,
            "DISCORD_TOKEN": "sandbox-token",
            **extra_config[1],
        },
    )


@pytest_asyncio.fixture
async def runtime(
    settings: Settings,
    clock: FakeClock,
    committed: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Runtime]:
    """Return a runtime on the test database (emptied afterwards), with its community."""
    runtime = build_runtime(settings, clock=clock)
    await bootstrap_community(runtime)
    yield runtime
    await runtime.close()


@pytest_asyncio.fixture
async def sandbox(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[DiscordSandbox]:
    """Return a started sandbox with one seeded guild; discord.py points at it for this test."""
    sandbox = DiscordSandbox(clock=clock.monotonic)
    sandbox.add_guild(GUILD_ID, "Acme HQ", owner_id=GUILD_OWNER_ID)
    sandbox.add_channel(GUILD_ID, GENERAL_ID, "general")
    sandbox.add_role(GUILD_ID, MODERATOR_ROLE_ID, "Moderators")
    sandbox.add_role(GUILD_ID, MANAGER_ROLE_ID, "Managers", permissions=MANAGE_GUILD)
    sandbox.add_member(GUILD_ID, GUILD_OWNER_ID, "owner")
    sandbox.add_member(GUILD_ID, CONFIGURED_OWNER_ID, "configured-owner")
    sandbox.add_member(GUILD_ID, MODERATOR_ID, "moderator", roles=[MODERATOR_ROLE_ID])
    sandbox.add_member(GUILD_ID, MANAGER_ID, "manager", roles=[MANAGER_ROLE_ID])
    sandbox.add_member(GUILD_ID, ALICE_ID, "alice")
    sandbox.add_member(GUILD_ID, BOB_ID, "bob")
    await sandbox.start()
    # point_discord_py_at is process-global: monkeypatch puts the real endpoints back.
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket,
        "DEFAULT_GATEWAY",
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
    )
    point_discord_py_at(sandbox)
    yield sandbox
    await sandbox.stop()


@pytest_asyncio.fixture
async def start_bot(runtime: Runtime, sandbox: DiscordSandbox) -> AsyncIterator[StartBot]:
    """Return a function that starts a FlywheelBot (plus optional test cogs) until it is ready."""
    started: list[tuple[FlywheelBot, asyncio.Task[None]]] = []

    async def start(*extra_cogs: CogFactory) -> FlywheelBot:
        bot = FlywheelBot(runtime, guild_ready_timeout=0.1)
        for make_cog in extra_cogs:
            await bot.add_cog(make_cog(bot))
        task = asyncio.create_task(bot.start("sandbox-token"))
        started.append((bot, task))
        identified = asyncio.ensure_future(sandbox.wait_until_identified(count=len(started)))
        await asyncio.wait({task, identified}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            identified.cancel()
            task.result()  # a failed login or setup_hook surfaces here, not as a timeout
        await identified
        await asyncio.wait_for(bot.wait_until_ready(), timeout=5)
        return bot

    yield start
    for bot, task in started:
        await bot.close()
        if not task.done():
            await asyncio.wait_for(task, timeout=5)


@pytest_asyncio.fixture
async def bot(start_bot: StartBot) -> FlywheelBot:
    """Return a running FlywheelBot with the real cogs."""
    return await start_bot()


@pytest.fixture
def slash(sandbox: DiscordSandbox) -> Slash:
    """Return a function that runs a slash command and returns the interaction's callback."""

    async def run(
        name: str,
        *,
        user_id: int = ALICE_ID,
        options: list[dict[str, Any]] | None = None,
        guild_id: int | None = GUILD_ID,
        channel_id: int = GENERAL_ID,
    ) -> RecordedCall:
        interaction = await sandbox.send_slash_command(
            name, guild_id=guild_id, channel_id=channel_id, user_id=user_id, options=options
        )
        return await answer(sandbox, interaction)

    return run


async def answer(sandbox: DiscordSandbox, interaction: Interaction) -> Answer:
    """Wait for what the member saw from an interaction (see :class:`Answer`)."""
    callback = await sandbox.wait_for_call(
        lambda call: call.path == interaction.callback_path and call.status < 300
    )
    kind = callback.json["type"]
    if kind not in (CALLBACK_DEFERRED, CALLBACK_DEFERRED_UPDATE):
        return Answer(callback.json, callback, deferred=False)
    body = await answer_of(sandbox, interaction)
    shown = CALLBACK_MESSAGE if kind == CALLBACK_DEFERRED else CALLBACK_UPDATE
    return Answer({"type": shown, "data": body}, callback, deferred=True)


async def answer_of(sandbox: DiscordSandbox, interaction: Interaction) -> dict[str, Any]:
    """Wait for what the member sees: the callback's message, or the follow-up of a deferral.

    Returns the message body the sandbox accepted (content, flags, components). A refused
    callback or follow-up is not an answer: the member saw nothing from it.
    """
    callback = await sandbox.wait_for_call(
        lambda call: call.path == interaction.callback_path and call.status < 300
    )
    kind = callback.json["type"]
    if kind in (CALLBACK_MESSAGE, CALLBACK_UPDATE):
        return dict(callback.json.get("data") or {})
    if kind not in (CALLBACK_DEFERRED, CALLBACK_DEFERRED_UPDATE):
        raise AssertionError(f"callback type {kind} carries no message")
    webhook = f"/webhooks/{sandbox.application_id}/{interaction.token}"
    followup = await sandbox.wait_for_call(
        lambda call: (
            call.path.startswith(webhook) and call.method in ("POST", "PATCH") and call.status < 300
        )
    )
    body = dict(followup.json or {})
    if kind == CALLBACK_DEFERRED:
        body.setdefault("flags", callback.json.get("data", {}).get("flags", 0))
    return body
