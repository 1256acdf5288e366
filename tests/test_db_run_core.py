"""`run_core`: a Core statement built once runs as `session.execute` would run it, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.sql.elements import literal

from bot.db.driver import run_core
from bot.models import Community, EventRecord

_EVENT = insert(EventRecord.__table__)  # type: ignore[arg-type]
_COMMUNITY = insert(Community.__table__).returning(Community.id)  # type: ignore[arg-type]
_SLUGS = select(Community.id, Community.slug).where(
    Community.name == bindparam("name"), Community.timezone == literal("UTC")
)
_SLUGS_IN = select(Community.id).where(Community.slug.in_(bindparam("slugs", expanding=True)))


async def test_values_are_bound_through_their_types_as_session_execute_binds_them(session, clock):
    payload = {"member_id": 7, "metadata": {"note": "Zoë's «first»"}, "amount": None}
    when = clock.now() + timedelta(microseconds=5)

    assert (
        await run_core(
            session, _EVENT, {"name": "payment.recorded", "payload": payload, "created_at": when}
        )
        == []
    )
    stored = await session.scalar(select(EventRecord).where(EventRecord.name == "payment.recorded"))

    assert stored is not None
    assert (stored.payload, stored.created_at) == (payload, when)


async def test_rows_come_back_with_literals_and_returning_ids(session, clock):
    values = {"slug": "acme", "name": "Acme", "timezone": "UTC", "created_at": clock.now()}

    [(inserted,)] = await run_core(session, _COMMUNITY, values)
    found = await run_core(session, _SLUGS, {"name": "Acme"})

    assert [tuple(row) for row in found] == [(inserted, "acme")]
    assert await run_core(session, _SLUGS, {"name": "Nobody"}) == []


async def test_an_expanding_in_is_left_to_session_execute(session, clock, backend):
    values = {"slug": "acme", "name": "Acme", "timezone": "UTC", "created_at": clock.now()}
    [(inserted,)] = await run_core(session, _COMMUNITY, values)

    if backend == "sqlite":
        with pytest.raises(ValueError, match="expanding IN"):
            await run_core(session, _SLUGS_IN, {"slugs": ["acme"]})
    else:
        assert [tuple(r) for r in await run_core(session, _SLUGS_IN, {"slugs": ["acme"]})] == [
            (inserted,)
        ]


async def test_a_python_side_default_is_refused_rather_than_left_out(session, clock, backend):
    without_timezone = {"slug": "acme", "name": "Acme", "created_at": clock.now()}

    if backend == "sqlite":
        with pytest.raises(ValueError, match="Python-side column default"):
            await run_core(session, _COMMUNITY, without_timezone)
    else:
        [(inserted,)] = await run_core(session, _COMMUNITY, without_timezone)
        assert (await session.get(Community, inserted)).timezone == "UTC"
