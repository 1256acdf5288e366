"""Slack events through the one dispatcher: every subscribed feature hears each event, a
failing one stops nobody, and the app has exactly one bolt listener per event type."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.clock import FakeClock
from bot.errors import Forbidden
from bot.runtime import Runtime
from bot.sandbox.slack import SlackSandbox
from bot.slack import app as slack_app
from bot.slack.app import SlackPlatform
from bot.slack.front import EventCall, SlackFront
from bot.slack.sender import SlackSender
from tests.log_waiter import LogWaiter
from tests.slack.conftest import Served
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

Registrar = Callable[[AsyncApp, SlackFront], None]


class Recorder:
    """A test-only second feature: it records the messages and reactions it is handed."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []
        self._changed = asyncio.Event()

    def register(self, app: AsyncApp, front: SlackFront) -> None:
        front.events.on("message", self.heard, when=self.from_a_person)
        front.events.on("reaction_added", self.heard)

    async def from_a_person(self, call: EventCall) -> bool:
        return bool(call.user_id) and not call.event.get("bot_id")

    async def heard(self, call: EventCall) -> None:
        event = call.event
        ts = event.get("ts") if event["type"] == "message" else event["item"]["ts"]
        self.seen.append((event["type"], call.user_id, str(ts)))
        self._changed.set()

    async def wait_for(self, count: int) -> list[tuple[str, str, str]]:
        async with asyncio.timeout(5):
            while len(self.seen) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.seen


def failing(app: AsyncApp, front: SlackFront) -> None:
    """A feature registered before rituals whose handlers raise: a bug and a refusal."""

    async def broken(call: EventCall) -> None:
        raise RuntimeError("a bug in an event handler")

    async def refusing(call: EventCall) -> None:
        raise Forbidden("Not for you.")

    front.events.on("message", broken)
    front.events.on("reaction_added", refusing)


def add_features(
    monkeypatch: pytest.MonkeyPatch,
    *,
    before: Sequence[Registrar] = (),
    after: Sequence[Registrar] = (),
) -> None:
    """Add test-only features before and after the real ones, for the next app built."""
    real = slack_app.feature_registrars
    monkeypatch.setattr(slack_app, "feature_registrars", lambda: [*before, *real(), *after])


@pytest.fixture
def before() -> Sequence[Registrar]:
    """Test-only features registered before the real ones (a test parametrizes it)."""
    return ()


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch, before: Sequence[Registrar]) -> Recorder:
    """Register the recorder after the real features."""
    recorder = Recorder()
    add_features(monkeypatch, before=before, after=[recorder.register])
    return recorder


@pytest.fixture
def served(recorder: Recorder, served: Served) -> Served:
    """The real app, built after the test-only features were added."""
    return served


@pytest.fixture(autouse=True)
def workspace(sandbox: SlackSandbox, runtime: Runtime) -> None:
    """Seed two more members and the rituals channel; deliver the outbox to the sandbox."""
    sandbox.add_user(BOB, "bob", real_name="Bob Builder")
    sandbox.add_user(CARA, "cara", real_name="Cara Crafts")
    sandbox.add_channel(RITUALS, "rituals")
    runtime.dispatcher.register(SlackSender(sandbox.bot_token, api_base=sandbox.api_base))


@pytest.fixture
def ritual_log(log_waiter: Callable[[str], LogWaiter]) -> LogWaiter:
    return log_waiter("bot.slack.rituals")


async def ritual_post(served: Served, sandbox: SlackSandbox, clock: FakeClock) -> str:
    """Create a ritual, fire it, and return the ts of its post."""
    await create_from_template(served, sandbox)
    await fire(served.runtime, clock, FRIDAY_NOON)
    (post,) = posts_in(sandbox, RITUALS)
    return str(post.response["ts"])


async def react_and_reply(served: Served, ts: str) -> str:
    """Bob reacts to the post, Cara replies in its thread; return the reply's ts."""
    reply_ts = f"{float(ts) + 5:.6f}"
    await served.sender.send_event(
        {
            "type": "reaction_added",
            "user": BOB,
            "reaction": "raised_hands",
            "item": {"type": "message", "channel": RITUALS, "ts": ts},
        }
    )
    await served.sender.send_event(
        {
            "type": "message",
            "channel": RITUALS,
            "channel_type": "channel",
            "user": CARA,
            "text": "Here is what I made this week",
            "ts": reply_ts,
            "thread_ts": ts,
        }
    )
    return reply_ts


# -- every subscriber hears the event ---------------------------------------------------------


async def test_rituals_and_a_second_feature_both_get_the_same_reaction_and_thread_reply(
    recorder: Recorder,
    served: Served,
    sandbox: SlackSandbox,
    clock: FakeClock,
    ritual_log: LogWaiter,
) -> None:
    ts = await ritual_post(served, sandbox, clock)

    reply_ts = await react_and_reply(served, ts)

    await ritual_log.wait_for("check-in by reaction")
    await ritual_log.wait_for("check-in by reply")
    assert await recorder.wait_for(2) == [
        ("reaction_added", BOB, ts),
        ("message", CARA, reply_ts),
    ]
    runtime = served.runtime
    bob, cara = await member_id(runtime, BOB), await member_id(runtime, CARA)
    assert await checkins(runtime) == {bob: "reaction", cara: "reply"}


async def test_each_subscriber_keeps_its_own_filter(
    recorder: Recorder, served: Served, ritual_log: LogWaiter
) -> None:
    # A plain message in a channel: not a ritual thread reply, so only the recorder hears it.
    await served.sender.send_event(
        {"type": "message", "channel": RITUALS, "user": CARA, "text": "hi", "ts": "1.000001"}
    )
    # The app's own message and an edit pass neither feature's filter.
    await served.sender.send_event(
        {"type": "message", "channel": RITUALS, "bot_id": "B1", "text": "bot", "ts": "1.000002"}
    )
    await served.sender.send_event(
        {"type": "message", "subtype": "message_changed", "channel": RITUALS, "ts": "1.000003"}
    )
    await served.sender.send_event(
        {"type": "message", "channel": RITUALS, "user": BOB, "text": "later", "ts": "1.000004"}
    )

    # Each event's handlers run after its ack, in the order the events came: once Bob's is
    # seen, the two in between were passed over.
    assert sorted(await recorder.wait_for(2), key=lambda heard: heard[2]) == [
        ("message", CARA, "1.000001"),
        ("message", BOB, "1.000004"),
    ]
    assert ritual_log.messages == []


# -- one handler's failure is its own ---------------------------------------------------------


@pytest.mark.parametrize("before", [[failing]], ids=["a-failing-feature-first"])
async def test_a_failing_subscriber_stops_neither_rituals_nor_the_next_one_and_logs_one_error(
    recorder: Recorder,
    served: Served,
    sandbox: SlackSandbox,
    clock: FakeClock,
    ritual_log: LogWaiter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    ts = await ritual_post(served, sandbox, clock)
    seen = len(sandbox.calls)

    reply_ts = await react_and_reply(served, ts)

    await ritual_log.wait_for("check-in by reaction")
    await ritual_log.wait_for("check-in by reply")
    assert await recorder.wait_for(2) == [
        ("reaction_added", BOB, ts),
        ("message", CARA, reply_ts),
    ]
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].name == "bot.slack.events" and errors[0].exc_info is not None
    assert re.fullmatch(
        r"Slack message handler failing\.<locals>\.broken failed \(error id \w+\)",
        errors[0].getMessage(),
    )
    # The refusal is noted like any other, as a reason code and never as an error.
    refusals = [record.getMessage() for record in caplog.records if record.name == "bot.refusals"]
    assert refusals == ["refused Slack reaction_added event: Forbidden"]
    # Nobody was told anything: nobody is waiting for an answer to an event.
    answered = {"response_url", "chat.postEphemeral", "chat.postMessage"}
    assert [call.method for call in sandbox.calls[seen:] if call.method in answered] == []


# -- one bolt listener per event type ---------------------------------------------------------


def event_request(event: dict[str, Any]) -> AsyncBoltRequest:
    body = {"type": "event_callback", "team_id": "T0", "api_app_id": "A0", "event": event}
    return AsyncBoltRequest(body=json.dumps(body), headers={"content-type": ["application/json"]})


@pytest.mark.parametrize(
    "event",
    [
        {"type": "message", "user": CARA, "ts": "1.0", "thread_ts": "0.5"},
        {"type": "message", "subtype": "message_changed", "ts": "1.0"},
        {"type": "reaction_added", "user": BOB, "item": {"type": "message", "ts": "1.0"}},
        {"type": "reaction_removed", "user": BOB, "item": {"type": "message", "ts": "1.0"}},
        {"type": "app_home_opened", "user": BOB, "tab": "home"},
        {"type": "team_join", "user": {"id": BOB}},
    ],
    ids=lambda event: event.get("subtype") or event["type"],
)
async def test_exactly_one_bolt_listener_matches_each_event_type(
    recorder: Recorder, served: Served, event: dict[str, Any]
) -> None:
    app = served.platform.app
    request = event_request(event)
    matching = [
        listener
        for listener in app._async_listeners
        if await listener.async_matches(req=request, resp=BoltResponse(status=404))
    ]

    assert len(matching) == 1
    subscribed = served.platform.front.events.event_types
    assert {"message", "reaction_added", "app_home_opened"} <= set(subscribed)
    # A subscribed type has a listener of its own; any other is acknowledged and ignored.
    name = matching[0].ack_function.__name__
    assert name == (f"on_{event['type']}" if event["type"] in subscribed else "ignore_event")


@pytest.mark.parametrize(
    "listen",
    [
        lambda app, handler: app.event("message")(handler),
        lambda app, handler: app.event("reaction_removed", matchers=[])(handler),
        lambda app, handler: app.message("hello")(handler),
    ],
    ids=["event", "an unsubscribed event", "message"],
)
async def test_a_second_bolt_event_listener_fails_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
    runtime: Runtime,
    sandbox: SlackSandbox,
    listen: Callable[[AsyncApp, Callable[..., Any]], None],
) -> None:
    async def handler() -> None:
        return None

    def sneaky(app: AsyncApp, front: SlackFront) -> None:
        listen(app, handler)

    add_features(monkeypatch, after=[sneaky])

    with pytest.raises(TypeError, match=r"front\.events\.on"):
        SlackPlatform(runtime, api_base=sandbox.api_base)


async def test_subscribing_after_start_up_fails(recorder: Recorder, served: Served) -> None:
    with pytest.raises(RuntimeError, match="register"):
        served.platform.front.events.on("message", recorder.heard)
