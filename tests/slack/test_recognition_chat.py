"""Chat and reactions feeding points on Slack, end to end: signed events through the real bolt
app and the one event dispatcher, the recognition module, the ingest pipeline and the ledger;
rituals' check-ins hear the same events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import select

from bot.models import Activity, Identity, Member
from bot.runtime import Runtime
from bot.sandbox.slack import SlackSandbox
from bot.slack.sender import SlackSender
from tests.log_waiter import LogWaiter
from tests.slack.conftest import CHANNEL, MEMBER, Served
from tests.slack.test_rituals import (
    BOB,
    CARA,
    FRIDAY_NOON,
    RITUALS,
    checkins,
    create_from_template,
    fire,
    member_id,
    posts_in,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def workspace(sandbox: SlackSandbox, runtime: Runtime) -> None:
    """Seed two more members and the rituals channel; deliver the outbox to the sandbox."""
    sandbox.add_user(BOB, "bob", real_name="Bob Builder")
    sandbox.add_user(CARA, "cara", real_name="Cara Crafts")
    sandbox.add_channel(RITUALS, "rituals")
    runtime.dispatcher.register(SlackSender(sandbox.bot_token, api_base=sandbox.api_base))


@pytest.fixture
def chat_log(log_waiter: Callable[[str], LogWaiter]) -> LogWaiter:
    return log_waiter("bot.slack.recognition")


@pytest.fixture
def ritual_log(log_waiter: Callable[[str], LogWaiter]) -> LogWaiter:
    return log_waiter("bot.slack.rituals")


async def points(runtime: Runtime, user_id: str) -> int | None:
    async with runtime.sessions() as session:
        return await session.scalar(
            select(Member.points_total)
            .join(Identity, Identity.member_id == Member.id)
            .where(Identity.platform == "slack", Identity.user_id == user_id)
        )


async def kinds(runtime: Runtime, user_id: str) -> list[str]:
    member = await member_id(runtime, user_id)
    async with runtime.sessions() as session:
        return sorted(
            await session.scalars(select(Activity.kind).where(Activity.member_id == member))
        )


async def written(runtime: Runtime, submitted: int) -> None:
    """Wait until the module has queued this many messages in all, then write the queue."""
    await asyncio.wait_for(runtime.ingest.wait_received(submitted), timeout=30)
    await runtime.ingest.flush()


async def test_a_hundred_messages_in_a_minute_earn_points_once(
    served: Served, runtime: Runtime
) -> None:
    for n in range(100):
        await served.sender.send_user_message(MEMBER, CHANNEL, f"hello everyone, message {n}")

    await written(runtime, 100)

    assert await points(runtime, MEMBER) == 5
    assert runtime.ingest.stats.counted == 1
    assert runtime.ingest.stats.skipped["cooldown"] == 99


async def test_edits_joins_the_apps_own_posts_and_direct_messages_are_not_chat(
    served: Served, sandbox: SlackSandbox, runtime: Runtime
) -> None:
    send = served.sender.send_event
    noise = [
        {"subtype": "message_changed", "message": {"user": MEMBER, "text": "edited text"}},
        {"subtype": "channel_join", "user": BOB, "text": "<@U0BOB> has joined the channel"},
        {"subtype": "bot_message", "bot_id": "B0OTHER", "text": "an integration posting"},
        {"user": sandbox.bot_user_id, "bot_id": sandbox.bot_id, "text": "the app's own post"},
        {"user": MEMBER, "text": "a direct message to the app", "channel_type": "im"},
    ]
    for number, fields in enumerate(noise, start=1):
        event = {"type": "message", "channel": CHANNEL, "channel_type": "channel"}
        await send(event | {"ts": f"1767000000.00000{number}"} | fields)
    # Another app posting as a user is queued as a bot, and skipped (and counted) as one.
    await send(
        {
            "type": "message",
            "channel": CHANNEL,
            "channel_type": "channel",
            "user": "U0OTHERAPP",
            "bot_id": "B0OTHERAPP",
            "text": "beep boop, a long message",
            "ts": "1767000000.000009",
        }
    )
    await served.sender.send_user_message(CARA, CHANNEL, "a real message from Cara")

    await written(runtime, 2)

    assert runtime.ingest.stats.received == 2
    assert runtime.ingest.stats.skipped == {"bot": 1}
    assert await points(runtime, CARA) == 5
    assert await points(runtime, "U0OTHERAPP") is None


async def test_a_reaction_from_another_member_earns_the_author_a_point_never_their_own(
    served: Served, sandbox: SlackSandbox, runtime: Runtime, chat_log: LogWaiter
) -> None:
    ts = await served.sender.send_user_message(BOB, CHANNEL, "look what I built this week")

    await served.sender.send_reaction_added(BOB, CHANNEL, ts, "tada")
    await chat_log.wait_for(rf"reaction on message {ts}: self")
    await served.sender.send_reaction_added(CARA, CHANNEL, ts, "tada")
    await chat_log.wait_for(rf"reaction on message {ts}: counted \(\+1\)")

    assert await points(runtime, BOB) == 1
    assert (await points(runtime, CARA) or 0) == 0
    # Removed and added again (Slack sends reaction_added once more): nothing more.
    await served.sender.send_event(
        {
            "type": "reaction_added",
            "user": CARA,
            "reaction": "tada",
            "item_user": BOB,
            "item": {"type": "message", "channel": CHANNEL, "ts": ts},
        }
    )
    await chat_log.wait_for(rf"reaction on message {ts}: repeated")
    assert await points(runtime, BOB) == 1
    # The reactor's name came from users.info, as a command's would.
    async with runtime.sessions() as session:
        cara = await session.get(Member, await member_id(runtime, CARA))
    assert cara is not None and cara.display_name == "cara"

    # The message itself earns chat points once the queue is written.
    await written(runtime, 1)
    assert await points(runtime, BOB) == 6
    assert await kinds(runtime, BOB) == ["message", "reaction"]


async def test_a_ritual_thread_reply_checks_in_and_earns_chat_points_and_a_reaction_checks_in(
    served: Served,
    sandbox: SlackSandbox,
    runtime: Runtime,
    clock,
    chat_log: LogWaiter,
    ritual_log: LogWaiter,
) -> None:
    await create_from_template(served, sandbox)
    await fire(runtime, clock, FRIDAY_NOON)
    (post,) = posts_in(sandbox, RITUALS)
    ts = str(post.response["ts"])

    await served.sender.send_user_message(
        CARA, RITUALS, "Here is what I made this week", thread_ts=ts
    )
    await ritual_log.wait_for("check-in by reply")
    await served.sender.send_reaction_added(BOB, RITUALS, ts, "raised_hands")
    await ritual_log.wait_for("check-in by reaction")
    # The post is the app's: Bob checked in, and nobody earned reaction points.
    await chat_log.wait_for(rf"reaction on message {ts}: bot")
    await written(runtime, 1)

    bob, cara = await member_id(runtime, BOB), await member_id(runtime, CARA)
    assert await checkins(runtime) == {bob: "reaction", cara: "reply"}
    assert await kinds(runtime, CARA) == ["message", "ritual_checkin"]
    assert await kinds(runtime, BOB) == ["ritual_checkin"]
