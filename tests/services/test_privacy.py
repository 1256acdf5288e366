"""Privacy: export is complete; delete leaves no personal data anywhere, totals stay right."""

from __future__ import annotations

import json

from sqlalchemy import JSON, String, Text, func, select

from bot.db import Base
from bot.messages import DirectMessage, Post, Purpose, rich
from bot.models import Activity, Member
from bot.outbox import send
from bot.services.audit import record_audit
from bot.services.channels import place_channel, purpose_destination
from bot.services.engagement import record_activity
from bot.services.identities import resolve_member
from bot.services.linking import start_link
from bot.services.privacy import delete_member, export_member

NAME = "Zoë Quintessa"
EMAIL = "zoe_q@example.org"
DISCORD_ID = "555000111"
SLACK_ID = "UZOEQ9"


async def _seed(session, clock, spaces):
    discord, slack = spaces
    zoe = await resolve_member(session, clock, space=discord, user_id=DISCORD_ID, display_name=NAME)
    other = await resolve_member(
        session, clock, space=slack, user_id="UOTHER", display_name="Other Person"
    )
    member = await session.get(Member, zoe.member_id)
    member.email = EMAIL
    for index in range(3):
        await record_activity(
            session,
            clock,
            member_id=zoe.member_id,
            kind="message",
            points=10,
            source_key=f"discord:{DISCORD_ID}:msg:{index}",
            source_ref=f"message by {NAME}",
        )
    await record_activity(
        session, clock, member_id=other.member_id, kind="message", points=4, source_key="o:1"
    )
    await start_link(session, clock, member_id=zoe.member_id, platform="discord")
    await send(
        session,
        clock,
        DirectMessage(member_id=zoe.member_id, body=rich(f"Welcome {NAME}!")),
        key="dm:welcome",
        community_id=zoe.community_id,
    )
    announcements = await purpose_destination(session, clock, zoe.community_id, "announcements")
    await place_channel(session, announcements, "discord", "1")
    await send(
        session,
        clock,
        Post(to=Purpose(name="announcements"), body=rich("Office hours start now")),
        key="post:general:1",
        community_id=zoe.community_id,
    )
    await record_audit(
        session,
        clock,
        community_id=zoe.community_id,
        actor_member_id=other.member_id,
        action="badge.award",
        target=f"member:{zoe.member_id}",
        detail={"name": NAME, "email": EMAIL},
        about_member_id=zoe.member_id,
    )
    await session.flush()
    return zoe.member_id, other.member_id


async def _text_cells(session):
    """Yield (table, column, value) for every text or JSON cell of every table."""
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
        if not columns:
            continue
        for row in (await session.execute(select(*columns))).all():
            for column, value in zip(columns, row, strict=True):
                if value is not None:
                    shown = (
                        value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                    )
                    yield table.name, column.name, shown


async def test_export_holds_the_members_identities_activities_and_actions(session, clock, spaces):
    zoe, _ = await _seed(session, clock, spaces)
    data = await export_member(session, zoe)
    assert data["member"]["email"] == EMAIL
    assert [i["user_id"] for i in data["identities"]] == [DISCORD_ID]
    assert len(data["activities"]) == 3
    json.dumps(data)  # JSON-ready


async def test_delete_leaves_no_personal_data_in_any_text_column(session, clock, spaces):
    zoe, other = await _seed(session, clock, spaces)
    before = await session.scalar(select(func.sum(Member.points_total)))
    report = await delete_member(session, clock, member_id=zoe)
    assert report.identities_removed == 1 and report.activities_kept == 3
    await session.flush()
    session.expire_all()
    leaks = [
        (table, column)
        async for table, column, value in _text_cells(session)
        for secret in (NAME, EMAIL, DISCORD_ID, "Quintessa", "zoe_q")
        if secret in value
    ]
    assert leaks == []
    # Totals stay right: the anonymous member keeps its points and the ledger agrees.
    assert await session.scalar(select(func.sum(Member.points_total))) == before
    erased = await session.get(Member, zoe)
    ledger = await session.scalar(
        select(func.sum(Activity.points)).where(Activity.member_id == zoe)
    )
    assert erased.points_total == ledger == 30
    # Other people's data is untouched, including the unrelated outbox post.
    cells = [value async for _, _, value in _text_cells(session)]
    assert "Other Person" in cells and any("Office hours" in cell for cell in cells)
    assert other != zoe


async def test_a_deleted_member_who_comes_back_starts_afresh(session, clock, spaces):
    zoe, _ = await _seed(session, clock, spaces)
    await delete_member(session, clock, member_id=zoe)
    discord, _ = spaces
    again = await resolve_member(session, clock, space=discord, user_id=DISCORD_ID)
    replay = await record_activity(
        session,
        clock,
        member_id=again.member_id,
        kind="message",
        points=10,
        source_key=f"discord:{DISCORD_ID}:msg:0",
    )
    # A new member, and the replayed source counts for them: the old key no longer identifies anyone.
    assert again.created and replay.counted
