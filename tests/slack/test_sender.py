"""SlackSender through the real outbox dispatcher and slack-sdk client, against the sandbox.

The runtime runs on a FakeClock: the dispatcher's pacing sleeps move virtual time at once,
and OutboxMessage.sent_at (taken from that clock) shows the pacing Slack would see.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.clock import FakeClock
from bot.messages import DirectMessage, Edit, File, Post, Purpose, RoleChange, Subject, rich
from bot.models import OutboxMessage
from bot.outbox import (
    Dispatcher,
    Effect,
    PermanentFailure,
    Posted,
    Queued,
    RateLimit,
    RetryLater,
    enqueue_many,
    registry,
)
from bot.runtime import Runtime, build_runtime
from bot.sandbox.slack import SlackSandbox
from bot.settings import OutboxSettings, load_settings
from bot.slack import sender as sender_module
from bot.slack.sender import GLOBAL_BUCKET, METADATA_EVENT, SlackSender

pytestmark = pytest.mark.e2e

MEMBER = "U0ADA"
CHANNEL = "C0GENERAL"
# FakeClock sums float waits; timedelta keeps microseconds. Allow for that rounding only.
ROUNDING = timedelta(milliseconds=1)
ACCESS = {"champs": "S0CHAMPS"}


@pytest.fixture
async def sandbox(clock: FakeClock) -> AsyncIterator[SlackSandbox]:
    # Slack stamps messages on the same (moved) clock the outbox reads.
    sandbox = SlackSandbox(clock=lambda: clock.now().timestamp())
    sandbox.add_user(MEMBER, "ada", real_name="Ada Lovelace")
    sandbox.add_user("U0BOB", "bob")
    sandbox.add_channel(CHANNEL, "general")
    sandbox.add_channel("C0RANDOM", "random")
    await sandbox.start()
    yield sandbox
    await sandbox.stop()


@pytest.fixture
async def runtime(
    database_url: str, committed, clock: FakeClock, sandbox: SlackSandbox
) -> AsyncIterator[Runtime]:
    settings = load_settings(
        environ={"FLYWHEEL_DATABASE_URL": database_url, "SLACK_BOT_TOKEN": sandbox.bot_token}
    )
    runtime = build_runtime(settings, clock=clock)
    runtime.dispatcher.register(
        SlackSender(sandbox.bot_token, api_base=sandbox.api_base, access=ACCESS)
    )
    yield runtime
    await runtime.close()


def _message(action: str, target: str, payload: dict[str, Any]) -> tuple[str, Any, Any]:
    """Return (action, message, earlier post) of a row in the shapes these tests name."""
    body = rich(str(payload.get("text", "")))
    file = payload.get("file")
    if action == "thread_post":
        channel, ts = target.removeprefix("thread:").split(":", 1)
        about = Subject(kind="test", id=ts.replace(".", "-"))
        return (
            "post",
            Post(to=Purpose(name="rituals"), body=body, reply_to=about),
            (about, channel, ts),
        )
    if action == "edit":
        channel, ts = target.removeprefix("message:").split(":", 1)
        about = Subject(kind="test", id=ts.replace(".", "-"))
        return "edit", Edit(subject=about, body=body), (about, channel, ts)
    if action in ("usergroup_add", "usergroup_remove"):
        change = RoleChange(member_id=0, access="champs", grant=action == "usergroup_add")
        return "role", change, None
    if action == "dm":
        files = (File(name=file["name"], content=file.get("content", "")),) if file else ()
        return "dm", DirectMessage(member_id=0, body=body, files=files), None
    return action, Post(to=Purpose(name="rituals"), body=body), None


def _target(action: str, target: str, payload: dict[str, Any]) -> str:
    if action == "thread_post":
        return f"channel:{target.removeprefix('thread:').split(':', 1)[0]}"
    if action in ("usergroup_add", "usergroup_remove"):
        return f"member:T0001:{payload['user_id']}"
    return target


async def queue(runtime: Runtime, key: str, action: str, target: str, **payload: Any) -> None:
    """Queue one addressed row; a reply or an edit names its earlier post in the registry."""
    kind, message, earlier = _message(action, target, payload)
    async with runtime.sessions() as session, session.begin():
        if earlier is not None:
            about, channel, ts = earlier
            parent = Effect(0, f"parent:{key}", "slack", "post", f"channel:{channel}", message, 0)
            await registry.record(
                session,
                runtime.clock,
                effect=parent,
                delivered=Posted(channel, ts),
                community_id=None,
                subject=about,
                member_id=None,
            )
        row = Queued(key, "slack", kind, _target(action, target, payload), message)
        await enqueue_many(session, runtime.clock, [row])


async def row(runtime: Runtime, key: str) -> OutboxMessage:
    async with runtime.sessions() as session:
        found = await session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))
    assert found is not None
    return found


def effect(action: str, target: str, attempts: int = 0, **payload: Any) -> Effect:
    kind, message, earlier = _message(action, target, payload)
    thread = Posted(earlier[1], earlier[2]) if earlier and kind == "post" else None
    original = Posted(earlier[1], earlier[2]) if earlier and kind == "edit" else None
    return Effect(
        id=1,
        key="k",
        platform="slack",
        action=kind,
        target=_target(action, target, payload),
        message=message,
        attempts=attempts,
        thread=thread,
        original=original,
    )


async def test_a_post_returns_its_ts_and_asks_slack_to_guess_no_mentions_or_links(
    runtime: Runtime, sandbox: SlackSandbox
) -> None:
    await queue(runtime, "p1", "post", f"channel:{CHANNEL}", text="Office hours: @here later")

    assert await runtime.dispatcher.drain() == 1

    (call,) = sandbox.calls_to("chat.postMessage")
    assert call.args["parse"] == "none"
    assert call.args["link_names"] is False
    assert call.args["unfurl_links"] is False
    sent = await row(runtime, "p1")
    assert sent.status == "sent"
    assert sent.external_id == sandbox.messages_in(CHANNEL)[0]["ts"]


async def test_a_rate_limited_post_waits_for_retry_after_and_is_delivered_once(
    runtime: Runtime, sandbox: SlackSandbox
) -> None:
    sandbox.rate_limit_next("chat.postMessage", retry_after=3)
    await queue(runtime, "p1", "post", f"channel:{CHANNEL}", text="Feedback Friday!")

    assert await runtime.dispatcher.drain() == 1

    assert [call.status for call in sandbox.calls_to("chat.postMessage")] == [429, 200]
    assert [m["text"] for m in sandbox.messages_in(CHANNEL)] == ["Feedback Friday!"]
    sent = await row(runtime, "p1")
    assert sent.status == "sent"
    assert sent.attempts == 1  # a 429 is not a failed attempt
    assert sent.sent_at is not None and sent.sent_at - sent.created_at >= timedelta(seconds=3)


async def test_a_dm_to_a_deactivated_member_is_dead_lettered_with_a_readable_reason(
    runtime: Runtime, sandbox: SlackSandbox
) -> None:
    sandbox.close_dms(MEMBER)
    await queue(runtime, "dm1", "dm", f"user:{MEMBER}", text="Welcome!")
    await queue(runtime, "dm2", "dm", f"user:{MEMBER}", text="Data", file={"name": "d.json"})

    assert await runtime.dispatcher.drain() == 0

    text_dm, file_dm = await row(runtime, "dm1"), await row(runtime, "dm2")
    assert (text_dm.status, file_dm.status) == ("dead", "dead")
    assert text_dm.last_error == (
        "Slack refused the DM: the DM is archived, which Slack does when the user's account "
        "is deactivated (is_archived)"
    )
    assert file_dm.last_error == (
        "Slack refused the DM: the user's account is deactivated (user_disabled)"
    )
    assert sandbox.messages_in(sandbox.dm_channel_id(MEMBER)) == []


async def test_thirty_posts_to_one_channel_go_out_no_faster_than_one_a_second(
    runtime: Runtime, sandbox: SlackSandbox
) -> None:
    for index in range(30):
        await queue(runtime, f"p{index:02d}", "post", f"channel:{CHANNEL}", text=f"post {index}")

    assert await runtime.dispatcher.drain() == 30

    assert [m["text"] for m in sandbox.messages_in(CHANNEL)] == [f"post {i}" for i in range(30)]
    async with runtime.sessions() as session:
        sent = (await session.scalars(select(OutboxMessage.sent_at))).all()
    times = sorted(moment for moment in sent if moment is not None)
    assert len(times) == 30
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= timedelta(seconds=1) - ROUNDING
    assert times[-1] - times[0] >= timedelta(seconds=29) - ROUNDING


async def test_posts_to_different_channels_are_not_held_back_by_each_other(
    runtime: Runtime, sandbox: SlackSandbox, clock: FakeClock
) -> None:
    started = clock.now()
    await queue(runtime, "a", "post", f"channel:{CHANNEL}", text="one")
    await queue(runtime, "b", "post", "channel:C0RANDOM", text="two")

    assert await runtime.dispatcher.drain() == 2

    assert clock.now() - started < timedelta(seconds=1)


async def test_a_dm_is_posted_to_the_member_without_opening_the_conversation_first(
    runtime: Runtime, sandbox: SlackSandbox
) -> None:
    await queue(runtime, "dm1", "dm", f"user:{MEMBER}", text="Your rank went up")

    assert await runtime.dispatcher.drain() == 1

    assert sandbox.calls_to("conversations.open") == []  # a Tier 3 call saved per DM
    posted = sandbox.calls_to("chat.postMessage")[0]
    assert posted.args["channel"] == MEMBER
    (message,) = sandbox.messages_in(sandbox.dm_channel_id(MEMBER))
    assert (await row(runtime, "dm1")).external_id == message["ts"] == posted.response["ts"]


async def test_a_members_dm_channel_is_opened_once_for_files(
    runtime: Runtime, sandbox: SlackSandbox
) -> None:
    for index in range(2):
        await queue(
            runtime,
            f"f{index}",
            "dm",
            f"user:{MEMBER}",
            text="Data",
            file={"name": "d.json", "content": "{}"},
        )

    assert await runtime.dispatcher.drain() == 2

    assert [c.args["users"] for c in sandbox.calls_to("conversations.open")] == [MEMBER]


async def test_a_dm_with_a_file_uploads_the_file_into_the_dm(
    runtime: Runtime, sandbox: SlackSandbox
) -> None:
    document = json.dumps({"member": {"points": 12}, "note": "é & <b>"})
    await queue(
        runtime,
        "dm1",
        "dm",
        f"user:{MEMBER}",
        text="Your data",
        file={"name": "data.json", "content": document},
    )

    assert await runtime.dispatcher.drain() == 1

    (message,) = sandbox.messages_in(sandbox.dm_channel_id(MEMBER))
    assert message["text"] == "Your data"
    file_id = message["files"][0]["id"]
    assert sandbox.file_content(file_id).decode() == document
    assert (await row(runtime, "dm1")).external_id == file_id


async def test_a_thread_reply_and_an_edit_land_on_the_right_message(
    runtime: Runtime, sandbox: SlackSandbox
) -> None:
    await queue(runtime, "parent", "post", f"channel:{CHANNEL}", text="Monday Wins thread")
    await runtime.dispatcher.drain()
    parent_ts = (await row(runtime, "parent")).external_id

    await queue(runtime, "reply", "thread_post", f"thread:{CHANNEL}:{parent_ts}", text="I won")
    await queue(runtime, "edit", "edit", f"message:{CHANNEL}:{parent_ts}", text="Monday Wins!")
    assert await runtime.dispatcher.drain() == 2

    parent, reply = sandbox.messages_in(CHANNEL)
    assert parent["text"] == "Monday Wins!" and "edited" in parent
    assert reply["thread_ts"] == parent_ts and reply["text"] == "I won"


async def test_user_group_membership_is_added_once_and_removed(
    runtime: Runtime, sandbox: SlackSandbox
) -> None:
    sandbox.add_usergroup("S0CHAMPS", "champions", users=["U0BOB"])

    await queue(runtime, "add", "usergroup_add", "usergroup:S0CHAMPS", user_id=MEMBER)
    await queue(runtime, "add-again", "usergroup_add", "usergroup:S0CHAMPS", user_id=MEMBER)
    assert await runtime.dispatcher.drain() == 2
    assert sandbox.usergroups["S0CHAMPS"]["users"] == ["U0BOB", MEMBER]
    assert len(sandbox.calls_to("usergroups.users.update")) == 1

    await queue(runtime, "remove", "usergroup_remove", "usergroup:S0CHAMPS", user_id=MEMBER)
    await runtime.dispatcher.drain()
    assert sandbox.usergroups["S0CHAMPS"]["users"] == ["U0BOB"]


async def test_removing_the_last_member_of_a_user_group_is_dead_lettered(
    runtime: Runtime, sandbox: SlackSandbox
) -> None:
    sandbox.add_usergroup("S0CHAMPS", "champions", users=[MEMBER])
    await queue(runtime, "remove", "usergroup_remove", "usergroup:S0CHAMPS", user_id=MEMBER)

    await runtime.dispatcher.drain()

    dead = await row(runtime, "remove")
    assert dead.status == "dead"
    assert dead.last_error is not None and "last member" in dead.last_error


async def test_a_post_to_an_unknown_channel_is_dead_lettered(
    runtime: Runtime, sandbox: SlackSandbox
) -> None:
    await queue(runtime, "p1", "post", "channel:C0GONE", text="hello")

    await runtime.dispatcher.drain()

    dead = await row(runtime, "p1")
    assert dead.status == "dead"
    assert dead.last_error == (
        "Slack refused the post: the channel does not exist or the app cannot see it "
        "(channel_not_found)"
    )


async def test_a_malformed_target_is_a_permanent_failure_naming_the_expected_shape() -> None:
    sender = SlackSender("xoxb-unused", api_base="http://127.0.0.1:9/api/")

    with pytest.raises(PermanentFailure, match=r"expected channel:<id>"):
        await sender.send(effect("post", f"thread:{CHANNEL}", text="x"))
    assert sender.limits(effect("post", "nonsense")) == [
        (GLOBAL_BUCKET, sender.limits(effect("post", "channel:C1"))[0][1])
    ]


def test_posts_count_against_the_workspace_and_their_channel() -> None:
    sender = SlackSender("xoxb-unused")

    buckets = [name for name, _ in sender.limits(effect("post", "channel:C1", text="x"))]
    limits = dict(sender.limits(effect("post", "channel:C1", text="x")))

    assert buckets == ["slack:global", "slack:channel:C1"]
    assert (limits["slack:global"].count, limits["slack:global"].per_seconds) == (50, 1.0)
    assert (limits["slack:channel:C1"].count, limits["slack:channel:C1"].per_seconds) == (1, 1.0)


class DiesAfterSending(SlackSender):
    """A process killed after Slack took the message but before the outbox marked it sent."""

    async def send(self, effect: Effect) -> Posted | None:
        await super().send(effect)
        raise asyncio.CancelledError


class DiesBeforeSending(SlackSender):
    """A process killed with the row leased, before anything reached Slack."""

    async def send(self, effect: Effect) -> Posted | None:
        raise asyncio.CancelledError


LEASE = OutboxSettings(lease_seconds=60)


async def crash_then_restart(
    runtime: Runtime, sandbox: SlackSandbox, clock: FakeClock, dies: type[SlackSender]
) -> int:
    """Send through a dispatcher that dies mid-send, then let the runtime take the row up."""
    crashed = Dispatcher(
        runtime.sessions, clock, LEASE, [dies(sandbox.bot_token, api_base=sandbox.api_base)]
    )
    with contextlib.suppress(asyncio.CancelledError):
        await crashed.dispatch_due()
    clock.advance(LEASE.lease_seconds + 1)
    return await runtime.dispatcher.drain()


async def test_every_post_carries_its_outbox_key_in_the_message_metadata(
    runtime: Runtime, sandbox: SlackSandbox
) -> None:
    await queue(runtime, "ritual-post:7", "post", f"channel:{CHANNEL}", text="Office hours")

    await runtime.dispatcher.drain()

    (message,) = sandbox.messages_in(CHANNEL)
    assert message["metadata"] == {
        "event_type": METADATA_EVENT,
        "event_payload": {"key": "ritual-post:7"},
    }
    assert sandbox.calls_to("conversations.history") == []  # a first try does not look


async def test_a_post_sent_just_before_a_crash_is_found_on_restart_and_not_posted_again(
    runtime: Runtime, sandbox: SlackSandbox, clock: FakeClock
) -> None:
    await queue(runtime, "p1", "post", f"channel:{CHANNEL}", text="Feedback Friday!")

    assert await crash_then_restart(runtime, sandbox, clock, DiesAfterSending) == 1

    (message,) = sandbox.messages_in(CHANNEL)
    assert len(sandbox.calls_to("chat.postMessage")) == 1
    (looked,) = sandbox.calls_to("conversations.history")
    assert looked.args["channel"] == CHANNEL
    sent = await row(runtime, "p1")
    assert (sent.status, sent.external_id) == ("sent", message["ts"])
    assert sent.attempts == 2  # the interrupted try counts


async def test_a_post_leased_by_a_process_that_died_before_sending_is_posted_once(
    runtime: Runtime, sandbox: SlackSandbox, clock: FakeClock
) -> None:
    await sandbox_message(sandbox, "somebody else's message")
    await queue(runtime, "p1", "post", f"channel:{CHANNEL}", text="Monday Wins")

    assert await crash_then_restart(runtime, sandbox, clock, DiesBeforeSending) == 1

    assert [m["text"] for m in sandbox.messages_in(CHANNEL)] == [
        "somebody else's message",
        "Monday Wins",
    ]
    assert len(sandbox.calls_to("conversations.history")) == 1


async def sandbox_message(sandbox: SlackSandbox, text: str) -> None:
    """Post as another app would: a message in the channel with its own metadata."""
    sandbox.messages[CHANNEL].append(
        {
            "type": "message",
            "user": "U0BOB",
            "text": text,
            "ts": f"{sandbox.clock():.6f}",
            "metadata": {"event_type": METADATA_EVENT, "event_payload": {"key": "other"}},
        }
    )


async def test_a_thread_reply_sent_before_a_crash_is_found_among_the_replies(
    runtime: Runtime, sandbox: SlackSandbox, clock: FakeClock
) -> None:
    await queue(runtime, "parent", "post", f"channel:{CHANNEL}", text="Show your work")
    await runtime.dispatcher.drain()
    parent_ts = (await row(runtime, "parent")).external_id
    await queue(runtime, "recap", "thread_post", f"thread:{CHANNEL}:{parent_ts}", text="Recap")

    assert await crash_then_restart(runtime, sandbox, clock, DiesAfterSending) == 1

    assert [m["text"] for m in sandbox.messages_in(CHANNEL)] == ["Show your work", "Recap"]
    (looked,) = sandbox.calls_to("conversations.replies")
    assert looked.args["ts"] == parent_ts


async def test_a_dm_and_a_dm_with_a_file_sent_before_a_crash_arrive_once(
    runtime: Runtime, sandbox: SlackSandbox, clock: FakeClock
) -> None:
    await queue(runtime, "dm1", "dm", f"user:{MEMBER}", text="Office Hours starts in 1 hour")
    await queue(
        runtime,
        "dm2",
        "dm",
        f"user:{MEMBER}",
        text="Your data",
        file={"name": "flywheel-data.json", "content": "{}"},
    )

    crashed = Dispatcher(
        runtime.sessions,
        clock,
        LEASE,
        [DiesAfterSending(sandbox.bot_token, api_base=sandbox.api_base)],
    )
    for _ in range(2):  # each crash leaves one row leased
        with contextlib.suppress(asyncio.CancelledError):
            await crashed.dispatch_due()
    clock.advance(LEASE.lease_seconds + 1)
    assert await runtime.dispatcher.drain() == 2

    dm = sandbox.messages_in(sandbox.dm_channel_id(MEMBER))
    assert [m["text"] for m in dm] == ["Office Hours starts in 1 hour", "Your data"]
    assert len(sandbox.calls_to("files.completeUploadExternal")) == 1
    assert (await row(runtime, "dm2")).external_id == dm[1]["files"][0]["id"]


async def test_the_lookback_pages_through_a_busy_channel(
    runtime: Runtime, sandbox: SlackSandbox, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sender_module, "LOOKBACK_PAGE", 3)
    await queue(runtime, "p1", "post", f"channel:{CHANNEL}", text="Office hours")
    crashed = Dispatcher(
        runtime.sessions,
        clock,
        LEASE,
        [DiesAfterSending(sandbox.bot_token, api_base=sandbox.api_base)],
    )
    with contextlib.suppress(asyncio.CancelledError):
        await crashed.dispatch_due()
    for index in range(7):  # members kept talking while the bot was down
        clock.advance(1)
        await sandbox_message(sandbox, f"chatter {index}")
    clock.advance(LEASE.lease_seconds)

    assert await runtime.dispatcher.drain() == 1

    assert len(sandbox.calls_to("chat.postMessage")) == 1
    assert len(sandbox.calls_to("conversations.history")) == 3  # 3 + 3 + the 8th message


async def test_a_rate_limited_lookback_waits_and_still_delivers_once(
    runtime: Runtime, sandbox: SlackSandbox, clock: FakeClock
) -> None:
    await queue(runtime, "p1", "post", f"channel:{CHANNEL}", text="Office hours")
    sandbox.rate_limit_next("conversations.history", retry_after=2)

    assert await crash_then_restart(runtime, sandbox, clock, DiesAfterSending) == 1

    assert [c.status for c in sandbox.calls_to("conversations.history")] == [429, 200]
    assert len(sandbox.messages_in(CHANNEL)) == 1


def test_the_tier3_calls_besides_posting_are_paced_too() -> None:
    sender = SlackSender("xoxb-unused")

    def buckets(action: str, target: str, attempts: int = 0, **payload: Any) -> list[str]:
        retried = effect(action, target, attempts, **payload)
        return [name for name, _ in sender.limits(retried)]

    assert buckets("post", "channel:C1") == ["slack:global", "slack:channel:C1"]
    assert buckets("post", "channel:C1", attempts=1)[-1] == "slack:method:conversations.history"
    assert buckets("thread_post", "thread:C1:1.0", attempts=1)[-1] == (
        "slack:method:conversations.replies"
    )
    assert buckets("dm", "user:U1") == ["slack:global", "slack:dm:U1"]
    assert "slack:method:conversations.open" in buckets("dm", "user:U1", file={"name": "a"})
    assert dict(sender.limits(effect("dm", "user:U1", file={"name": "a"})))[
        "slack:method:conversations.open"
    ] == RateLimit(50, 60.0)


async def test_a_passing_fault_in_the_read_back_defers_the_retry_instead_of_posting_blind(
    runtime: Runtime, sandbox: SlackSandbox, clock: FakeClock
) -> None:
    await queue(runtime, "p1", "post", f"channel:{CHANNEL}", text="Office hours")
    sandbox.fail_next("conversations.history", "internal_error")

    assert await crash_then_restart(runtime, sandbox, clock, DiesAfterSending) == 1

    assert [c.response["ok"] for c in sandbox.calls_to("conversations.history")] == [False, True]
    assert len(sandbox.messages_in(CHANNEL)) == 1
    assert (await row(runtime, "p1")).attempts == 3  # the crash, the fault, the delivery


async def test_a_retried_export_is_not_mistaken_for_an_earlier_export_of_the_same_name(
    runtime: Runtime, sandbox: SlackSandbox, clock: FakeClock
) -> None:
    export = {"name": "flywheel-my-data.json", "content": "{}"}
    await queue(runtime, "export:1", "dm", f"user:{MEMBER}", text="Your data", file=export)
    await runtime.dispatcher.drain()
    clock.advance(180)  # the member asks again three minutes later
    await queue(runtime, "export:2", "dm", f"user:{MEMBER}", text="Your data", file=export)

    assert await crash_then_restart(runtime, sandbox, clock, DiesBeforeSending) == 1

    names = [m["files"][0]["name"] for m in sandbox.messages_in(sandbox.dm_channel_id(MEMBER))]
    assert len(names) == 2 and len(set(names)) == 2
    assert all(name.startswith("flywheel-my-data-") for name in names)
    assert (await row(runtime, "export:2")).external_id != (
        await row(runtime, "export:1")
    ).external_id


async def test_a_rate_limited_read_back_holds_the_methods_bucket(sandbox: SlackSandbox) -> None:
    sender = SlackSender(sandbox.bot_token, api_base=sandbox.api_base)
    retried = effect("post", f"channel:{CHANNEL}", attempts=1, text="x")
    sandbox.rate_limit_next("conversations.history", retry_after=7)

    with pytest.raises(RetryLater) as held:
        await sender.send(retried)

    assert (held.value.bucket, held.value.retry_after) == ("slack:method:conversations.history", 7)
    assert sandbox.calls_to("chat.postMessage") == []


async def test_without_the_history_scope_a_retry_is_delivered_and_the_owner_is_told(
    runtime: Runtime,
    sandbox: SlackSandbox,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox.scopes = "chat:write,im:write"  # an app installed from an older manifest
    await queue(runtime, "p1", "post", f"channel:{CHANNEL}", text="Office hours")

    with caplog.at_level("WARNING", logger="bot.slack.sender"):
        assert await crash_then_restart(runtime, sandbox, clock, DiesBeforeSending) == 1

    assert len(sandbox.messages_in(CHANNEL)) == 1  # delivered, not dead-lettered
    (warning,) = [r.getMessage() for r in caplog.records if "earlier delivery" in r.getMessage()]
    assert "channels:history" in warning and "flywheel commands slack" in warning


async def test_a_thread_gone_from_under_a_retry_is_posted_to_and_reported_without_bad_advice(
    runtime: Runtime, sandbox: SlackSandbox, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    await queue(runtime, "r1", "thread_post", f"thread:{CHANNEL}:123.000001", text="Recap")

    with caplog.at_level("WARNING", logger="bot.slack.sender"):
        assert await crash_then_restart(runtime, sandbox, clock, DiesBeforeSending) == 1

    assert [c.response["error"] for c in sandbox.calls_to("conversations.replies")] == [
        "thread_not_found"
    ]
    (warning,) = [r.getMessage() for r in caplog.records if "earlier delivery" in r.getMessage()]
    assert "first message no longer exists" in warning and "reinstall" not in warning


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("flywheel-my-data.json", r"flywheel-my-data-[0-9a-f]{8}\.json"),
        ("archive.tar.gz", r"archive\.tar-[0-9a-f]{8}\.gz"),
        ("README", r"README-[0-9a-f]{8}"),
        ("file.", r"file-[0-9a-f]{8}"),
        (".env", r"\.env-[0-9a-f]{8}"),
    ],
)
def test_a_files_name_gets_a_reference_to_its_effect(name: str, shape: str) -> None:
    named = sender_module._file_name("privacy-export:7", name)

    assert re.fullmatch(shape, named)
    assert named == sender_module._file_name("privacy-export:7", name)  # stable across retries
    assert named != sender_module._file_name("privacy-export:8", name)
