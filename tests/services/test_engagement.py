"""The activity ledger: counted once per source key; score columns equal the ledger."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.errors import Invalid
from bot.models import Activity, Member
from bot.services.engagement import ActivityKind, ledger_total, record_activity
from bot.services.identities import resolve_member


async def test_the_same_source_key_recorded_twice_counts_once(session, clock, spaces):
    discord, _ = spaces
    member = await resolve_member(session, clock, space=discord, user_id="1")
    first = await record_activity(
        session,
        clock,
        member_id=member.member_id,
        kind="message",
        points=5,
        source_key="discord:msg:77",
    )
    second = await record_activity(
        session,
        clock,
        member_id=member.member_id,
        kind="message",
        points=5,
        source_key="discord:msg:77",
    )
    assert first.counted and not second.counted
    row = await session.get(Member, member.member_id)
    await session.refresh(row)
    assert row.points_total == 5 and row.activity_count == 1
    assert await session.scalar(select(func.count()).select_from(Activity)) == 1


async def test_imported_history_does_not_make_a_member_active(session, clock, spaces):
    discord, _ = spaces
    member = await resolve_member(session, clock, space=discord, user_id="2")
    await record_activity(
        session,
        clock,
        member_id=member.member_id,
        kind=ActivityKind.IMPORTED,
        points=100,
        source_key="import:mee6:2",
        occurred_at=clock.now() - timedelta(days=400),
        imported=True,
    )
    row = await session.get(Member, member.member_id)
    await session.refresh(row)
    assert row.points_total == 100 and row.last_active_at is None


async def test_an_unknown_kind_is_refused_with_a_clear_message(session, clock, spaces):
    discord, _ = spaces
    member = await resolve_member(session, clock, space=discord, user_id="3")
    with pytest.raises(Invalid, match="Unknown activity kind 'dance'"):
        await record_activity(
            session, clock, member_id=member.member_id, kind="dance", points=1, source_key="x"
        )


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    entries=st.lists(st.tuples(st.integers(0, 9), st.integers(-50, 200)), min_size=1, max_size=25)
)
async def test_the_score_column_always_equals_the_ledger_sum(sessions, clock, entries):
    async with sessions() as session:
        from tests.conftest import make_spaces

        discord, _ = await make_spaces(session, clock)
        member = await resolve_member(session, clock, space=discord, user_id=f"h{len(entries)}")
        for key, points in entries:
            await record_activity(
                session,
                clock,
                member_id=member.member_id,
                kind="adjustment",
                points=points,
                source_key=f"k{key}",
            )
        row = await session.get(Member, member.member_id)
        await session.refresh(row)
        assert row.points_total == await ledger_total(session, member.member_id)
        await session.rollback()
