"""Recognition in the demo: members chat and earn points, an answer is marked accepted, and
/rank and /leaderboard answer with cards (the tour's steps and the live demo's chatter)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from bot.demo.community import (
    FIRST_NAMES,
    GENERAL,
    GUILD,
    SLACK_GENERAL,
    STEP_TIMEOUT,
    Demo,
    answered,
)
from bot.models import AcceptedAnswer, Identity, Member

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Things the demo's members say (all long enough to count).
CHATTER = (
    "Just finished my first loaf with the starter kit!",
    "Anyone tried the new glaze on stoneware?",
    "Office hours yesterday helped a lot, thanks all",
    "Sharing my setup later today, it finally works",
    "What temperature do you use for the second bake?",
    "Week three of the challenge and still going strong",
)


def discord_member(index: int) -> int:
    """Return the Discord user id of the demo's member ``index`` (index % 3 != 0)."""
    return 900_000_000_000_001_000 + index


async def points_of(demo: Demo, platform: str, user: str) -> int:
    """Return a member's points by their platform account (0 if not seen yet)."""
    async with demo.runtime.sessions() as session:
        found = await session.scalar(
            select(Member.points_total)
            .join(Identity, Identity.member_id == Member.id)
            .where(Identity.platform == platform, Identity.user_id == user)
        )
    return int(found or 0)


async def chat(demo: Demo, speakers: list[tuple[str, str]], rng: random.Random) -> int:
    """Send one message from each ``(platform, user)`` and wait until the pipeline wrote them."""
    ingest = demo.runtime.ingest
    received = ingest.stats.received
    for platform, user in speakers:
        line = f"{rng.choice(CHATTER)} ({rng.randint(1, 999)})"
        if platform == "discord":
            await demo.discord.send_message_create(GENERAL, int(user), line, GUILD)
        else:
            await demo.slack_sender.send_user_message(user, SLACK_GENERAL, line)
    await asyncio.wait_for(ingest.wait_received(received + len(speakers)), STEP_TIMEOUT)
    return await ingest.flush()


async def step_chat_points(demo: Demo, state: dict[str, Any]) -> str:
    speakers = [
        ("discord", str(discord_member(1))),
        ("discord", str(discord_member(2))),
        ("slack", "U0M003"),
    ]
    before = [await points_of(demo, p, u) for p, u in speakers]
    await chat(demo, speakers, random.Random(3))
    after = [await points_of(demo, p, u) for p, u in speakers]
    gained = [b - a for a, b in zip(before, after, strict=True)]
    assert all(g > 0 for g in gained), f"points before {before}, after {after}"
    # The cooldown: the same members again at once earn nothing more.
    await chat(demo, speakers, random.Random(4))
    again = [await points_of(demo, p, u) for p, u in speakers]
    assert again == after, f"a second message within the cooldown earned points: {again}"
    return (
        f"two Discord members and one Slack member chatted: +{gained[0]} points each; "
        "a second message within the cooldown earned nothing"
    )


async def step_accepted_answer(demo: Demo, state: dict[str, Any]) -> str:
    asker, helper = discord_member(4), discord_member(5)
    question = await demo.discord.send_message_create(
        GENERAL, asker, "How long should the dough rest before shaping?", GUILD
    )
    reply = await demo.discord.send_message_create(
        GENERAL, helper, "Overnight in the fridge, then an hour out.", GUILD, reply_to=question
    )
    before = await points_of(demo, "discord", str(helper))
    interaction = await demo.discord.send_message_command(
        "Mark as answer", message_id=reply, user_id=asker
    )
    await demo.discord.wait_for_call(answered(interaction), timeout=STEP_TIMEOUT)
    async with demo.runtime.sessions() as session:
        row = await session.scalar(
            select(AcceptedAnswer).where(AcceptedAnswer.message_id == str(question))
        )
    assert row is not None, "no accepted answer was recorded"
    after = await points_of(demo, "discord", str(helper))
    assert after > before, f"the answerer has {after} points (had {before})"
    return (
        f"{FIRST_NAMES[4]} marked {FIRST_NAMES[5]}'s reply as the answer: +{after - before} points"
    )


def _bot_post(demo: Demo) -> dict[str, Any]:
    posted = [m for m in demo.discord.messages[GENERAL] if m["author"].get("bot")]
    assert posted, "the bot posted nothing in #general"
    return posted[-1]


def _card(demo: Demo, message: dict[str, Any]) -> bytes:
    attachments = message.get("attachments") or []
    assert attachments, f"no image attached: {str(message.get('content'))[:120]}"
    data = demo.discord.attachments[int(attachments[0]["id"])]
    assert data.startswith(PNG_SIGNATURE), "the attachment is not a PNG"
    return data


async def step_rank_card(demo: Demo, state: dict[str, Any]) -> str:
    interaction = await demo.discord.send_slash_command(
        "rank", guild_id=GUILD, channel_id=GENERAL, user_id=discord_member(1)
    )
    await demo.discord.wait_for_call(answered(interaction), timeout=STEP_TIMEOUT)
    message = _bot_post(demo)
    card = _card(demo, message)
    return f"/rank answered with a {len(card):,}-byte PNG card: {message['content'][:80]}"


async def step_leaderboard_pages(demo: Demo, state: dict[str, Any]) -> str:
    interaction = await demo.discord.send_slash_command(
        "leaderboard", guild_id=GUILD, channel_id=GENERAL, user_id=discord_member(2)
    )
    await demo.discord.wait_for_call(answered(interaction), timeout=STEP_TIMEOUT)
    message = _bot_post(demo)
    first = _card(demo, message)
    buttons = {
        button.get("label"): button["custom_id"]
        for row in message.get("components", [])
        for button in row.get("components", [])
    }
    assert "Next" in buttons, f"no Next button: {sorted(map(str, buttons))}"
    clicked = await demo.discord.send_component(
        buttons["Next"],
        message_id=int(message["id"]),
        user_id=discord_member(2),
        guild_id=GUILD,
        channel_id=GENERAL,
    )
    await demo.discord.wait_for_call(answered(clicked), timeout=STEP_TIMEOUT)
    edited = demo.discord.state.messages_by_id[int(message["id"])]
    second = _card(demo, edited)
    assert second != first, "Next did not change the card"
    heading = str(edited.get("content", "")).split("\n")[0]
    return f"/leaderboard answered with a PNG card and Next turned it: {heading[:80]}"


RECOGNITION_TOUR: list[tuple[str, Callable[[Demo, dict[str, Any]], Any]]] = [
    ("chat points", step_chat_points),
    ("accepted answer", step_accepted_answer),
    ("rank card", step_rank_card),
    ("leaderboard pages", step_leaderboard_pages),
]


async def chatter(demo: Demo, rng: random.Random, out: Callable[[str], None]) -> None:
    """The live demo's members chat: a few Discord and Slack members say something."""
    indexes = rng.sample(range(len(FIRST_NAMES)), 4)
    speakers = [
        ("discord", str(discord_member(i))) if i % 3 else ("slack", f"U0M{i:03d}") for i in indexes
    ]
    written = await chat(demo, speakers, rng)
    names = ", ".join(FIRST_NAMES[i] for i in indexes)
    out(f"[{demo.runtime.clock.now():%a %H:%M}] {names} chatted ({written} messages written)")
