"""The demo community and its scripted tour (``flywheel demo --check``).

It starts both sandboxes, a temporary SQLite database and the real bot (discord.py and
slack-bolt clients, web server, scheduler, event bus, outbox), seeds a community of about
50 members with history and two rituals, and runs a scripted tour of every feature,
reporting each step (exit 0 only if every step's outcome was observed).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, FakeClock, SystemClock
from bot.db import create_engine
from bot.db.migrate import upgrade_connection
from bot.models import Identity, Member, OutboxMessage, RitualCheckin, RitualOccurrence
from bot.platforms import attach_platforms
from bot.process import serve
from bot.runtime import Runtime, build_runtime
from bot.sandbox.discord import DiscordSandbox, RecordedCall, point_discord_py_at
from bot.sandbox.slack import SlackEventSender, SlackSandbox
from bot.services import rituals
from bot.services.callers import Actor, Caller, Role, resolve_actor
from bot.services.engagement import record_activity
from bot.settings import load_settings

GUILD = 900_000_000_000_000_001
OWNER = 900_000_000_000_000_010
GENERAL, RITUALS = 900_000_000_000_000_100, 900_000_000_000_000_101
REVIEW, SHOWCASE, NEWS = 900_000_000_000_000_102, 900_000_000_000_000_103, 900_000_000_000_000_104
TEAM, SLACK_GENERAL, SLACK_OWNER = "T0DEMO", "C0GENERAL", "U0OWNER"
SLACK_REVIEW, SLACK_SHOWCASE = "C0REVIEW", "C0SHOWCASE"
FIRST_NAMES = [
    "Ada",
    "Bea",
    "Cai",
    "Dev",
    "Eli",
    "Fay",
    "Gus",
    "Hana",
    "Ivo",
    "Jun",
    "Kai",
    "Lea",
    "Mo",
    "Nia",
    "Oli",
    "Pia",
    "Quin",
    "Ray",
    "Sol",
    "Tea",
    "Uma",
    "Vik",
    "Wren",
    "Xia",
    "Yan",
    "Zoe",
    "Abe",
    "Bo",
    "Cy",
    "Dara",
    "Emi",
    "Finn",
    "Gia",
    "Hal",
    "Isa",
    "Jo",
    "Kit",
    "Liv",
    "Max",
    "Noa",
    "Ona",
    "Pax",
    "Rae",
    "Sam",
    "Tov",
    "Ula",
    "Val",
    "Wes",
    "Yuki",
    "Zed",
]
STEP_TIMEOUT = 15.0


@dataclass
class Demo:
    """The running demo: sandboxes, runtime and the web port."""

    server: asyncio.Task[None]
    runtime: Runtime
    discord: DiscordSandbox
    slack: SlackSandbox
    slack_sender: SlackEventSender
    port: int
    members: list[int] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)


def _seed_sandboxes(discord: DiscordSandbox, slack: SlackSandbox) -> None:
    discord.add_guild(GUILD, "Acme Makers", owner_id=OWNER)
    discord.add_channel(GUILD, GENERAL, "general")
    discord.add_channel(GUILD, RITUALS, "rituals")
    discord.add_channel(GUILD, REVIEW, "ugc-review")
    discord.add_channel(GUILD, SHOWCASE, "showcase")
    discord.add_channel(GUILD, NEWS, "announcements")
    discord.add_member(GUILD, OWNER, "acme-founder")
    slack.add_channel(SLACK_GENERAL, "general")
    slack.add_channel(SLACK_REVIEW, "ugc-review")
    slack.add_channel(SLACK_SHOWCASE, "showcase")
    slack.add_user(SLACK_OWNER, "founder", real_name="Acme Founder", is_owner=True)
    for index, name in enumerate(FIRST_NAMES):
        discord.add_member(GUILD, 900_000_000_000_001_000 + index, name.lower())
        slack.add_user(f"U0M{index:03d}", name.lower(), real_name=name)


async def _seed_history(runtime: Runtime, clock: Clock) -> list[int]:
    """Create ~50 members with six weeks of history, and two rituals."""
    rng = random.Random(7)
    members = []
    async with runtime.sessions() as session, session.begin():
        owner = await resolve_actor(
            session,
            clock,
            community_id=runtime.community_id,
            caller=Caller(
                "discord", str(GUILD), str(OWNER), "acme-founder", Role.OWNER, str(RITUALS)
            ),
        )
        slack_owner = await resolve_actor(
            session,
            clock,
            community_id=runtime.community_id,
            caller=Caller("slack", TEAM, SLACK_OWNER, "founder", Role.OWNER, SLACK_GENERAL),
        )
        for index, name in enumerate(FIRST_NAMES):
            platform, space, user = (
                ("discord", str(GUILD), str(900_000_000_000_001_000 + index))
                if index % 3
                else ("slack", TEAM, f"U0M{index:03d}")
            )
            actor = await resolve_actor(
                session,
                clock,
                community_id=runtime.community_id,
                caller=Caller(platform, space, user, name, Role.MEMBER),
            )
            members.append(actor.member_id)
            for day in range(rng.randint(0, 12)):
                await record_activity(
                    session,
                    clock,
                    member_id=actor.member_id,
                    kind="message",
                    points=rng.choice((1, 2, 5)),
                    source_key=f"demo:{index}:{day}",
                    occurred_at=clock.now()
                    - timedelta(days=rng.randint(1, 42), minutes=rng.randint(0, 600)),
                )
        for name, minutes in (("Office Hours", 3), ("Monday Wins", 8)):
            start = clock.now() + timedelta(minutes=minutes)
            spec = rituals.RitualSpec(
                name=name,
                kind="office_hours" if name == "Office Hours" else "monday_wins",
                schedule=f"weekly {start:%a} {start:%H:%M}".lower(),
                timezone="UTC",
                prompt=rituals.TEMPLATES[
                    "office_hours" if name == "Office Hours" else "monday_wins"
                ].prompt,
                channel_id=str(RITUALS),
                reminder_minutes=(),
                checkin_window_minutes=30,
            )
            await rituals.create_ritual(session, clock, owner, spec)
            # A ritual's channel is on its editor's platform: the Slack owner adds Slack's.
            await rituals.edit_ritual(
                session, clock, slack_owner, name, rituals.RitualChanges(channel_id=SLACK_GENERAL)
            )
    return members


async def start_demo(*, check: bool, workdir: Path, clock: Clock, port: int = 8080) -> Demo:
    """Start sandboxes, database and bot; return once the bot is connected.

    The scripted tour (``check``) serves on a free port; the live demo on ``port``. If the bot
    cannot start (the port is in use), the sandboxes are stopped and its ConfigError raised.
    """
    discord = DiscordSandbox(clock=clock.monotonic)
    slack = SlackSandbox(team_id=TEAM)
    _seed_sandboxes(discord, slack)
    await discord.start()
    await slack.start()
    try:
        return await _start_bot(
            check=check, workdir=workdir, clock=clock, port=port, discord=discord, slack=slack
        )
    except BaseException:
        await slack.stop()
        await discord.stop()
        raise


async def _start_bot(
    *,
    check: bool,
    workdir: Path,
    clock: Clock,
    port: int,
    discord: DiscordSandbox,
    slack: SlackSandbox,
) -> Demo:
    point_discord_py_at(discord)
    database_url = f"sqlite+aiosqlite:///{workdir / 'demo.db'}"
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await upgrade_connection(connection)
    await engine.dispose()
    config = workdir / "bot.toml"
    config.write_text(
        '[community]\nname = "Acme Makers"\nslug = "acme"\ntimezone = "UTC"\n'
        f"[web]\nport = {0 if check else port}\n"
        + ("" if check else f'public_url = "http://127.0.0.1:{port}"\n')
        + f"[discord]\nguild_ids = [{GUILD}]\nowner_user_ids = [{OWNER}]\n"
        f"channels = {{ ugc-review = {REVIEW}, showcase = {SHOWCASE}, announcements = {NEWS} }}\n"
        f'[slack]\nmode = "http"\nowner_user_ids = ["{SLACK_OWNER}"]\n'
        f'channels = {{ ugc-review = "{SLACK_REVIEW}", showcase = "{SLACK_SHOWCASE}" }}\n'
        f'[media]\ndir = "{workdir / "media"}"\n'
        '[logging]\nlevel = "WARNING"\n',
        encoding="utf-8",
    )
    settings = load_settings(
        config,
        environ={
            "FLYWHEEL_DATABASE_URL": database_url,
            "DISCORD_TOKEN": "sandbox-discord-token",
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": slack.signing_secret,
        },
    )
    runtime = build_runtime(settings, clock)
    attach_platforms(runtime, slack_api=slack.api_base)
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    server = asyncio.create_task(
        serve(runtime, with_platforms=True, stop=stop, on_ready=ready), name="flywheel"
    )
    # The server task fails at once when it cannot listen: wait for that as well as for ready.
    started: set[asyncio.Future[Any]] = {ready, server}
    await asyncio.wait(started, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        ready.cancel()
        if not server.done():
            server.cancel()
            raise TimeoutError("the bot did not start serving within 30 s")
        server.result()  # raises what stopped it, e.g. a ConfigError: port in use
        raise RuntimeError("the bot stopped before it served")
    port = ready.result()
    await discord.wait_until_identified(timeout=30)
    demo = Demo(
        server,
        runtime,
        discord,
        slack,
        slack.sender(f"http://127.0.0.1:{port}/slack/events"),
        port,
        stop=stop,
    )
    demo.members = await _seed_history(runtime, clock)
    return demo


async def stop_demo(demo: Demo) -> None:
    """Stop the bot, then the sandboxes."""
    demo.stop.set()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(demo.server, timeout=15)
    await demo.slack.stop()
    await demo.discord.stop()


# ----------------------------------------------------------------------------- the tour

Step = Callable[[Demo, dict[str, Any]], Awaitable[str]]


def _answer_to(interaction_id: int) -> Callable[[RecordedCall], bool]:
    """Match the callback of one interaction."""
    prefix = f"/interactions/{interaction_id}/"
    return lambda call: call.path.startswith(prefix)


def _content(call: RecordedCall) -> str:
    body = call.json or {}
    return str((body.get("data") or body).get("content") or "")


async def _discord_reply(
    demo: Demo, name: str, user: int, options: list[dict[str, Any]] | None = None
) -> str:
    interaction = await demo.discord.send_slash_command(
        name, guild_id=GUILD, channel_id=GENERAL, user_id=user, options=options
    )
    # The answer: a callback carrying a message, or what fills in a deferred one.
    call = await demo.discord.wait_for_call(
        lambda c: (
            (
                c.path.startswith(f"/interactions/{interaction.id}/")
                and (c.json or {}).get("type") in (4, 7)
            )
            or (c.path.startswith("/webhooks/") and interaction.token in c.path)
        ),
        timeout=STEP_TIMEOUT,
    )
    return _content(call)


async def step_about(demo: Demo, state: dict[str, Any]) -> str:
    text = await _discord_reply(demo, "about", OWNER)
    assert "Flywheel" in text, text
    return "Discord /about answered with the version and what the bot does"


async def step_link_discord(demo: Demo, state: dict[str, Any]) -> str:
    user = 900_000_000_000_001_001  # Bea, seeded on Discord
    text = await _discord_reply(demo, "link", user)
    found = re.search(r"\b([A-Z2-9]{8})\b", text)
    assert found, text
    state["code"], state["linker"] = found.group(1), user
    return f"Discord /link showed a one-time code ({found.group(1)})"


async def step_link_slack(demo: Demo, state: dict[str, Any]) -> str:
    since = len(demo.slack.calls)
    reply = await demo.slack_sender.send_slash_command(
        text=f"link {state['code']}", user_id="U0M001", channel_id=SLACK_GENERAL
    )
    assert reply.status == 200, reply
    await demo.slack.wait_for_call(
        lambda c: c.method in ("response_url", "chat.postEphemeral"),
        timeout=STEP_TIMEOUT,
        since=since,
    )
    async with demo.runtime.sessions() as session:
        owners = set(
            (
                await session.scalars(
                    select(Identity.member_id).where(
                        Identity.user_id.in_((str(state["linker"]), "U0M001"))
                    )
                )
            ).all()
        )
    assert len(owners) == 1, owners
    return "Slack /flywheel link merged the Discord and Slack members into one"


async def step_privacy_export(demo: Demo, state: dict[str, Any]) -> str:
    user = 900_000_000_000_001_002
    await _discord_reply(demo, "privacy", user, options=[{"type": 1, "name": "export"}])
    call = await demo.discord.wait_for_call(
        lambda c: c.method == "POST" and bool(c.files), timeout=STEP_TIMEOUT
    )
    return f"/privacy export sent a DM with {', '.join(call.files)}"


async def _discord_owner(session: AsyncSession, runtime: Runtime) -> Actor:
    """Return the community's owner, acting on Discord."""
    caller = Caller("discord", str(GUILD), str(OWNER), "acme-founder", Role.OWNER, str(RITUALS))
    return await resolve_actor(
        session, runtime.clock, community_id=runtime.community_id, caller=caller
    )


async def step_ritual_posts(demo: Demo, state: dict[str, Any]) -> str:
    clock = demo.runtime.clock
    assert isinstance(clock, FakeClock)
    async with demo.runtime.sessions() as session, session.begin():
        owner = await _discord_owner(session, demo.runtime)
        member = await resolve_actor(
            session,
            clock,
            community_id=demo.runtime.community_id,
            caller=Caller("discord", str(GUILD), "900000000000001003", "Dev", Role.MEMBER),
        )
        await rituals.set_reminder(session, member, "Office Hours", on=True)
        views = {
            v.name: v for v in await rituals.list_rituals(session, clock, demo.runtime.community_id)
        }
        del owner
    fire = views["Office Hours"].next_fire
    assert fire is not None
    clock.set(fire - timedelta(minutes=1))
    state["fire"] = fire
    report = await rituals.tick(demo.runtime.sessions, clock, demo.runtime.commands)
    del report
    clock.set(fire + timedelta(seconds=5))
    report = await rituals.tick(demo.runtime.sessions, clock, demo.runtime.commands)
    assert report.posted, report
    state["occurrence"] = report.posted[0]
    demo.runtime.dispatcher.wake()
    post = await demo.discord.wait_for_call(
        lambda c: (
            c.method == "POST"
            and c.path == f"/channels/{RITUALS}/messages"
            and "Office Hours" in _content(c)
        ),
        timeout=STEP_TIMEOUT,
    )
    state["post_id"] = next(
        m["id"] for m in demo.discord.messages[RITUALS] if m.get("nonce") == post.json.get("nonce")
    )
    await demo.slack.wait_for_call(
        lambda c: (
            c.method == "chat.postMessage"
            and c.args.get("channel") == SLACK_GENERAL
            and "Office Hours" in str(c.args)
        ),
        timeout=STEP_TIMEOUT,
    )
    return "Office Hours posted once in Discord #rituals and Slack #general at its time"


async def step_checkin(demo: Demo, state: dict[str, Any]) -> str:
    user = 900_000_000_000_001_004
    async with demo.runtime.sessions() as session:
        uid = await session.scalar(
            select(RitualOccurrence.uid).where(RitualOccurrence.id == state["occurrence"])
        )
    assert uid is not None, "the occurrence has no public id"
    custom_id = rituals.checkin_button_id(uid)
    for _ in range(2):
        interaction = await demo.discord.send_component(
            custom_id,
            message_id=int(state["post_id"]),
            user_id=user,
            guild_id=GUILD,
            channel_id=RITUALS,
        )
        await demo.discord.wait_for_call(_answer_to(interaction.id), timeout=STEP_TIMEOUT)
    await demo.slack_sender.send_block_action(
        custom_id, custom_id, user_id="U0M006", channel_id=SLACK_GENERAL
    )
    async with demo.runtime.sessions() as session:
        rows = (
            await session.scalars(
                select(RitualCheckin).where(RitualCheckin.occurrence_id == state["occurrence"])
            )
        ).all()
        member = await session.get(Member, rows[0].member_id) if rows else None
    assert rows, "no check-in was recorded"
    assert member is not None
    return f"check-in by button counted once per member ({len(rows)} so far; {member.points_total} points for the first)"


async def step_recap(demo: Demo, state: dict[str, Any]) -> str:
    clock = demo.runtime.clock
    assert isinstance(clock, FakeClock)
    clock.set(state["fire"] + timedelta(minutes=31))
    await demo.runtime.dispatcher.drain()  # the posts must be out before their recap
    report = await rituals.tick(demo.runtime.sessions, clock, demo.runtime.commands)
    if not report.recaps:
        async with demo.runtime.sessions() as session:
            rows = (
                await session.execute(
                    select(OutboxMessage.key, OutboxMessage.status, OutboxMessage.last_error)
                )
            ).all()
        raise AssertionError(f"no recap queued; outbox: {rows}")
    demo.runtime.dispatcher.wake()
    thread = f"/channels/{state['post_id']}/messages"
    call = await demo.discord.wait_for_call(
        lambda c: c.method == "POST" and c.path == thread and "recap" in _content(c),
        timeout=STEP_TIMEOUT,
    )
    assert call.status == 200, call
    return "the recap went to the occurrence's thread with the attendance count"


async def step_reminder_dm(demo: Demo, state: dict[str, Any]) -> str:
    clock = demo.runtime.clock
    assert isinstance(clock, FakeClock)
    async with demo.runtime.sessions() as session, session.begin():
        owner = await _discord_owner(session, demo.runtime)
        view = await rituals.edit_ritual(
            session, clock, owner, "Office Hours", rituals.RitualChanges(reminder_minutes=(60,))
        )
    fire = view.next_fire
    assert fire is not None
    clock.set(fire - timedelta(minutes=59, seconds=50))
    report = await rituals.tick(demo.runtime.sessions, clock, demo.runtime.commands)
    assert report.reminder_dms == 1, report
    demo.runtime.dispatcher.wake()
    call = await demo.discord.wait_for_call(
        lambda c: (
            c.method == "POST"
            and "starts in 1 hour" in _content(c)
            and c.path != f"/channels/{RITUALS}/messages"
        ),
        timeout=STEP_TIMEOUT,
    )
    return f"a reminder DM reached the opted-in member ({call.path})"


TOUR: list[tuple[str, Step]] = [
    ("about", step_about),
    ("link on Discord", step_link_discord),
    ("link on Slack", step_link_slack),
    ("privacy export", step_privacy_export),
    ("ritual post", step_ritual_posts),
    ("ritual check-in", step_checkin),
    ("ritual recap", step_recap),
    ("ritual reminder DM", step_reminder_dm),
]


async def run_check(out: Callable[[str], None] = print) -> int:
    """Run the scripted tour; return 0 only if every step's outcome was observed."""
    with tempfile.TemporaryDirectory(prefix="flywheel-demo-") as workdir:
        clock = FakeClock(SystemClock().now().replace(second=0, microsecond=0))
        demo = await start_demo(check=True, workdir=Path(workdir), clock=clock)
        failures = 0
        state: dict[str, Any] = {}
        try:
            for name, step in TOUR:
                try:
                    observed = await step(demo, state)
                    out(f"✓ {name}: {observed}")
                except Exception as exc:  # each step reports and the tour goes on
                    failures += 1
                    detail = str(exc) or type(exc).__name__
                    out(f"✗ {name}: {type(exc).__name__}: {detail[:300]}")
        finally:
            await stop_demo(demo)
    out(f"{len(TOUR) - failures}/{len(TOUR)} steps passed")
    return 1 if failures else 0
