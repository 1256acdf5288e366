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
    KUDOS,
    OWNER,
    SLACK_GENERAL,
    STEP_TIMEOUT,
    Demo,
    answered,
)
from bot.models import AcceptedAnswer, Badge, Identity, Member, MemberBadge, OutboxMessage

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


async def step_rule_badge(demo: Demo, state: dict[str, Any]) -> str:
    """The UGC tour featured a Slack member's post (ugc_featured >= 1: Community Spotlight).

    They shared it without their name, so only they hear of the badge: a post in #kudos
    naming them would say who shared it.
    """
    demo.runtime.bus.wake()
    query = (
        select(Member.display_name, MemberBadge.uid)
        .join(MemberBadge, MemberBadge.member_id == Member.id)
        .join(Badge, Badge.id == MemberBadge.badge_id)
        .where(Badge.slug == "community-spotlight", MemberBadge.revoked_at.is_(None))
    )
    dm: OutboxMessage | None = None
    deadline = asyncio.get_running_loop().time() + STEP_TIMEOUT
    while asyncio.get_running_loop().time() < deadline:
        async with demo.runtime.sessions() as session:
            holders = (await session.execute(query)).all()
            if len(holders) == 1:
                dm = await session.scalar(
                    select(OutboxMessage).where(
                        OutboxMessage.key.startswith(f"badge-dm:{holders[0].uid}"),
                        OutboxMessage.status == "sent",
                    )
                )
        if dm is not None:
            break
        demo.runtime.dispatcher.wake()
        await asyncio.sleep(0.1)
    assert dm is not None, f"no sent DM for one Community Spotlight holder: {holders}"
    kudos = [m for m in demo.discord.messages[KUDOS] if "Spotlight" in str(m.get("content"))]
    assert not kudos, "the anonymous sharer was named in #kudos"
    return (
        f"{holders[0].display_name} got Community Spotlight once, by DM only "
        "(they shared without their name, so #kudos does not say who)"
    )


async def step_manual_badge(demo: Demo, state: dict[str, Any]) -> str:
    interaction = await demo.discord.send_slash_command(
        "badge",
        guild_id=GUILD,
        channel_id=GENERAL,
        user_id=OWNER,
        options=[
            {
                "type": 1,
                "name": "award",
                "options": [
                    {"type": 6, "name": "member", "value": str(discord_member(7))},
                    {"type": 3, "name": "badge", "value": "Founding Member"},
                ],
            }
        ],
    )
    await demo.discord.wait_for_call(answered(interaction), timeout=STEP_TIMEOUT)
    demo.runtime.dispatcher.wake()
    post = await demo.discord.wait_for_call(
        lambda c: (
            c.method == "POST"
            and c.path == f"/channels/{KUDOS}/messages"
            and "Founding Member" in str((c.json or {}).get("content"))
        ),
        timeout=STEP_TIMEOUT,
    )
    body = post.json or {}
    assert (body.get("allowed_mentions") or {}).get("parse") == [], "the announcement may ping"
    return f"the owner gave Founding Member with /badge award: #kudos says {body['content'][:70]!r}"


RECOGNITION_TOUR: list[tuple[str, Callable[[Demo, dict[str, Any]], Any]]] = [
    ("chat points", step_chat_points),
    ("accepted answer", step_accepted_answer),
    ("rule badge", step_rule_badge),
    ("badge award", step_manual_badge),
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
