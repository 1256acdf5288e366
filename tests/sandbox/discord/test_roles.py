"""The Discord sandbox refuses role changes as Discord does, seen through discord.py."""

from __future__ import annotations

import asyncio

import discord
import pytest

from bot.sandbox.discord import DiscordSandbox
from tests.sandbox.discord.conftest import ALICE_ID, GUILD_ID, REGULARS_ID, make_bot, running


def _members_intent() -> discord.Intents:
    intents = discord.Intents.default()
    intents.members = True
    return intents


async def test_a_role_placed_above_the_bots_is_refused_with_50013_and_moving_it_down_fixes_it(
    sandbox: DiscordSandbox,
) -> None:
    sandbox.add_role(GUILD_ID, REGULARS_ID, "regulars")
    async with running(make_bot(), sandbox) as bot:
        guild = bot.get_guild(GUILD_ID)
        assert guild is not None
        moved = asyncio.ensure_future(
            bot.wait_for("guild_role_update", check=lambda _, after: after.id == REGULARS_ID)
        )
        await sandbox.place_above_bot(GUILD_ID, REGULARS_ID)
        await asyncio.wait_for(moved, timeout=5)
        regulars = guild.get_role(REGULARS_ID)
        assert regulars is not None and regulars > guild.me.top_role
        with pytest.raises(discord.Forbidden) as refused:
            await bot.http.add_role(GUILD_ID, ALICE_ID, REGULARS_ID)

        await sandbox.move_role(GUILD_ID, REGULARS_ID, 1)
        await bot.http.add_role(GUILD_ID, ALICE_ID, REGULARS_ID)

    assert (refused.value.status, refused.value.code) == (403, 50013)
    assert refused.value.text == "Missing Permissions"
    assert sandbox.role_position(GUILD_ID, REGULARS_ID) == 1
    assert REGULARS_ID in sandbox.member_roles(GUILD_ID, ALICE_ID)


async def test_a_bot_without_manage_roles_is_refused_unless_a_role_makes_it_administrator(
    sandbox: DiscordSandbox,
) -> None:
    sandbox.add_role(GUILD_ID, REGULARS_ID, "regulars")
    async with running(make_bot(), sandbox) as bot:
        guild = bot.get_guild(GUILD_ID)
        assert guild is not None
        await sandbox.take_manage_roles(GUILD_ID)
        with pytest.raises(discord.Forbidden) as refused:
            await bot.http.add_role(GUILD_ID, ALICE_ID, REGULARS_ID)
        bot_role = sandbox.bot_role_id(GUILD_ID)
        await sandbox.set_role_permissions(GUILD_ID, bot_role, discord.Permissions(8).value)
        await bot.http.add_role(GUILD_ID, ALICE_ID, REGULARS_ID)

    assert refused.value.code == 50013
    assert REGULARS_ID in sandbox.member_roles(GUILD_ID, ALICE_ID)


async def test_a_deleted_role_is_unknown_and_leaves_every_member(sandbox: DiscordSandbox) -> None:
    sandbox.add_role(GUILD_ID, REGULARS_ID, "regulars")
    sandbox.add_member(GUILD_ID, ALICE_ID, "alice", roles=[REGULARS_ID])
    async with running(make_bot(), sandbox) as bot:
        guild = bot.get_guild(GUILD_ID)
        assert guild is not None
        deleted = asyncio.ensure_future(bot.wait_for("guild_role_delete"))
        await sandbox.delete_role(GUILD_ID, REGULARS_ID)
        await asyncio.wait_for(deleted, timeout=5)
        with pytest.raises(discord.NotFound) as unknown:
            await bot.http.add_role(GUILD_ID, ALICE_ID, REGULARS_ID)
        assert guild.get_role(REGULARS_ID) is None

    assert unknown.value.code == 10011
    assert sandbox.member_roles(GUILD_ID, ALICE_ID) == []


async def test_leaving_dispatches_guild_member_remove_and_the_member_is_then_unknown(
    sandbox: DiscordSandbox,
) -> None:
    async with running(make_bot(intents=_members_intent()), sandbox) as bot:
        left = asyncio.ensure_future(bot.wait_for("raw_member_remove"))
        await sandbox.send_member_remove(GUILD_ID, ALICE_ID)
        payload = await asyncio.wait_for(left, timeout=5)
        with pytest.raises(discord.NotFound) as unknown:
            await bot.http.get_member(GUILD_ID, ALICE_ID)

    assert (payload.guild_id, payload.user.id) == (GUILD_ID, ALICE_ID)
    assert unknown.value.code == 10007
