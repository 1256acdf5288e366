"""Rituals end to end on Discord: a moderator creates one with the modal, it posts, members
check in by button (points once, even when clicking twice), by reaction and by thread reply."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.discord.sender import DiscordSender
from bot.models import Member, RitualCheckin, RitualLink
from bot.services import rituals
from tests.discord.conftest import (
    ALICE_ID,
    BOB_ID,
    GENERAL_ID,
    GUILD_ID,
    MODERATOR_ID,
    MODERATOR_ROLE_ID,
)


@pytest.fixture
def discord_section():
    """Read message text, so links shared in a ritual's thread are counted."""
    return {
        "guild_ids": [GUILD_ID],
        "moderator_role_ids": [MODERATOR_ROLE_ID],
        "message_content_intent": True,
    }


async def _create_with_modal(sandbox, slash) -> None:
    opened = await slash(
        "ritual", user_id=MODERATOR_ID, options=[{"type": 1, "name": "create", "options": []}]
    )
    assert opened.json["type"] == 9  # a modal
    await sandbox.send_modal_submit(
        "ritual-form",
        {
            "name": "Demo Day",
            "schedule": "weekly fri 12:00",
            "timezone": "UTC",
            "prompt": "Show what you built <@everyone>",
            "reminders": "",
        },
        channel_id=GENERAL_ID,
        user_id=MODERATOR_ID,
        guild_id=GUILD_ID,
    )


async def test_a_ritual_created_with_the_modal_posts_and_a_double_click_checks_in_once(
    bot, runtime, sandbox, slash, clock
):
    await _create_with_modal(sandbox, slash)
    confirmation = await sandbox.wait_for_call(lambda c: "Created **Demo Day**" in str(c.json))
    assert confirmation.json["data"]["flags"] == 64
    runtime.dispatcher.register(DiscordSender("sandbox-token", api_base=sandbox.api_base))
    async with runtime.sessions() as session:
        (view,) = await rituals.list_rituals(session, clock, runtime.community_id)
    clock.set(view.next_fire + timedelta(seconds=3))
    report = await rituals.tick(runtime.sessions, clock)
    await runtime.dispatcher.drain()
    (post,) = [m for m in sandbox.messages[GENERAL_ID] if m.get("components")]
    button = post["components"][0]["components"][0]
    assert button["custom_id"] == f"ritual-checkin:{report.posted[0]}"
    assert "@everyone" in post["content"]  # the prompt text is kept, but it pings nobody:
    (post_call,) = [
        c
        for c in sandbox.calls_matching("POST", f"/channels/{GENERAL_ID}/messages")
        if c.json.get("components")
    ]
    assert post_call.json["allowed_mentions"]["parse"] == []
    answers = []
    for _ in range(2):
        click = await sandbox.send_component(
            button["custom_id"],
            message_id=int(post["id"]),
            user_id=ALICE_ID,
            guild_id=GUILD_ID,
            channel_id=GENERAL_ID,
        )
        answers.append(
            await sandbox.wait_for_call(
                lambda c, i=click: c.path.startswith(f"/interactions/{i.id}/")
            )
        )
    assert "+10 points" in answers[0].json["data"]["content"]
    assert "already checked in" in answers[1].json["data"]["content"]
    # A reaction and a thread reply check two more members in.
    await sandbox.send_reaction_add(GENERAL_ID, int(post["id"]), BOB_ID, "👍", guild_id=GUILD_ID)
    await sandbox.send_message_create(
        int(post["id"]), MODERATOR_ID, "my demo https://example.com/x", guild_id=GUILD_ID
    )
    async with runtime.sessions() as session:
        count = await _wait_for_checkins(session, 3)
        alice_points = await session.scalar(
            select(Member.points_total)
            .join(RitualCheckin, RitualCheckin.member_id == Member.id)
            .where(RitualCheckin.method == "button")
        )
        links = (await session.scalars(select(RitualLink.url))).all()
    assert count == 3
    assert alice_points == 10
    assert links == ["https://example.com/x"]


async def _wait_for_checkins(session, expected: int) -> int:
    """The gateway listeners commit on their own; yield to them until the rows are there."""
    count = 0
    for _ in range(500):
        count = await session.scalar(select(func.count()).select_from(RitualCheckin))
        if count >= expected:
            return count
        await session.rollback()
        await asyncio.sleep(0)  # the query above already waited on the database
    return count


async def test_a_member_cannot_create_a_ritual(bot, slash):
    answer = await slash(
        "ritual", user_id=ALICE_ID, options=[{"type": 1, "name": "create", "options": []}]
    )
    assert answer.json["type"] == 4 and "Only moderators" in answer.json["data"]["content"]
