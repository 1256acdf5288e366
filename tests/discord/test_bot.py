"""FlywheelBot against the sandbox: roles, the one error handler, syncing, intents, the platform."""

from __future__ import annotations

import asyncio
import logging
import pkgutil
import re
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.ext import commands

import cogs
from bot.clock import FakeClock
from bot.discord.bot import NOT_ALLOWED, DiscordPlatform, FlywheelBot, send_ephemeral
from bot.discord.checks import caller_from
from bot.discord.commands_json import collect_command_payload
from bot.errors import ConfigError
from bot.runtime import Runtime, build_runtime
from bot.sandbox.discord import DiscordSandbox
from bot.services.callers import Role, require
from bot.settings import Settings, load_settings
from tests.discord.conftest import (
    ALICE_ID,
    CONFIGURED_OWNER_ID,
    GENERAL_ID,
    GUILD_ID,
    GUILD_OWNER_ID,
    MANAGER_ID,
    MODERATOR_ID,
    Slash,
    StartBot,
)
from tests.effects import enqueue_row

GLOBAL_ONLY: dict[str, Any] = {"guild_ids": [], "moderator_role_ids": [], "owner_user_ids": []}
ERROR_ID = re.compile(r"Something went wrong \(error id ([0-9a-f]{8})\); the team has been told\.")

Interaction = discord.Interaction[FlywheelBot]


class Probe(commands.Cog):
    """Test-only commands that expose what the bot decides."""

    def __init__(self, bot: FlywheelBot) -> None:
        self.bot = bot

    @app_commands.command(name="whoami", description="Say which role Flywheel sees")
    async def whoami(self, interaction: Interaction) -> None:
        caller = caller_from(interaction, self.bot.runtime.settings.discord)
        await send_ephemeral(interaction, caller.role.name)

    @app_commands.command(name="moderate", description="Something only moderators may do")
    async def moderate(self, interaction: Interaction) -> None:
        async with self.bot.acting(interaction) as (_, actor):
            require(actor, Role.MODERATOR)
        await send_ephemeral(interaction, "done")

    @app_commands.command(name="configure", description="Needs Manage Server in Discord")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def configure(self, interaction: Interaction) -> None:
        await send_ephemeral(interaction, "configured")

    @app_commands.command(name="boom", description="Fails unexpectedly")
    async def boom(self, interaction: Interaction) -> None:
        raise RuntimeError("kaboom")

    @app_commands.command(name="late-boom", description="Fails after answering")
    async def late_boom(self, interaction: Interaction) -> None:
        await interaction.response.send_message("working on it", ephemeral=True)
        raise RuntimeError("kaboom after the answer")


@pytest.mark.parametrize(
    ("user_id", "role"),
    [
        (ALICE_ID, Role.MEMBER),
        (MODERATOR_ID, Role.MODERATOR),
        (MANAGER_ID, Role.MODERATOR),
        (GUILD_OWNER_ID, Role.OWNER),
        (CONFIGURED_OWNER_ID, Role.OWNER),
    ],
)
async def test_the_role_is_decided_from_settings_ownership_and_permissions(
    start_bot: StartBot, slash: Slash, user_id: int, role: Role
) -> None:
    await start_bot(Probe)

    reply = await slash("whoami", user_id=user_id)

    assert reply.json["data"]["content"] == role.name


async def test_a_member_is_told_politely_that_an_action_is_for_moderators(
    start_bot: StartBot, slash: Slash
) -> None:
    await start_bot(Probe)

    refused = await slash("moderate", user_id=ALICE_ID)
    allowed = await slash("moderate", user_id=MODERATOR_ID)

    assert refused.json["data"] == refused.json["data"] | {
        "content": "Only moderators can do that.",
        "flags": 64,
    }
    assert allowed.json["data"]["content"] == "done"


async def test_a_failed_discord_permission_check_gets_a_polite_private_reply(
    start_bot: StartBot, slash: Slash
) -> None:
    await start_bot(Probe)

    refused = await slash("configure", user_id=ALICE_ID)
    allowed = await slash("configure", user_id=MANAGER_ID)

    assert refused.json["data"]["content"] == "You need the Manage Server permission to do that."
    assert refused.json["data"]["flags"] == 64
    assert allowed.json["data"]["content"] == "configured"
    assert NOT_ALLOWED.startswith("You don't have permission")


async def test_an_unexpected_error_is_logged_with_the_id_the_member_is_shown(
    start_bot: StartBot, slash: Slash, caplog: pytest.LogCaptureFixture
) -> None:
    await start_bot(Probe)

    with caplog.at_level(logging.ERROR, logger="bot.discord.bot"):
        reply = await slash("boom")

    assert reply.json["data"]["flags"] == 64
    shown = ERROR_ID.fullmatch(reply.json["data"]["content"])
    assert shown is not None
    [record] = [r for r in caplog.records if shown[1] in r.getMessage()]
    assert record.exc_info is not None
    assert "kaboom" in str(record.exc_info[1])


async def test_an_error_after_the_answer_is_reported_in_a_private_follow_up(
    start_bot: StartBot, sandbox: DiscordSandbox
) -> None:
    await start_bot(Probe)

    await sandbox.send_slash_command(
        "late-boom", guild_id=GUILD_ID, channel_id=GENERAL_ID, user_id=ALICE_ID
    )
    followup = await sandbox.wait_for_call(
        lambda call: (
            call.method == "POST" and call.path.startswith(f"/webhooks/{sandbox.application_id}/")
        )
    )

    assert ERROR_ID.fullmatch(followup.json["content"])
    assert followup.json["flags"] == 64


async def test_commands_are_synced_to_the_configured_guild_and_cleared_globally(
    bot: FlywheelBot, sandbox: DiscordSandbox, settings: Settings
) -> None:
    application = sandbox.application_id
    [global_sync] = sandbox.calls_matching("PUT", f"/applications/{application}/commands")
    [guild_sync] = sandbox.calls_matching(
        "PUT", f"/applications/{application}/guilds/{GUILD_ID}/commands"
    )

    assert global_sync.json == []
    assert {command["name"] for command in guild_sync.json} == {
        "Mark as answer",
        "about",
        "access",
        "badge",
        "badges",
        "billing",
        "buy",
        "channel",
        "leaderboard",
        "link",
        "link-purchase",
        "offer",
        "privacy",
        "rank",
        "ritual",
        "share",
        "ugc",
    }
    assert guild_sync.json == await collect_command_payload(settings)


@pytest.mark.parametrize("discord_section", [GLOBAL_ONLY])
async def test_without_guild_ids_commands_are_synced_globally(
    bot: FlywheelBot, sandbox: DiscordSandbox, settings: Settings
) -> None:
    application = sandbox.application_id
    [global_sync] = sandbox.calls_matching("PUT", f"/applications/{application}/commands")

    assert global_sync.json == await collect_command_payload(settings)
    assert sandbox.calls_matching("PUT", f"/applications/{application}/guilds/") == []


@pytest.mark.parametrize("discord_section", [GLOBAL_ONLY])
async def test_a_command_used_in_a_dm_is_refused_with_a_pointer_to_the_server(
    bot: FlywheelBot, slash: Slash, sandbox: DiscordSandbox
) -> None:
    reply = await slash("link", guild_id=None, channel_id=sandbox.open_dm(ALICE_ID))

    assert reply.json["data"]["content"] == "Use this command in the server."
    assert reply.json["data"]["flags"] == 64


async def test_the_bot_loads_every_cog_module(bot: FlywheelBot) -> None:
    modules = {f"cogs.{m.name}" for m in pkgutil.iter_modules(cogs.__path__)}

    assert set(bot.extensions) == {m for m in modules if not m.startswith("cogs._")}


async def test_the_bot_asks_only_for_the_intents_its_features_use(
    bot: FlywheelBot, sandbox: DiscordSandbox
) -> None:
    guilds, members, guild_messages, guild_reactions = 1 << 0, 1 << 1, 1 << 9, 1 << 10

    assert sandbox.identifies[0]["intents"] == guilds | members | guild_messages | guild_reactions


@pytest.mark.parametrize("discord_section", [GLOBAL_ONLY | {"message_content_intent": True}])
async def test_message_content_is_asked_for_only_when_configured(
    bot: FlywheelBot, sandbox: DiscordSandbox
) -> None:
    assert sandbox.identifies[0]["intents"] & (1 << 15)


async def test_the_platform_reports_its_state_and_delivers_the_outbox(
    runtime: Runtime, sandbox: DiscordSandbox
) -> None:
    platform = DiscordPlatform(runtime, bot=FlywheelBot(runtime, guild_ready_timeout=0.1))
    assert platform.name == "discord"
    assert platform.status == "stopped"

    serving = asyncio.create_task(platform.start())
    await sandbox.wait_until_identified()
    await asyncio.wait_for(platform.bot.wait_until_ready(), timeout=5)
    assert platform.status == "ready"
    async with runtime.sessions() as session, session.begin():
        await enqueue_row(
            session,
            runtime.clock,
            key="welcome:alice",
            platform="discord",
            action="dm",
            target=f"user:{ALICE_ID}",
            text="Welcome!",
        )
    await runtime.dispatcher.drain()
    await platform.stop()
    await asyncio.wait_for(serving, timeout=5)

    assert platform.status == "stopped"
    [dm] = sandbox.messages[sandbox.open_dm(ALICE_ID)]
    assert dm["content"] == "Welcome!"


async def test_a_rejected_token_stops_the_platform_with_a_line_naming_discord_token(
    runtime: Runtime, sandbox: DiscordSandbox
) -> None:
    sandbox.fail_next("/users/@me", status=401, code=0, message="401: Unauthorized", method="GET")
    platform = DiscordPlatform(runtime)

    with pytest.raises(ConfigError, match=r"^DISCORD_TOKEN: Discord rejected the token"):
        await platform.start()
    await platform.stop()


async def test_a_missing_token_is_a_config_error(database_url: str, clock: FakeClock) -> None:
    runtime = build_runtime(load_settings(environ={"FLYWHEEL_DATABASE_URL": database_url}), clock)
    try:
        with pytest.raises(ConfigError, match=r"^DISCORD_TOKEN: not set"):
            DiscordPlatform(runtime)
    finally:
        await runtime.close()
