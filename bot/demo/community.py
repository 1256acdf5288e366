"""The demo community: both sandboxes, a temporary SQLite database and the real bot.

It starts the sandboxes and the real bot (discord.py and slack-bolt clients, web server,
scheduler, event bus, outbox) and seeds a community of about 50 members with history and
two rituals. The scripted tour (:mod:`bot.demo.tour`) and the live demo
(:mod:`bot.demo.live`) both run on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.clock import Clock
from bot.db import create_engine
from bot.db.migrate import upgrade_connection
from bot.demo.payments import (
    PAID_ROLE,
    SLACK_PAID_CHANNEL,
    WEBHOOK_SECRET,
    seed_shop,
    shop_config,
    shop_environ,
    start_stripe,
)
from bot.platforms import attach_platforms
from bot.process import serve
from bot.runtime import Runtime, build_runtime
from bot.sandbox.discord import DiscordSandbox, RecordedCall, point_discord_py_at
from bot.sandbox.slack import SlackEventSender, SlackSandbox
from bot.sandbox.stripe import StripeSandbox
from bot.services import rituals
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.engagement import record_activity
from bot.settings import load_settings

GUILD = 900_000_000_000_000_001
OWNER = 900_000_000_000_000_010
GENERAL, RITUALS = 900_000_000_000_000_100, 900_000_000_000_000_101
REVIEW, SHOWCASE, NEWS = 900_000_000_000_000_102, 900_000_000_000_000_103, 900_000_000_000_000_104
KUDOS = 900_000_000_000_000_105
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
    stripe: StripeSandbox
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
    discord.add_channel(GUILD, KUDOS, "kudos")
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
    stripe = start_stripe(clock)
    _seed_sandboxes(discord, slack)
    price = seed_shop(stripe, discord, slack, GUILD)
    await discord.start()
    await slack.start()
    await stripe.start()
    try:
        return await _start_bot(
            check=check,
            workdir=workdir,
            clock=clock,
            port=port,
            sandboxes=(discord, slack, stripe),
            price=price,
        )
    except BaseException:
        await stripe.stop()
        await slack.stop()
        await discord.stop()
        raise


async def _start_bot(
    *,
    check: bool,
    workdir: Path,
    clock: Clock,
    port: int,
    sandboxes: tuple[DiscordSandbox, SlackSandbox, StripeSandbox],
    price: str,
) -> Demo:
    discord, slack, stripe = sandboxes
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
        # The sandbox grants the Message Content intent: chat earns points in the demo.
        "message_content_intent = true\n"
        f"channels = {{ ugc-review = {REVIEW}, showcase = {SHOWCASE}, announcements = {NEWS},"
        f" recognition = {KUDOS} }}\n"
        f"access = {{ paid = {PAID_ROLE} }}\n"
        f'[slack]\nmode = "http"\nowner_user_ids = ["{SLACK_OWNER}"]\n'
        f'channels = {{ ugc-review = "{SLACK_REVIEW}", showcase = "{SLACK_SHOWCASE}" }}\n'
        f'access = {{ paid = "{SLACK_PAID_CHANNEL}" }}\n'
        f'[media]\ndir = "{workdir / "media"}"\n'
        f'[stripe]\napi_base = "{stripe.api_base}"\n'
        + shop_config(price)
        + '[logging]\nlevel = "WARNING"\n',
        encoding="utf-8",
    )
    settings = load_settings(
        config,
        environ={
            "FLYWHEEL_DATABASE_URL": database_url,
            "DISCORD_TOKEN": "sandbox-discord-token",
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": slack.signing_secret,
            **shop_environ(),
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
    if check:
        # The tour serves on a free port: links the bot hands out (/buy) must name it.
        web = settings.file.web.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})
        runtime.settings = settings.model_copy(
            update={"file": settings.file.model_copy(update={"web": web})}
        )
    await discord.wait_until_identified(timeout=30)
    stripe.add_webhook_endpoint(f"http://127.0.0.1:{port}/stripe/webhook", secret=WEBHOOK_SECRET)
    demo = Demo(
        server,
        runtime,
        discord,
        slack,
        slack.sender(f"http://127.0.0.1:{port}/slack/events"),
        stripe,
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
    await demo.stripe.stop()
    await demo.slack.stop()
    await demo.discord.stop()


def answered(interaction: Any) -> Callable[[RecordedCall], bool]:
    """Match an interaction's answer: a callback carrying a message, or what fills in a
    deferred one (the bot acknowledges first and answers once its transaction committed)."""
    prefix = f"/interactions/{interaction.id}/"
    return lambda call: (
        (call.path.startswith(prefix) and (call.json or {}).get("type") in (4, 7))
        or (call.path.startswith("/webhooks/") and interaction.token in call.path)
    )
