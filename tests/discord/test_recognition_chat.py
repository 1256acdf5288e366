"""Chat and reactions feeding points on Discord, end to end: the real client against the
sandbox gateway, the recognition cog, the ingest pipeline and the ledger."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.models import Activity, Identity, Member, PlatformSpace
from bot.runtime import Runtime
from bot.sandbox.discord import DiscordSandbox
from bot.settings import Settings, load_settings
from tests.discord.conftest import (
    ALICE_ID,
    BOB_ID,
    GENERAL_ID,
    GUILD_ID,
    MODERATOR_ID,
    MODERATOR_ROLE_ID,
)
from tests.log_waiter import LogWaiter

OFFTOPIC_ID = 910_000_000_000_000_011
OFFTOPIC_THREAD_ID = 910_000_000_000_000_012
ROBO_ID = 910_000_000_000_000_150
PUBLIC_THREAD = 11


@pytest.fixture
def content_intent() -> bool:
    """Ask for the Message Content intent (parametrize to leave it off)."""
    return True


@pytest.fixture
def settings(tmp_path: Path, database_url: str, content_intent: bool) -> Settings:
    """Read message text (lengths and digests need it); #offtopic earns nothing."""
    config = tmp_path / "bot.toml"
    config.write_text(
        '[community]\nname = "Acme"\n'
        f"[discord]\nguild_ids = [{GUILD_ID}]\nmoderator_role_ids = [{MODERATOR_ROLE_ID}]\n"
        f"message_content_intent = {str(content_intent).lower()}\n"
        f'[recognition]\nignored_channels = ["{OFFTOPIC_ID}"]\n'
        f"[media]\ndir = {str(tmp_path / 'media')!r}\n",
        encoding="utf-8",
    )
    return load_settings(
        config, environ={"FLYWHEEL_DATABASE_URL": database_url, "DISCORD_TOKEN": "sandbox-token"}
    )


@pytest.fixture
def workspace(sandbox: DiscordSandbox) -> None:
    """Add an ignored channel with a thread, and another bot that talks."""
    sandbox.add_channel(GUILD_ID, OFFTOPIC_ID, "offtopic")
    sandbox.add_channel(GUILD_ID, OFFTOPIC_THREAD_ID, "memes", PUBLIC_THREAD, parent_id=OFFTOPIC_ID)
    sandbox.add_member(GUILD_ID, ROBO_ID, "robo", bot=True)


@pytest.fixture
def chat_log(log_waiter: Callable[[str], LogWaiter]) -> LogWaiter:
    """Collect what the recognition cog logs (reactions are answered to nobody)."""
    return log_waiter("cogs.recognition._chat")


async def points(runtime: Runtime, user_id: int) -> int | None:
    async with runtime.sessions() as session:
        return await session.scalar(
            select(Member.points_total)
            .join(Identity, Identity.member_id == Member.id)
            .where(Identity.platform == "discord", Identity.user_id == str(user_id))
        )


async def written(runtime: Runtime, submitted: int) -> None:
    """Wait until the cog has queued this many messages in all, then write the queue."""
    await asyncio.wait_for(runtime.ingest.wait_received(submitted), timeout=10)
    await runtime.ingest.flush()


async def test_a_hundred_messages_in_a_minute_earn_points_once(bot, runtime, sandbox):
    for n in range(100):
        await sandbox.send_message_create(
            GENERAL_ID, ALICE_ID, f"hello everyone, this is message {n}", guild_id=GUILD_ID
        )

    await written(runtime, 100)

    assert await points(runtime, ALICE_ID) == 5
    assert runtime.ingest.stats.counted == 1
    assert runtime.ingest.stats.skipped["cooldown"] == 99
    async with runtime.sessions() as session:
        (row,) = (await session.scalars(select(Activity))).all()
    # One row per message, keyed by the message; the text itself is kept nowhere.
    assert row.kind == "message" and row.source_key.startswith(f"msg:discord:{GENERAL_ID}:")
    assert row.source_ref is None


@pytest.mark.usefixtures("workspace")
async def test_bots_short_repeated_and_ignored_channel_messages_earn_nothing(bot, runtime, sandbox):
    send = sandbox.send_message_create
    await send(GENERAL_ID, ROBO_ID, "a bot saying something long", guild_id=GUILD_ID)
    await send(GENERAL_ID, BOB_ID, "ok", guild_id=GUILD_ID)
    await send(OFFTOPIC_ID, MODERATOR_ID, "a long message in offtopic", guild_id=GUILD_ID)
    await send(OFFTOPIC_THREAD_ID, MODERATOR_ID, "a long message in its thread", guild_id=GUILD_ID)
    await send(GENERAL_ID, ALICE_ID, "my first real message", guild_id=GUILD_ID)
    await written(runtime, 5)

    assert runtime.ingest.stats.skipped == {"bot": 1, "short": 1, "ignored_channel": 2}
    assert (await points(runtime, ALICE_ID), await points(runtime, ROBO_ID)) == (5, None)

    # The same words again earn nothing, even with the cooldown out of the way.
    runtime.ingest.rules = replace(runtime.ingest.rules, cooldown_seconds=0)
    await send(GENERAL_ID, ALICE_ID, "My first   REAL message", guild_id=GUILD_ID)
    await written(runtime, 6)

    assert runtime.ingest.stats.skipped["repeated"] == 1
    assert await points(runtime, ALICE_ID) == 5


async def test_invisible_characters_neither_make_a_message_long_nor_make_repeated_text_new(
    bot, runtime, sandbox
):
    send = sandbox.send_message_create
    await send(GENERAL_ID, BOB_ID, "\u200b" * 12, guild_id=GUILD_ID)  # shows nothing
    await send(GENERAL_ID, BOB_ID, "ok\u200b\u200b\u200b\u2060\u2060", guild_id=GUILD_ID)
    await send(GENERAL_ID, ALICE_ID, "thanks for the help", guild_id=GUILD_ID)
    await written(runtime, 3)
    assert runtime.ingest.stats.skipped == {"short": 2}

    runtime.ingest.rules = replace(runtime.ingest.rules, cooldown_seconds=0)
    await send(GENERAL_ID, ALICE_ID, "thanks\u200b for\u00a0the help\u200d", guild_id=GUILD_ID)
    await written(runtime, 4)

    assert runtime.ingest.stats.skipped["repeated"] == 1
    assert await points(runtime, ALICE_ID) == 5
    assert (await points(runtime, BOB_ID) or 0) == 0


@pytest.mark.usefixtures("workspace")
async def test_a_reaction_from_another_member_earns_the_author_a_point_never_their_own(
    bot, runtime, sandbox, chat_log
):
    message = await sandbox.send_message_create(
        GENERAL_ID, ALICE_ID, "look what I built", guild_id=GUILD_ID
    )

    await sandbox.send_reaction_add(GENERAL_ID, message, ALICE_ID, "👍", guild_id=GUILD_ID)
    await chat_log.wait_for(rf"reaction on message {message}: self")
    # Rituals' check-in listener may have made her a member; she earned nothing.
    assert (await points(runtime, ALICE_ID) or 0) == 0

    await sandbox.send_reaction_add(GENERAL_ID, message, BOB_ID, "👍", guild_id=GUILD_ID)
    await chat_log.wait_for(rf"reaction on message {message}: counted \(\+1\)")
    assert await points(runtime, ALICE_ID) == 1
    assert await points(runtime, BOB_ID) == 0

    # A reaction on a bot's message earns nobody anything.
    said = await sandbox.send_message_create(
        GENERAL_ID, ROBO_ID, "beep boop, a bot message", guild_id=GUILD_ID
    )
    await sandbox.send_reaction_add(GENERAL_ID, said, BOB_ID, "🎉", guild_id=GUILD_ID)
    await chat_log.wait_for(rf"reaction on message {said}: bot")

    # The message itself earns chat points once the queue is written.
    await written(runtime, 2)
    assert await points(runtime, ALICE_ID) == 6
    async with runtime.sessions() as session:
        kinds = sorted(await session.scalars(select(Activity.kind)))
    assert kinds == ["message", "reaction"]


@pytest.mark.usefixtures("workspace")
async def test_a_reaction_in_an_ignored_channel_or_its_thread_earns_nothing(
    bot, runtime, sandbox, chat_log
):
    for channel in (OFFTOPIC_ID, OFFTOPIC_THREAD_ID):
        message = await sandbox.send_message_create(
            channel, ALICE_ID, "a meme nobody should farm", guild_id=GUILD_ID
        )
        await sandbox.send_reaction_add(channel, message, BOB_ID, "😂", guild_id=GUILD_ID)
        await chat_log.wait_for(rf"reaction on message {message}: ignored_channel \(\+0\)")

    assert (await points(runtime, ALICE_ID) or 0) == 0
    async with runtime.sessions() as session:
        assert list(await session.scalars(select(Activity.kind))) == []


STRANGER_GUILD_ID = 910_000_000_000_000_900
STRANGER_CHANNEL_ID = 910_000_000_000_000_901


@pytest.fixture
def stranger_guild(sandbox: DiscordSandbox) -> None:
    """A guild outside [discord] guild_ids that invited the bot on its own."""
    sandbox.add_guild(STRANGER_GUILD_ID, "Farm", owner_id=BOB_ID)
    sandbox.add_channel(STRANGER_GUILD_ID, STRANGER_CHANNEL_ID, "farm")
    sandbox.add_member(STRANGER_GUILD_ID, ALICE_ID, "alice")
    sandbox.add_member(STRANGER_GUILD_ID, BOB_ID, "bob")


@pytest.mark.usefixtures("stranger_guild")
async def test_chat_and_reactions_in_a_guild_not_configured_earn_nothing_and_bind_nothing(
    bot, runtime, sandbox, chat_log
):
    assert bot.get_guild(STRANGER_GUILD_ID) is not None
    message = await sandbox.send_message_create(
        STRANGER_CHANNEL_ID, ALICE_ID, "farming points elsewhere", guild_id=STRANGER_GUILD_ID
    )
    await sandbox.send_reaction_add(
        STRANGER_CHANNEL_ID, message, BOB_ID, "👍", guild_id=STRANGER_GUILD_ID
    )
    # Then the same in the community's guild, which is heard after the stranger's.
    ours = await sandbox.send_message_create(
        GENERAL_ID, ALICE_ID, "a message at home", guild_id=GUILD_ID
    )
    await sandbox.send_reaction_add(GENERAL_ID, ours, BOB_ID, "👍", guild_id=GUILD_ID)
    await chat_log.wait_for(rf"reaction on message {ours}: counted")
    await written(runtime, 1)

    assert runtime.ingest.stats.received == 1  # the stranger guild's message was not queued
    async with runtime.sessions() as session:
        keys = sorted(await session.scalars(select(Activity.source_key)))
        earned = await session.scalar(select(func.sum(Member.points_total)))
    assert [k.split(":")[:1] + k.split(":")[2:4] for k in keys] == [
        ["msg", str(GENERAL_ID), str(ours)],
        ["reaction", "discord", str(GENERAL_ID)],
    ]
    assert earned == 6
    # Rituals' listener heard the stranger's reaction too: it binds nothing either.
    listeners = [t for t in asyncio.all_tasks() if "on_raw_reaction_add" in t.get_name()]
    await asyncio.gather(*listeners)
    async with runtime.sessions() as session:
        spaces = set(await session.scalars(select(PlatformSpace.external_id)))
    assert str(GUILD_ID) in spaces and str(STRANGER_GUILD_ID) not in spaces


@pytest.mark.parametrize("content_intent", [False], ids=["message-content-intent-off"])
async def test_without_the_message_content_intent_chat_is_not_queued_and_the_log_says_why(
    start_bot, runtime, sandbox, caplog
):
    caplog.set_level(logging.WARNING, logger="cogs.recognition._chat")
    bot = await start_bot()
    assert not bot.intents.message_content
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "cogs.recognition._chat"]
    assert "message_content_intent = true" in warning

    heard = asyncio.ensure_future(bot.wait_for("message"))
    await sandbox.send_message_create(GENERAL_ID, ALICE_ID, "a long enough message", GUILD_ID)
    assert (await asyncio.wait_for(heard, timeout=5)).content == ""  # Discord sent no text
    # The listeners were scheduled when the message was dispatched: let them all finish.
    listeners = [t for t in asyncio.all_tasks() if t.get_name() == "discord.py: on_message"]
    await asyncio.gather(*listeners)

    assert runtime.ingest.stats.received == 0
