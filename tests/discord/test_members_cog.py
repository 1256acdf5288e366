"""The members cog (/link, /privacy, /about) driven through the real discord.py client."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from bot import __version__
from bot.discord.bot import WRONG_USER, FlywheelBot
from bot.discord.sender import DiscordSender
from bot.models import Identity, Member, PlatformSpace
from bot.runtime import Runtime
from bot.sandbox.discord import DiscordSandbox, RecordedCall
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.linking import CODE_ALPHABET
from bot.services.members import EXPORT_FILENAME, link_start
from bot.text import discord_escape
from tests.discord.conftest import (
    ALICE_ID,
    BOB_ID,
    COMMUNITY_NAME,
    GENERAL_ID,
    GUILD_ID,
    Answer,
    Slash,
    StartBot,
    answer,
)

EPHEMERAL = 64
CODE = re.compile(rf"\*\*([{CODE_ALPHABET}]{{8}})\*\*")


async def discord_identity(runtime: Runtime, user_id: int) -> Identity | None:
    async with runtime.sessions() as session:
        return await session.scalar(
            select(Identity)
            .join(PlatformSpace, PlatformSpace.id == Identity.space_id)
            .where(
                Identity.platform == "discord",
                Identity.user_id == str(user_id),
                PlatformSpace.external_id == str(GUILD_ID),
            )
        )


async def member(runtime: Runtime, member_id: int) -> Member:
    async with runtime.sessions() as session:
        found = await session.get(Member, member_id)
    assert found is not None
    return found


def assert_private_reply(call: RecordedCall) -> dict[str, Any]:
    assert call.status == 200
    assert call.json["type"] == 4
    assert call.json["data"]["flags"] == EPHEMERAL
    assert call.json["data"]["allowed_mentions"] == {"parse": []}
    data: dict[str, Any] = call.json["data"]
    return data


async def drain_outbox(runtime: Runtime, sandbox: DiscordSandbox) -> None:
    sender = DiscordSender(
        "sandbox-token", api_base=sandbox.api_base, limiter=runtime.dispatcher.limiter
    )
    runtime.dispatcher.register(sender)
    try:
        await runtime.dispatcher.drain()
    finally:
        await sender.close()


async def test_link_without_a_code_privately_gives_a_code_and_creates_the_member(
    bot: FlywheelBot, slash: Slash, runtime: Runtime
) -> None:
    reply = assert_private_reply(await slash("link"))

    match = CODE.search(reply["content"])
    assert match is not None
    assert f"`/flywheel link {match[1]}`" in reply["content"]
    identity = await discord_identity(runtime, ALICE_ID)
    assert identity is not None
    assert (await member(runtime, identity.member_id)).display_name == "alice"


async def test_link_with_a_code_from_slack_merges_the_two_members(
    bot: FlywheelBot, slash: Slash, runtime: Runtime
) -> None:
    slack_caller = Caller("slack", "T0001", "U0ALICE", "alice", Role.MEMBER)
    async with runtime.sessions() as session, session.begin():
        actor = await resolve_actor(
            session, runtime.clock, community_id=runtime.community_id, caller=slack_caller
        )
        issued = await link_start(session, runtime.clock, actor)

    reply = assert_private_reply(
        await slash("link", options=[{"type": 3, "name": "code", "value": issued.code}])
    )

    assert reply["content"].startswith("Your accounts are linked.")
    identity = await discord_identity(runtime, ALICE_ID)
    assert identity is not None
    assert identity.member_id == actor.member_id  # the older member is kept


async def test_a_wrong_link_code_gets_a_private_explanation(bot: FlywheelBot, slash: Slash) -> None:
    reply = assert_private_reply(
        await slash("link", options=[{"type": 3, "name": "code", "value": "WRONG123"}])
    )

    assert reply["content"].startswith("A link code has 8 letters and digits")
    assert "error id" not in reply["content"]


async def test_privacy_export_sends_the_members_data_as_a_json_file_by_dm(
    bot: FlywheelBot, slash: Slash, runtime: Runtime, sandbox: DiscordSandbox
) -> None:
    reply = assert_private_reply(await slash("privacy", options=[{"type": 1, "name": "export"}]))
    assert reply["content"].startswith("Check your DMs")

    await drain_outbox(runtime, sandbox)

    [opened] = sandbox.calls_matching("POST", "/users/@me/channels")
    assert opened.json == {"recipient_id": str(ALICE_ID)}
    dm_channel = sandbox.open_dm(ALICE_ID)
    [posted] = sandbox.calls_matching("POST", f"/channels/{dm_channel}/messages")
    assert posted.status == 200
    assert posted.files == (EXPORT_FILENAME,)
    [message] = sandbox.messages[dm_channel]
    [attachment] = message["attachments"]
    exported = json.loads(sandbox.attachments[int(attachment["id"])])
    assert {"platform": "discord", "user_id": str(ALICE_ID)}.items() <= exported["identities"][
        0
    ].items()


async def test_a_second_export_in_the_same_minute_is_not_sent_twice(
    bot: FlywheelBot, slash: Slash, runtime: Runtime, sandbox: DiscordSandbox
) -> None:
    await slash("privacy", options=[{"type": 1, "name": "export"}])
    again = assert_private_reply(await slash("privacy", options=[{"type": 1, "name": "export"}]))

    assert (
        again["content"] == "Your data is already on its way to your DMs; it will arrive shortly."
    )
    await drain_outbox(runtime, sandbox)
    assert len(sandbox.messages[sandbox.open_dm(ALICE_ID)]) == 1


async def ask_to_erase(slash: Slash, sandbox: DiscordSandbox) -> tuple[int, dict[str, str]]:
    """Make Alice a member with data, run /privacy delete as her; return the prompt and buttons."""
    await slash("link")
    reply = assert_private_reply(await slash("privacy", options=[{"type": 1, "name": "delete"}]))
    buttons = {
        button["label"]: button for row in reply["components"] for button in row["components"]
    }
    assert buttons["Erase my data"]["style"] == 4  # red
    prompt = sandbox.messages[GENERAL_ID][-1]
    return int(prompt["id"]), {label: b["custom_id"] for label, b in buttons.items()}


async def click(sandbox: DiscordSandbox, custom_id: str, message_id: int, user_id: int) -> Answer:
    interaction = await sandbox.send_component(custom_id, message_id=message_id, user_id=user_id)
    return await answer(sandbox, interaction)


async def test_confirming_privacy_delete_erases_the_member(
    bot: FlywheelBot, slash: Slash, runtime: Runtime, sandbox: DiscordSandbox
) -> None:
    prompt_id, buttons = await ask_to_erase(slash, sandbox)
    identity = await discord_identity(runtime, ALICE_ID)
    assert identity is not None

    confirmed = await click(sandbox, buttons["Erase my data"], prompt_id, ALICE_ID)

    assert confirmed.json["type"] == 7  # the prompt itself is replaced
    assert confirmed.json["data"]["content"].startswith("Done: your personal data has been erased.")
    assert confirmed.json["data"]["components"] == []
    assert (await member(runtime, identity.member_id)).erased_at is not None
    async with runtime.sessions() as session:
        left = await session.scalars(
            select(Identity).where(Identity.member_id == identity.member_id)
        )
        assert left.all() == []


async def test_only_the_member_who_asked_can_confirm_the_erasure(
    bot: FlywheelBot, slash: Slash, runtime: Runtime, sandbox: DiscordSandbox
) -> None:
    prompt_id, buttons = await ask_to_erase(slash, sandbox)

    refused = assert_private_reply(
        await click(sandbox, buttons["Erase my data"], prompt_id, BOB_ID)
    )

    assert refused["content"] == WRONG_USER
    identity = await discord_identity(runtime, ALICE_ID)
    assert identity is not None
    assert (await member(runtime, identity.member_id)).erased_at is None
    assert await discord_identity(runtime, BOB_ID) is None


async def test_cancelling_privacy_delete_keeps_everything(
    bot: FlywheelBot, slash: Slash, runtime: Runtime, sandbox: DiscordSandbox
) -> None:
    prompt_id, buttons = await ask_to_erase(slash, sandbox)

    cancelled = await click(sandbox, buttons["Cancel"], prompt_id, ALICE_ID)

    assert cancelled.json["type"] == 7
    assert cancelled.json["data"]["content"] == "Nothing was erased."
    identity = await discord_identity(runtime, ALICE_ID)
    assert identity is not None
    assert (await member(runtime, identity.member_id)).erased_at is None


async def test_about_shows_the_version_the_escaped_community_name_and_the_proof_page(
    bot: FlywheelBot, slash: Slash
) -> None:
    reply = assert_private_reply(await slash("about"))

    assert f"**Flywheel {__version__}** for {discord_escape(COMMUNITY_NAME)}" in reply["content"]
    assert "<http://127.0.0.1:8080/proof>" in reply["content"]


async def test_an_unanswered_erase_prompt_loses_its_buttons_when_it_expires(
    start_bot: StartBot, slash: Slash, sandbox: DiscordSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await start_bot()
    # discord.py loads each extension as a fresh module object: patch the one the bot runs.
    monkeypatch.setattr(bot.extensions["cogs.members"], "CONFIRM_SECONDS", 0.05)

    await slash("privacy", options=[{"type": 1, "name": "delete"}])
    expired = await sandbox.wait_for_call(
        lambda call: call.method == "PATCH" and call.path.endswith("/messages/@original")
    )

    assert expired.json["content"] == "This request expired; nothing was erased."
    assert expired.json["components"] == []
