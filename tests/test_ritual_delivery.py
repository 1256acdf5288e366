"""Rituals end to end through the outbox and the Discord and Slack sandboxes: one post per
occurrence, whatever the number of schedulers, restarts or crashes."""

from __future__ import annotations

import asyncio
import bisect
import sys
import textwrap
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.clock import FakeClock
from bot.db import create_engine
from bot.discord.sender import DiscordSender
from bot.outbox import Dispatcher
from bot.sandbox.discord_server import DiscordSandbox
from bot.sandbox.slack_server import SlackSandbox
from bot.services import rituals
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.schedules import fire_times, parse_schedule
from bot.settings import OutboxSettings
from bot.slack.sender import SlackSender
from tests.conftest import make_spaces

START = datetime(2026, 3, 1, 6, tzinfo=UTC)
END = datetime(2026, 3, 31, 23, tzinfo=UTC)
SCHEDULES = {
    "Daily Standup": "weekly mon,tue,wed,thu,fri,sat,sun 10:00",
    "Feedback Friday": "weekly fri 16:30",
}
CHANNEL = 500
SLACK_CHANNEL = "C0RITUALS"


@pytest_asyncio.fixture
async def sandbox():
    clock = FakeClock(START)
    server = DiscordSandbox(clock=clock.monotonic)
    server.add_guild(111, "Acme", owner_id=1)
    server.add_channel(111, CHANNEL, "rituals")
    await server.start()
    yield server, clock
    await server.stop()


async def _create_rituals(sessions, clock, *, platform: str = "discord") -> None:
    space, channel = ("111", str(CHANNEL)) if platform == "discord" else ("T0001", SLACK_CHANNEL)
    async with sessions() as session, session.begin():
        discord, _ = await make_spaces(session, clock)
        caller = Caller(platform, space, "mod", "Mod", Role.MODERATOR, channel)
        mod = await resolve_actor(session, clock, community_id=discord.community_id, caller=caller)
        for name, schedule in SCHEDULES.items():
            spec = rituals.RitualSpec(
                name=name,
                schedule=schedule,
                timezone="Europe/Berlin",
                prompt=f"{name} is on!",
                reminder_minutes=(),
                channel_id=channel,
                thread_per_occurrence=False,
            )
            await rituals.create_ritual(session, clock, mod, spec)


def _moments() -> list[datetime]:
    """Every fire time of the month plus a little, in order (a moved clock, not a slept one)."""
    times = set()
    for schedule in SCHEDULES.values():
        for t in fire_times(parse_schedule(schedule), "Europe/Berlin", START, END):
            times.update({t + timedelta(seconds=5), t + timedelta(seconds=50)})
    return sorted(times)


def _expected() -> int:
    return sum(
        len(fire_times(parse_schedule(s), "Europe/Berlin", START, END)) for s in SCHEDULES.values()
    )


def _posts(server: DiscordSandbox | SlackSandbox) -> Counter[str]:
    """Count ritual posts by their title line (recaps and reminders left out)."""
    if isinstance(server, SlackSandbox):
        texts = [message["text"] for message in server.messages_in(SLACK_CHANNEL)]
    else:
        texts = [message["content"] for message in server.messages[CHANNEL]]
    titles = (text.split("\n")[0] for text in texts)
    return Counter(title for title in titles if " · " in title)


def _sender(server: DiscordSandbox | SlackSandbox) -> DiscordSender | SlackSender:
    if isinstance(server, SlackSandbox):
        return SlackSender(server.bot_token, api_base=server.api_base)
    return DiscordSender("sandbox-token", api_base=server.api_base)


class Instance:
    """One scheduler process: its own engine, session factory, dispatcher and sender."""

    def __init__(self, url: str, clock: FakeClock, server: DiscordSandbox | SlackSandbox) -> None:
        self.engine = create_engine(url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.sender = _sender(server)
        self.dispatcher = Dispatcher(
            self.sessions, clock, OutboxSettings(lease_seconds=60), [self.sender]
        )
        self.clock = clock

    async def step(self) -> None:
        await rituals.tick(self.sessions, self.clock)
        await self.dispatcher.dispatch_due()

    async def close(self) -> None:
        if isinstance(self.sender, DiscordSender):
            await self.sender.close()
        await self.engine.dispose()


async def test_two_schedulers_on_one_database_post_each_occurrence_once_over_a_month(
    committed, database_url, sandbox
):
    server, clock = sandbox
    await _create_rituals(committed, clock)
    instances = [Instance(database_url, clock, server) for _ in range(2)]
    try:
        for moment in _moments():
            clock.set(moment)
            await asyncio.gather(*(instance.step() for instance in instances))
        await instances[0].dispatcher.drain()
    finally:
        for instance in instances:
            await instance.close()
    posts = _posts(server)
    assert sum(posts.values()) == _expected() == 31 + 4
    assert set(posts.values()) == {1}, [title for title, n in posts.items() if n > 1]


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import datetime
    from sqlalchemy.ext.asyncio import async_sessionmaker
    from bot.clock import FakeClock
    from bot.db import create_engine
    from bot.discord.sender import DiscordSender
    from bot.outbox import Dispatcher
    from bot.services import rituals
    from bot.settings import OutboxSettings
    from bot.slack.sender import SlackSender

    platform, url, api_base, token, *moments = sys.argv[1:]
    Base = DiscordSender if platform == "discord" else SlackSender

    class SendsThenHangs(Base):
        async def send(self, effect):
            message_id = await super().send(effect)
            print("sent", flush=True)  # killed here: sent, but never marked sent
            await asyncio.Event().wait()

    async def main():
        clock = FakeClock(datetime.fromisoformat(moments[0]))
        engine = create_engine(url)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        normal = Dispatcher(sessions, clock, OutboxSettings(lease_seconds=60), [Base(token, api_base=api_base)])
        for moment in moments[:-1]:
            clock.set(datetime.fromisoformat(moment))
            await rituals.tick(sessions, clock)
            await normal.dispatch_due()
        clock.set(datetime.fromisoformat(moments[-1]))
        await rituals.tick(sessions, clock)
        hanging = Dispatcher(sessions, clock, OutboxSettings(lease_seconds=60), [SendsThenHangs(token, api_base=api_base)])
        await hanging.dispatch_due()

    asyncio.run(main())
    """
)


@pytest_asyncio.fixture(params=["discord", "slack"])
async def either_sandbox(request):
    clock = FakeClock(START)
    if request.param == "discord":
        server = DiscordSandbox(clock=clock.monotonic)
        server.add_guild(111, "Acme", owner_id=1)
        server.add_channel(111, CHANNEL, "rituals")
    else:
        server = SlackSandbox(clock=lambda: clock.now().timestamp())
        server.add_channel(SLACK_CHANNEL, "rituals")
    await server.start()
    yield request.param, server, clock
    await server.stop()


async def test_a_scheduler_killed_mid_send_and_restarted_posts_each_occurrence_once(
    committed, database_url, either_sandbox
):
    platform, server, clock = either_sandbox
    await _create_rituals(committed, clock, platform=platform)
    moments = _moments()
    half = len(moments) // 2
    # The sandbox reads this clock; while the child runs, it stands at the child's last moment.
    clock.set(moments[half - 1])
    token = server.bot_token if isinstance(server, SlackSandbox) else "sandbox-token"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        platform,
        database_url,
        server.api_base,
        token,
        *(m.isoformat() for m in moments[:half]),
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    line = await asyncio.wait_for(child.stdout.readline(), timeout=60)
    assert line.strip() == b"sent"
    child.kill()
    await child.wait()
    # The restarted instance takes the leased row up again after the lease. On Discord the
    # nonce (enforce_nonce) answers with the message already posted; on Slack the sender finds
    # the message carrying the outbox key in the channel's history and does not post it again.
    restarted = Instance(database_url, clock, server)
    try:
        clock.set(moments[half - 1] + timedelta(seconds=61))
        await restarted.step()
        for moment in moments[half:]:
            clock.set(max(moment, clock.now()))
            await restarted.step()
        await restarted.dispatcher.drain()
    finally:
        await restarted.close()
    posts = _posts(server)
    assert set(posts.values()) == {1}, [title for title, n in posts.items() if n > 1]
    assert sum(posts.values()) == _expected(), sorted(posts)
    if isinstance(server, SlackSandbox):
        keys = Counter(
            call.args["metadata"]["event_payload"]["key"]
            for call in server.calls_to("chat.postMessage")
        )
        assert set(keys.values()) == {1}  # not even the crashed post was sent twice
        (looked,) = server.calls_to("conversations.history")  # only the retried one looked
        assert looked.args["channel"] == SLACK_CHANNEL
    else:
        nonces = Counter(
            call.json.get("nonce")
            for call in server.calls_matching("POST", f"/channels/{CHANNEL}/messages")
        )
        assert max(nonces.values()) == 2  # the one resent after the crash, absorbed by the nonce


async def _remind_500(committed, clock, platform: str, users: list[str]) -> None:
    """Office Hours with an hour's reminder, every user opted in; tick at the reminder time."""
    space, channel = ("111", str(CHANNEL)) if platform == "discord" else ("T0001", SLACK_CHANNEL)
    async with committed() as session, session.begin():
        discord, _ = await make_spaces(session, clock)
        community_id = discord.community_id
        mod = await resolve_actor(
            session,
            clock,
            community_id=community_id,
            caller=Caller(platform, space, "mod", "Mod", Role.MODERATOR, channel),
        )
        spec = rituals.RitualSpec(
            name="Office Hours",
            schedule="weekly mon 18:00",
            timezone="UTC",
            prompt="Ask us anything",
            reminder_minutes=(60,),
            channel_id=channel,
        )
        await rituals.create_ritual(session, clock, mod, spec)
        for user in users:
            member = await resolve_actor(
                session,
                clock,
                community_id=community_id,
                caller=Caller(platform, space, user, None, Role.MEMBER),
            )
            await rituals.set_reminder(session, member, "Office Hours", on=True)
    clock.set(datetime(2026, 3, 2, 17, 0, 10, tzinfo=UTC))  # Monday, one hour before
    report = await rituals.tick(committed, clock)
    assert report.reminder_dms == 500


async def test_reminder_dms_to_500_members_are_paced_and_all_arrive(committed, sandbox):
    server, clock = sandbox
    users = [str(800_000_000_000_000_000 + index) for index in range(500)]
    for user in users:
        server.add_member(111, int(user), f"member-{user[-3:]}")
    await _remind_500(committed, clock, "discord", users)
    dispatcher = Dispatcher(committed, clock, OutboxSettings())
    sender = DiscordSender("sandbox-token", api_base=server.api_base, limiter=dispatcher.limiter)
    dispatcher.register(sender)
    try:
        await dispatcher.drain()
    finally:
        await sender.close()
    dms = [
        c
        for c in server.calls
        if c.method == "POST"
        and c.path.endswith("/messages")
        and c.path != f"/channels/{CHANNEL}/messages"
    ]
    assert len(dms) == 500 and all(c.status == 200 for c in dms)
    times = sorted(c.at for c in server.calls)
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 50  # Discord's global limit, counted by the sandbox on the same clock


def _busiest(times: list[float], window: float) -> int:
    """Return the most calls seen in any window of this many seconds."""
    times = sorted(times)
    return max(
        (bisect.bisect_left(times, start + window) - index for index, start in enumerate(times)),
        default=0,
    )


async def test_reminder_dms_to_500_slack_members_are_paced_and_all_arrive(committed):
    clock = FakeClock(START)
    server = SlackSandbox(clock=lambda: clock.now().timestamp())
    server.add_channel(SLACK_CHANNEL, "rituals")
    users = [f"U{index:05d}" for index in range(500)]
    for user in users:
        server.add_user(user, f"member-{user[-3:]}")
    await server.start()
    try:
        await _remind_500(committed, clock, "slack", users)
        dispatcher = Dispatcher(committed, clock, OutboxSettings())
        dispatcher.register(SlackSender(server.bot_token, api_base=server.api_base))
        await dispatcher.drain()
    finally:
        await server.stop()
    for user in users:
        (dm,) = server.messages_in(server.dm_channel_id(user))
        assert dm["text"].startswith("Office Hours starts in 1 hour")
    posts = server.calls_to("chat.postMessage")
    assert len(posts) == 501 and all(call.ok for call in posts)  # 500 DMs, 1 channel reminder
    assert _busiest([c.at for c in server.calls], 1.0) <= 50  # our workspace-wide pace
    assert _busiest([c.at for c in posts if c.args["channel"] == users[0]], 1.0) <= 1
    # No conversations.open (Tier 3): at 50 a minute, 500 of them would take 10 minutes.
    assert server.calls_to("conversations.open") == []
    # ...and it was not slow either: 500 DMs at 50 a second.
    assert max(c.at for c in posts) - min(c.at for c in posts) < 15
