"""The outbox's Discord sender against the sandbox, paced on a simulated clock."""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator, Iterable

import pytest_asyncio
from sqlalchemy import select

from bot.discord.sender import GLOBAL_LIMIT, DiscordSender
from bot.messages import NewThread, Post, Purpose, Subject, rich
from bot.models import OutboxMessage
from bot.outbox import registry, send
from bot.runtime import Runtime
from bot.sandbox.discord import DiscordSandbox, RecordedCall
from bot.services.channels import place_channel, purpose_destination
from tests.discord.conftest import GENERAL_ID, GUILD_ID
from tests.effects import enqueue_row

FIRST_USER_ID = 930_000_000_000_000_000
FIRST_CHANNEL_ID = 940_000_000_000_000_000


@pytest_asyncio.fixture
async def sender(runtime: Runtime, sandbox: DiscordSandbox) -> AsyncIterator[DiscordSender]:
    """Return a Discord sender registered on the runtime's dispatcher, aimed at the sandbox."""
    sender = DiscordSender(
        "sandbox-token", api_base=sandbox.api_base, limiter=runtime.dispatcher.limiter
    )
    runtime.dispatcher.register(sender)
    yield sender
    await sender.close()


async def queue_dms(runtime: Runtime, user_ids: Iterable[int]) -> None:
    async with runtime.sessions() as session, session.begin():
        for user_id in user_ids:
            await enqueue_row(
                session,
                runtime.clock,
                key=f"test-dm:{user_id}",
                platform="discord",
                action="dm",
                target=f"user:{user_id}",
                text=f"Hello {user_id}",
            )


async def outbox_rows(runtime: Runtime) -> list[OutboxMessage]:
    async with runtime.sessions() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


def busiest_window(calls: list[RecordedCall], seconds: float) -> int:
    """Return the most requests the sandbox saw in any half-open window [t, t + seconds)."""
    times = sorted(call.at for call in calls)
    return max(
        (bisect.bisect_left(times, start + seconds) - i for i, start in enumerate(times)),
        default=0,
    )


async def test_three_hundred_dms_arrive_once_each_within_discords_global_limit(
    runtime: Runtime, sandbox: DiscordSandbox, sender: DiscordSender
) -> None:
    user_ids = [FIRST_USER_ID + n for n in range(300)]
    for user_id in user_ids:
        sandbox.add_user(user_id, f"member-{user_id}")
    await queue_dms(runtime, user_ids)

    delivered = await runtime.dispatcher.drain()

    assert delivered == 300
    for user_id in user_ids:
        channel = sandbox.open_dm(user_id)
        [post] = sandbox.calls_matching("POST", f"/channels/{channel}/messages")
        assert post.status == 200
        assert [m["content"] for m in sandbox.messages[channel]] == [f"Hello {user_id}"]
    assert busiest_window(sandbox.calls, GLOBAL_LIMIT.per_seconds) <= GLOBAL_LIMIT.count
    assert {row.status for row in await outbox_rows(runtime)} == {"sent"}


async def test_a_429_is_waited_out_and_the_dm_is_delivered_exactly_once(
    runtime: Runtime, sandbox: DiscordSandbox, sender: DiscordSender
) -> None:
    sandbox.add_user(FIRST_USER_ID, "alice")
    sandbox.rate_limit_next("/messages", retry_after=2.0)
    await queue_dms(runtime, [FIRST_USER_ID])

    await runtime.dispatcher.drain()

    channel = sandbox.open_dm(FIRST_USER_ID)
    posts = sandbox.calls_matching("POST", f"/channels/{channel}/messages")
    assert [post.status for post in posts] == [429, 200]
    assert posts[1].at - posts[0].at >= 2.0
    assert len(sandbox.messages[channel]) == 1
    [row] = await outbox_rows(runtime)
    assert (row.status, row.attempts) == ("sent", 1)  # a 429 is not a failed attempt


async def test_a_dm_to_a_member_who_closed_dms_is_dead_lettered_with_a_readable_reason(
    runtime: Runtime, sandbox: DiscordSandbox, sender: DiscordSender
) -> None:
    sandbox.add_user(FIRST_USER_ID, "private-person")
    sandbox.close_dms(FIRST_USER_ID)
    await queue_dms(runtime, [FIRST_USER_ID])

    await runtime.dispatcher.drain()

    [row] = await outbox_rows(runtime)
    assert row.status == "dead"
    assert row.last_error is not None
    assert "does not accept direct messages" in row.last_error
    assert sandbox.messages[sandbox.open_dm(FIRST_USER_ID)] == []


async def test_new_dms_mixed_with_channel_posts_stay_within_the_global_limit(
    runtime: Runtime, sandbox: DiscordSandbox, sender: DiscordSender
) -> None:
    # A first DM costs two requests (open the DM channel, then post): both must count.
    user_ids = [FIRST_USER_ID + n for n in range(100)]
    channel_ids = [FIRST_CHANNEL_ID + n for n in range(40)]
    for user_id in user_ids:
        sandbox.add_user(user_id, f"member-{user_id}")
    for channel_id in channel_ids:
        sandbox.add_channel(GUILD_ID, channel_id, f"channel-{channel_id}")
    for n, user_id in enumerate(user_ids):
        async with runtime.sessions() as session, session.begin():
            await enqueue_row(
                session,
                runtime.clock,
                key=f"test-post:{n}",
                platform="discord",
                action="post",
                target=f"channel:{channel_ids[n % len(channel_ids)]}",
                text=f"Post {n}",
            )
        await queue_dms(runtime, [user_id])

    assert await runtime.dispatcher.drain() == 200

    assert len(sandbox.calls) == 300
    assert busiest_window(sandbox.calls, GLOBAL_LIMIT.per_seconds) <= GLOBAL_LIMIT.count


async def test_a_post_whose_thread_is_refused_is_recorded_without_a_thread(
    runtime: Runtime, sandbox: DiscordSandbox, sender: DiscordSender
) -> None:
    async with runtime.sessions() as session, session.begin():
        destination = await purpose_destination(
            session, runtime.clock, runtime.community_id, "rituals"
        )
        await place_channel(session, destination, "discord", str(GENERAL_ID))
        post = Post(
            to=Purpose(name="rituals"),
            body=rich("Monday Wins"),
            thread=NewThread(name="Wins"),
            about=Subject(kind="occurrence", id="abc123"),
        )
        await send(session, runtime.clock, post, key="post", community_id=runtime.community_id)
    sandbox.fail_next("/threads", status=403, code=50013, message="Missing Permissions")

    assert await runtime.dispatcher.drain() == 1

    (row,) = await outbox_rows(runtime)
    assert row.status == "sent"
    async with runtime.sessions() as session:
        found = await registry.post_about(
            session, Subject(kind="occurrence", id="abc123"), "discord"
        )
    assert found is not None and found.message_id == row.external_id and found.thread_id is None
