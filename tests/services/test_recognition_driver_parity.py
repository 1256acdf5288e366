"""On SQLite, chat ingest through the driver (bot.db.driver) leaves exactly what the Core
statements leave: the same ledger, score rows, public counts, member totals and memory,
for new, known, hidden, linked and erased members, duplicates, repeats and cool-downs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from bot.services import recognition
from bot.services.callers import Caller, Role, resolve_actor
from bot.services.linking import finish_link, start_link
from bot.services.privacy import delete_member
from bot.services.recognition import ingest_batch
from tests.conftest import make_spaces
from tests.services.test_recognition import RULES, seen

TABLES = {
    "members": "SELECT id, display_name, points_total, activity_count, last_active_at, "
    "merged_into_id, erased_at IS NOT NULL FROM members ORDER BY id",
    "activities": "SELECT member_id, kind, points, occurred_at, recorded_at, source_key, "
    "source_ref, imported FROM activities ORDER BY source_key",
    "scores": "SELECT board, period, period_start, member_id, score, updated_at "
    "FROM member_scores ORDER BY board, period, period_start, member_id",
    "counts": "SELECT board, period, period_start, score, members FROM board_score_counts "
    "WHERE members != 0 ORDER BY board, period, period_start, score",
    "memory": "SELECT member_id, last_counted_at, last_digest FROM recognition_message_state "
    "ORDER BY member_id",
    "identities": "SELECT platform, user_id, member_id FROM identities ORDER BY platform, user_id",
}


async def _snapshot(session) -> dict[str, list[tuple[object, ...]]]:
    return {
        name: [tuple(row) for row in await session.execute(text(sql))]
        for name, sql in TABLES.items()
    }


async def test_chat_ingest_through_the_driver_matches_the_core_statements(
    session, clock, monkeypatch
):
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("the driver path exists on SQLite only")
    discord, slack = await make_spaces(session, clock)

    async def member(space, user, name):
        caller = Caller(space.platform, space.external_id, user, name, Role.MEMBER)
        return await resolve_actor(session, clock, community_id=space.community_id, caller=caller)

    ada = await member(discord, "ada", "Ada")
    twin = await member(slack, "ada-s", "Ada S")
    gone = await member(discord, "gone", "Gone")
    shy = await member(discord, "shy", "Shy")
    await recognition.set_leaderboard_public(session, clock, shy.member_id, False)
    code = await start_link(session, clock, member_id=ada.member_id, platform="discord")
    await finish_link(session, clock, member_id=twin.member_id, platform="slack", code=code.code)
    await delete_member(session, clock, member_id=gone.member_id)
    start = clock.now()
    first = [seen(discord, "ada", start), seen(discord, "shy", start)]
    await ingest_batch(session, clock, RULES, first)
    clock.advance(3600)
    later = clock.now()
    again = seen(discord, "ada", later + timedelta(minutes=5))
    batch = [
        seen(discord, "ada", later),
        seen(slack, "ada-s", later + timedelta(seconds=5)),  # the linked account: cool-down
        seen(discord, "ada", later + timedelta(minutes=5), "same words here please"),
        again,
        again,  # the same message twice
        seen(discord, "shy", later),
        seen(discord, "gone", later),  # erased: left out
        *(seen(discord, f"new{n}", later + timedelta(days=n)) for n in range(40)),
        seen(slack, "newcomer", later + timedelta(days=8)),
    ]
    await session.flush()

    outer = await session.begin_nested()
    driven = await ingest_batch(session, clock, RULES, batch)
    through_driver = await _snapshot(session)
    await outer.rollback()

    async def no_driver(_session):
        return None

    for module in ("ingest", "scores", "boards"):
        monkeypatch.setattr(f"bot.services.recognition.{module}.sqlite_driver", no_driver)
    monkeypatch.setattr("bot.services.identities.sqlite_driver", no_driver)
    core = await ingest_batch(session, clock, RULES, batch)
    through_core = await _snapshot(session)

    assert driven == core
    assert driven.counted > 40 and driven.skipped.get("erased") == 1
    for name in TABLES:
        assert through_driver[name] == through_core[name], name


async def test_two_processes_creating_members_at_once_take_distinct_ids(
    committed, database_url, clock
):
    """SQLite's new members take ids as max + 1 under the write lock: two engines (two
    processes) creating overlapping batches at once end with one member per person."""
    import asyncio

    from sqlalchemy import func, select
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from bot.db.engine import create_engine
    from bot.models import Identity, Member
    from bot.services.identities import resolve_passive_members

    async with committed() as session, session.begin():
        discord, _ = await make_spaces(session, clock)
    other = create_engine(database_url)
    try:
        makers = [committed, async_sessionmaker(other, expire_on_commit=False)]

        async def batch(index: int) -> dict[str, int]:
            users = [(f"u{n}", f"U{n}") for n in range(index * 30, index * 30 + 60)]
            async with makers[index % 2]() as session, session.begin():
                found = await resolve_passive_members(session, clock, space=discord, users=users)
                return {user: member.member_id for user, member in found.items()}

        results = await asyncio.gather(*(batch(i) for i in range(8)))
    finally:
        await other.dispose()

    seen_by: dict[str, set[int]] = {}
    for result in results:
        for user, member_id in result.items():
            seen_by.setdefault(user, set()).add(member_id)
    assert all(len(ids) == 1 for ids in seen_by.values())  # one member per person
    async with committed() as session:
        people = await session.scalar(select(func.count()).select_from(Identity))
        members = await session.scalar(select(func.count()).select_from(Member))
        distinct = await session.scalar(select(func.count(func.distinct(Identity.member_id))))
    assert people == distinct == members == len(seen_by) == 270
