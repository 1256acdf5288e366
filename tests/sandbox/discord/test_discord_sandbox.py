"""The Discord sandbox runs the real discord.py client end to end, over the wire."""

from __future__ import annotations

import asyncio

import discord
import discord.gateway
import discord.http
import pytest
from discord import app_commands
from discord.ext import commands

from bot.sandbox.discord import DiscordSandbox
from tests.sandbox.discord.conftest import (
    ALICE_ID,
    GENERAL_ID,
    GUILD,
    GUILD_ID,
    OWNER_ID,
    REGULARS_ID,
    make_bot,
    running,
)


@app_commands.command(name="ping", description="Check that the bot answers")
async def ping(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("pong", ephemeral=True)


class PingBot(commands.Bot):
    async def setup_hook(self) -> None:
        self.tree.add_command(ping, guild=GUILD)
        await self.tree.sync(guild=GUILD)


async def test_a_guild_slash_command_gets_an_ephemeral_reply(sandbox: DiscordSandbox) -> None:
    bot = PingBot(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1)
    async with running(bot, sandbox):
        interaction = await sandbox.send_slash_command(
            "ping", guild_id=GUILD_ID, channel_id=GENERAL_ID, user_id=ALICE_ID
        )
        call = await sandbox.wait_for_call(lambda c: c.path == interaction.callback_path)

    assert call.status == 200
    assert call.json["type"] == 4
    assert call.json["data"]["content"] == "pong"
    assert call.json["data"]["flags"] == 64
    [synced] = sandbox.calls_matching("PUT", f"/applications/{sandbox.application_id}/guilds/")
    assert [c["name"] for c in synced.json] == ["ping"]


async def test_sending_twice_with_the_same_nonce_creates_one_message(
    sandbox: DiscordSandbox,
) -> None:
    async with running(make_bot(), sandbox) as bot:
        channel = bot.get_channel(GENERAL_ID)
        assert isinstance(channel, discord.TextChannel)
        first = await channel.send("hi", nonce=424242)
        second = await channel.send("hi", nonce=424242)

    assert second.id == first.id
    assert [m["content"] for m in sandbox.messages[GENERAL_ID]] == ["hi"]
    posts = sandbox.calls_matching("POST", f"/channels/{GENERAL_ID}/messages")
    assert [c.json["enforce_nonce"] for c in posts] == [True, True]


async def test_a_dm_to_a_user_who_closed_dms_raises_forbidden_50007(
    sandbox: DiscordSandbox,
) -> None:
    sandbox.close_dms(ALICE_ID)
    async with running(make_bot(), sandbox) as bot:
        alice = await bot.fetch_user(ALICE_ID)
        with pytest.raises(discord.Forbidden) as raised:
            await alice.send("Welcome aboard!")

    assert raised.value.code == 50007
    assert raised.value.status == 403


async def test_a_rate_limited_send_is_retried_and_delivered_once(
    sandbox: DiscordSandbox,
) -> None:
    sandbox.rate_limit_next(f"/channels/{GENERAL_ID}/messages", retry_after=0.05)
    async with running(make_bot(), sandbox) as bot:
        channel = bot.get_channel(GENERAL_ID)
        assert isinstance(channel, discord.TextChannel)
        await channel.send("after the limit")

    posts = sandbox.calls_matching("POST", f"/channels/{GENERAL_ID}/messages")
    assert [c.status for c in posts] == [429, 200]
    assert posts[1].at - posts[0].at >= 0.05
    assert [m["content"] for m in sandbox.messages[GENERAL_ID]] == ["after the limit"]


class ConfirmView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)
        self.clicked_by: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    @discord.ui.button(label="Confirm", custom_id="confirm")
    async def confirm(
        self, interaction: discord.Interaction, _: discord.ui.Button[ConfirmView]
    ) -> None:
        await interaction.response.send_message("Confirmed", ephemeral=True)
        self.clicked_by.set_result(interaction.user.id)


async def test_a_button_click_reaches_the_view_callback(sandbox: DiscordSandbox) -> None:
    async with running(make_bot(), sandbox) as bot:
        channel = bot.get_channel(GENERAL_ID)
        assert isinstance(channel, discord.TextChannel)
        view = ConfirmView()
        message = await channel.send("Join the weekly ritual?", view=view)
        interaction = await sandbox.send_component(
            "confirm", message_id=message.id, user_id=ALICE_ID
        )

        assert await asyncio.wait_for(view.clicked_by, timeout=5) == ALICE_ID
        call = await sandbox.wait_for_call(lambda c: c.path == interaction.callback_path)

    assert call.json["type"] == 4
    assert call.json["data"]["content"] == "Confirmed"


class SuggestionModal(discord.ui.Modal, title="Suggest a ritual"):
    idea: discord.ui.TextInput[SuggestionModal] = discord.ui.TextInput(
        label="Idea", custom_id="idea"
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"Thanks for: {self.idea.value}", ephemeral=True)


@app_commands.command(name="suggest", description="Suggest a ritual")
async def suggest(interaction: discord.Interaction) -> None:
    await interaction.response.send_modal(SuggestionModal(custom_id="suggestion"))


async def test_a_modal_opened_by_a_command_receives_the_submitted_fields(
    sandbox: DiscordSandbox,
) -> None:
    bot = make_bot()
    bot.tree.add_command(suggest)  # global and never synced: dispatch needs no sync
    async with running(bot, sandbox):
        opened = await sandbox.send_slash_command(
            "suggest", guild_id=GUILD_ID, channel_id=GENERAL_ID, user_id=ALICE_ID
        )
        modal = await sandbox.wait_for_call(lambda c: c.path == opened.callback_path)
        submitted = await sandbox.send_modal_submit(
            "suggestion", {"idea": "Friday demos"}, channel_id=GENERAL_ID, user_id=ALICE_ID
        )
        reply = await sandbox.wait_for_call(lambda c: c.path == submitted.callback_path)

    assert modal.json["type"] == 9
    assert reply.json["data"]["content"] == "Thanks for: Friday demos"


kudos = app_commands.Group(name="kudos", description="Recognise a member")


@kudos.command(name="give", description="Give kudos")
async def give(interaction: discord.Interaction, member: discord.Member, reason: str) -> None:
    await interaction.response.send_message(f"Kudos to {member.display_name} for {reason}")


async def test_a_subcommand_gets_its_member_option_resolved(sandbox: DiscordSandbox) -> None:
    bot = make_bot()
    bot.tree.add_command(kudos)
    async with running(bot, sandbox):
        interaction = await sandbox.send_slash_command(
            "kudos",
            guild_id=GUILD_ID,
            channel_id=GENERAL_ID,
            user_id=OWNER_ID,
            options=[
                {
                    "type": 1,
                    "name": "give",
                    "options": [
                        {"type": 6, "name": "member", "value": str(ALICE_ID)},
                        {"type": 3, "name": "reason", "value": "the onboarding doc"},
                    ],
                }
            ],
        )
        await sandbox.wait_for_call(lambda c: c.path == interaction.callback_path)

    [reply] = sandbox.messages[GENERAL_ID]
    assert reply["content"] == "Kudos to alice for the onboarding doc"
    assert reply["interaction_metadata"]["user"]["id"] == str(OWNER_ID)


async def test_a_member_message_reaches_on_message_only_with_the_content_intent(
    sandbox: DiscordSandbox,
) -> None:
    intents = discord.Intents.default()
    intents.message_content = True
    with_content, without_content = make_bot(intents=intents), make_bot()
    received: dict[str, asyncio.Future[str]] = {}
    for name, bot in (("with", with_content), ("without", without_content)):
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        received[name] = future

        async def on_message(
            message: discord.Message, future: asyncio.Future[str] = future
        ) -> None:
            if not future.done():
                future.set_result(message.content)

        bot.add_listener(on_message)

    async with running(with_content, sandbox), running(without_content, sandbox):
        await sandbox.wait_until_identified(count=2)
        await sandbox.send_message_create(GENERAL_ID, ALICE_ID, "gm everyone")
        assert await asyncio.wait_for(received["with"], timeout=5) == "gm everyone"
        assert await asyncio.wait_for(received["without"], timeout=5) == ""


async def test_a_bot_resumes_after_a_reconnect_and_still_answers(
    sandbox: DiscordSandbox,
) -> None:
    bot = PingBot(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1)
    async with running(bot, sandbox):
        await sandbox.request_reconnect()
        await sandbox.wait_until_resumed()
        interaction = await sandbox.send_slash_command(
            "ping", guild_id=GUILD_ID, channel_id=GENERAL_ID, user_id=ALICE_ID
        )
        call = await sandbox.wait_for_call(lambda c: c.path == interaction.callback_path)

    assert call.status == 200
    assert len(sandbox.identifies) == 1


async def test_an_unknown_channel_answers_404_with_code_10003(sandbox: DiscordSandbox) -> None:
    async with running(make_bot(), sandbox) as bot:
        with pytest.raises(discord.NotFound) as raised:
            await bot.fetch_channel(123)

    assert raised.value.code == 10003


async def test_a_member_role_change_is_kept_and_recorded_with_its_reason(
    sandbox: DiscordSandbox,
) -> None:
    sandbox.add_role(GUILD_ID, REGULARS_ID, "regulars")
    async with running(make_bot(), sandbox) as bot:
        guild = bot.get_guild(GUILD_ID)
        assert guild is not None
        alice = await guild.fetch_member(ALICE_ID)
        await alice.add_roles(discord.Object(id=REGULARS_ID), reason="three check-ins")
        granted = sandbox.member_roles(GUILD_ID, ALICE_ID)
        await alice.remove_roles(discord.Object(id=REGULARS_ID), reason="left the ritual")

    path = f"/guilds/{GUILD_ID}/members/{ALICE_ID}/roles/{REGULARS_ID}"
    [put] = sandbox.calls_matching("PUT", path)
    [delete] = sandbox.calls_matching("DELETE", path)
    assert (put.status, put.reason) == (204, "three check-ins")
    assert (delete.status, delete.reason) == (204, "left the ritual")
    assert granted == [REGULARS_ID]
    assert sandbox.member_roles(GUILD_ID, ALICE_ID) == []


async def test_a_role_change_for_an_unknown_role_or_member_answers_404(
    sandbox: DiscordSandbox,
) -> None:
    sandbox.add_role(GUILD_ID, REGULARS_ID, "regulars")
    async with running(make_bot(), sandbox) as bot:
        with pytest.raises(discord.NotFound) as unknown_role:
            await bot.http.add_role(GUILD_ID, ALICE_ID, 123)
        with pytest.raises(discord.NotFound) as unknown_member:
            await bot.http.remove_role(GUILD_ID, 456, REGULARS_ID)

    assert unknown_role.value.code == 10011
    assert unknown_member.value.code == 10007


async def test_a_message_command_reaches_its_callback_with_the_message_resolved(
    sandbox: DiscordSandbox,
) -> None:
    seen: list[tuple[int, str, int]] = []

    async def quote(interaction: discord.Interaction, message: discord.Message) -> None:
        seen.append((message.id, message.content, message.author.id))
        await interaction.response.send_message("quoted", ephemeral=True)

    class QuoteBot(commands.Bot):
        async def setup_hook(self) -> None:
            self.tree.add_command(
                app_commands.ContextMenu(name="Quote", callback=quote), guild=GUILD
            )
            await self.tree.sync(guild=GUILD)

    bot = QuoteBot(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1)
    async with running(bot, sandbox):
        said = await sandbox.send_message_create(GENERAL_ID, ALICE_ID, "well said")
        interaction = await sandbox.send_message_command("Quote", message_id=said, user_id=OWNER_ID)
        call = await sandbox.wait_for_call(lambda c: c.path == interaction.callback_path)

    assert call.status == 200 and call.json["data"]["content"] == "quoted"
    # Apps see the content of the message they are invoked on, whatever their intents.
    assert seen == [(said, "well said", ALICE_ID)]
    [synced] = sandbox.calls_matching("PUT", f"/applications/{sandbox.application_id}/guilds/")
    assert [(c["name"], c["type"]) for c in synced.json] == [("Quote", 3)]


async def test_a_member_forum_post_is_a_thread_whose_first_message_has_its_id_and_takes_tags(
    sandbox: DiscordSandbox,
) -> None:
    forum_id = 900_000_000_000_000_030
    sandbox.add_channel(GUILD_ID, forum_id, "help", type=15)
    tags = [sandbox.add_forum_tag(forum_id, f"tag {n}") for n in range(6)]
    async with running(make_bot(), sandbox) as bot:
        post = await sandbox.send_thread_create(forum_id, ALICE_ID, "Help!", content="It beeps.")
        thread = await bot.fetch_channel(post)
        assert isinstance(thread, discord.Thread) and thread.owner_id == ALICE_ID
        first = await thread.fetch_message(post)
        forum = await bot.fetch_channel(forum_id)
        assert isinstance(forum, discord.ForumChannel)
        await thread.add_tags(*[forum.get_tag(t) for t in tags[:5]])
        with pytest.raises(discord.HTTPException) as too_many:
            await thread.edit(applied_tags=[forum.get_tag(t) for t in tags])

    assert (first.content, first.author.id) == ("It beeps.", ALICE_ID)
    assert sandbox.applied_tags(post) == tags[:5]
    assert too_many.value.status == 400
