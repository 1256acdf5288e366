"""Accepted answers end to end on Discord: "Mark as answer" (a message command) on a reply, in a
thread or in a forum post credits the answerer once, keeps the question's times, DMs them without
a ping, and refuses whoever may not mark, marking oneself, and a message that answers nothing."""

from __future__ import annotations

from datetime import datetime

import discord
import pytest
from sqlalchemy import select

from bot.discord.sender import DiscordSender
from bot.models import AcceptedAnswer, Activity, AuditEntry, Identity
from bot.services.recognition import rank_of
from tests.discord.conftest import (
    ALICE_ID,
    BOB_ID,
    GENERAL_ID,
    GUILD_ID,
    MODERATOR_ID,
    answer,
)

CAROL_ID = 910_000_000_000_000_106
FORUM_ID = 910_000_000_000_000_030
MENU = "Mark as answer"
CHANNEL_FORUM = 15


@pytest.fixture
async def ready(bot, runtime, sandbox):
    """The bot running with the outbox wired to the sandbox, and a third member, carol."""
    sandbox.add_member(GUILD_ID, CAROL_ID, "carol")
    runtime.dispatcher.register(DiscordSender("sandbox-token", api_base=sandbox.api_base))
    return bot


async def mark(sandbox, message_id: int, user_id: int) -> str:
    interaction = await sandbox.send_message_command(MENU, message_id=message_id, user_id=user_id)
    shown = (await answer(sandbox, interaction)).json["data"]
    assert shown["flags"] & 64, "the answer is only for the member who marked"
    return str(shown["content"])


async def member_id(runtime, user_id: int) -> int:
    async with runtime.sessions() as session:
        found = await session.scalar(
            select(Identity.member_id).where(Identity.user_id == str(user_id))
        )
    assert found is not None
    return found


def posted(message_id: int) -> datetime:
    return discord.utils.snowflake_time(message_id)


async def test_the_message_command_is_synced_as_a_guild_message_command(ready, sandbox):
    synced = [c for c in sandbox.state.commands[GUILD_ID] if c["name"] == MENU]
    assert [(c["type"], c.get("contexts")) for c in synced] == [(3, [0])]


async def test_the_asker_marks_a_reply_and_the_answerer_is_credited_with_the_times(
    ready, runtime, sandbox, clock
):
    question = await sandbox.send_message_create(GENERAL_ID, ALICE_ID, "How do I reset the mixer?")
    await sandbox.send_message_create(GENERAL_ID, ALICE_ID, "anyone?", reply_to=question)
    await sandbox.send_message_create(GENERAL_ID, BOB_ID, "lunch, anyone?")  # other talk
    first = await sandbox.send_message_create(
        GENERAL_ID, CAROL_ID, "Did you try turning it off?", reply_to=question
    )
    reply = await sandbox.send_message_create(
        GENERAL_ID, BOB_ID, "Hold the button for 10 s.", reply_to=question
    )

    told = await mark(sandbox, reply, ALICE_ID)

    assert "Marked **bob**'s reply as the accepted answer: +25 points" in told
    bob = await member_id(runtime, BOB_ID)
    async with runtime.sessions() as session:
        row = await session.scalar(select(AcceptedAnswer))
        credit = await session.scalar(select(Activity).where(Activity.member_id == bob))
    assert (row.channel_id, row.message_id) == (str(GENERAL_ID), str(question))
    assert (row.answer_channel_id, row.answer_message_id) == (str(GENERAL_ID), str(reply))
    assert row.asked_at == posted(question)
    assert row.first_response_at == posted(first)
    assert row.answered_at == posted(reply)
    assert row.accepted_by == await member_id(runtime, ALICE_ID)
    assert (credit.kind, credit.points) == ("answer_accepted", 25)
    # The activity.recorded subscriber puts it on the helpers board.
    await runtime.bus.process_pending()
    async with runtime.sessions() as session:
        board = await rank_of(session, runtime.community_id, "helpers", "all", clock.now(), bob)
    assert (board.score, board.rank) == (1, 1)
    # The answerer is told by DM, pinging nobody.
    await runtime.dispatcher.drain()
    (dm,) = sandbox.messages[sandbox.open_dm(BOB_ID)]
    assert "was marked as accepted by the person who asked: +25 points" in dm["content"]
    assert f"/channels/{GUILD_ID}/{GENERAL_ID}/{question}" in dm["content"]
    dm_call = sandbox.calls_matching("POST", f"/channels/{sandbox.open_dm(BOB_ID)}/messages")[-1]
    assert dm_call.json["allowed_mentions"]["parse"] == []


async def test_a_member_who_did_not_ask_is_refused(ready, runtime, sandbox):
    question = await sandbox.send_message_create(GENERAL_ID, ALICE_ID, "How do I reset the mixer?")
    reply = await sandbox.send_message_create(GENERAL_ID, BOB_ID, "Hold it.", reply_to=question)

    told = await mark(sandbox, reply, CAROL_ID)

    assert told == "Only the person who asked, or a moderator, can mark the answer to a question."
    async with runtime.sessions() as session:
        assert await session.scalar(select(AcceptedAnswer)) is None
        assert await session.scalar(select(Activity)) is None


async def test_the_asker_cannot_mark_their_own_reply_nor_a_message_that_answers_nothing(
    ready, runtime, sandbox
):
    question = await sandbox.send_message_create(GENERAL_ID, ALICE_ID, "How do I reset the mixer?")
    own = await sandbox.send_message_create(GENERAL_ID, ALICE_ID, "Found it!", reply_to=question)
    loose = await sandbox.send_message_create(GENERAL_ID, BOB_ID, "Hold the button.")

    assert (await mark(sandbox, own, ALICE_ID)).startswith(
        "You cannot mark your own message as the answer"
    )
    refused = await mark(sandbox, loose, ALICE_ID)
    assert refused.startswith("That message is not a reply and not in a thread")
    assert "reply to the question" in refused
    async with runtime.sessions() as session:
        assert await session.scalar(select(AcceptedAnswer)) is None


async def test_in_a_forum_post_the_post_is_the_question_a_moderator_may_mark_it_and_it_is_tagged(
    ready, runtime, sandbox
):
    sandbox.add_channel(GUILD_ID, FORUM_ID, "help", type=CHANNEL_FORUM)
    sandbox.add_forum_tag(FORUM_ID, "Hardware")
    solved = sandbox.add_forum_tag(FORUM_ID, "Solved")
    post = await sandbox.send_thread_create(
        FORUM_ID, ALICE_ID, "Mixer won't start", content="It beeps three times, then nothing."
    )
    first = await sandbox.send_message_create(post, CAROL_ID, "Is it plugged in?")
    reply = await sandbox.send_message_create(post, BOB_ID, "Three beeps: the lid is open.")

    itself = await mark(sandbox, post, ALICE_ID)
    untagged = sandbox.applied_tags(post)
    told = await mark(sandbox, reply, MODERATOR_ID)

    assert itself.startswith("That is the question itself") and untagged == []
    # The forum's "Solved" tag goes on the post, once, and no other.
    assert sandbox.applied_tags(post) == [solved]
    assert len(sandbox.calls_matching("PATCH", f"/channels/{post}")) == 1
    assert "Marked **bob**'s reply as the accepted answer" in told
    async with runtime.sessions() as session:
        row = await session.scalar(select(AcceptedAnswer))
        audited = await session.scalar(select(AuditEntry.action))
    assert (row.channel_id, row.message_id) == (str(post), str(post))
    assert row.asker_member_id == await member_id(runtime, ALICE_ID)
    assert row.first_response_at == posted(first) and row.answered_at == posted(reply)
    assert audited == "recognition.answer_accepted"


async def test_in_a_thread_started_from_a_message_that_message_is_the_question(
    ready, runtime, sandbox
):
    question = await sandbox.send_message_create(GENERAL_ID, ALICE_ID, "Which flour for bread?")
    thread = await sandbox.send_thread_create(GENERAL_ID, ALICE_ID, "Flour", message_id=question)
    reply = await sandbox.send_message_create(thread, BOB_ID, "Strong white flour.")

    told = await mark(sandbox, reply, ALICE_ID)
    again = await mark(sandbox, reply, ALICE_ID)

    assert "Marked **bob**'s reply" in told
    assert again.startswith("bob's reply is already the accepted answer")
    async with runtime.sessions() as session:
        row = await session.scalar(select(AcceptedAnswer))
        credits = (await session.scalars(select(Activity.points))).all()
    assert (row.channel_id, row.message_id) == (str(GENERAL_ID), str(question))
    assert (row.answer_channel_id, row.first_response_at) == (str(thread), posted(reply))
    assert credits == [25]


async def test_in_a_thread_started_without_a_message_its_first_message_is_the_question(
    ready, runtime, sandbox
):
    thread = await sandbox.send_thread_create(GENERAL_ID, ALICE_ID, "Sourdough")
    question = await sandbox.send_message_create(thread, ALICE_ID, "Why is my starter flat?")
    reply = await sandbox.send_message_create(thread, BOB_ID, "Feed it twice a day.")

    told = await mark(sandbox, reply, ALICE_ID)

    assert "Marked **bob**'s reply" in told
    async with runtime.sessions() as session:
        row = await session.scalar(select(AcceptedAnswer))
    assert (row.channel_id, row.message_id) == (str(thread), str(question))


async def test_a_channel_the_bot_cannot_read_is_refused_with_what_to_grant(ready, runtime, sandbox):
    question = await sandbox.send_message_create(GENERAL_ID, ALICE_ID, "How do I reset the mixer?")
    reply = await sandbox.send_message_create(
        GENERAL_ID, BOB_ID, "Hold the button for 10 s.", reply_to=question
    )
    # Discord's answer to a bot without Read Message History in the channel.
    sandbox.fail_next(
        f"/channels/{GENERAL_ID}/messages", status=403, code=50001, message="Missing Access"
    )

    told = await mark(sandbox, reply, ALICE_ID)

    assert "can't read this channel's messages" in told and "Read Message History" in told
    async with runtime.sessions() as session:
        assert await session.scalar(select(AcceptedAnswer)) is None
