"""The scripted tour (``flywheel demo --check``): every feature, step by step, on the demo.

Each step acts through the sandboxes as members and moderators would and reports what it
observed; the tour exits 0 only if every step's outcome was observed.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import FakeClock, SystemClock
from bot.demo.buying import PAYMENTS_TOUR
from bot.demo.community import (
    GENERAL,
    GUILD,
    OWNER,
    RITUALS,
    SLACK_GENERAL,
    STEP_TIMEOUT,
    Demo,
    answered,
    start_demo,
    stop_demo,
)
from bot.demo.recognition import RECOGNITION_TOUR
from bot.demo.ugc import UGC_TOUR
from bot.models import Identity, Member, OutboxMessage, RitualCheckin, RitualOccurrence
from bot.runtime import Runtime
from bot.sandbox.discord import RecordedCall
from bot.services import rituals
from bot.services.callers import Actor, Caller, Role, resolve_actor

# ----------------------------------------------------------------------------- the tour

Step = Callable[[Demo, dict[str, Any]], Awaitable[str]]


def _content(call: RecordedCall) -> str:
    body = call.json or {}
    return str((body.get("data") or body).get("content") or "")


async def _discord_reply(
    demo: Demo, name: str, user: int, options: list[dict[str, Any]] | None = None
) -> str:
    interaction = await demo.discord.send_slash_command(
        name, guild_id=GUILD, channel_id=GENERAL, user_id=user, options=options
    )
    call = await demo.discord.wait_for_call(answered(interaction), timeout=STEP_TIMEOUT)
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
        await demo.discord.wait_for_call(answered(interaction), timeout=STEP_TIMEOUT)
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
    *UGC_TOUR,
    *RECOGNITION_TOUR,
    *PAYMENTS_TOUR,
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
