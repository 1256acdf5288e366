"""SQLite's driver path (`bot.db.driver`) writes and reads what the Core statements do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from bot.db import UTCDateTime
from bot.db.driver import (
    from_sqlite_time,
    select_in,
    sqlite_driver,
    sqlite_time,
    values_returning,
)
from bot.models import Community

MOMENTS = [
    datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    datetime(2026, 3, 2, 9, 0, 0, 5, tzinfo=UTC),
    datetime(2026, 3, 29, 3, 30, tzinfo=ZoneInfo("Europe/Berlin")),
    datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(999, 1, 1, tzinfo=UTC),
]


def test_a_time_is_written_as_the_column_type_writes_it_on_sqlite():
    core = UTCDateTime().bind_processor(sqlite.dialect())

    for moment in MOMENTS:
        assert sqlite_time(moment) == core(moment)
        assert from_sqlite_time(sqlite_time(moment)) == moment
    with pytest.raises(ValueError, match="naive datetime"):
        sqlite_time(MOMENTS[0].replace(tzinfo=None))


async def test_values_returning_and_select_in_cover_rows_past_one_statement(session, backend):
    driver = await sqlite_driver(session)
    if backend != "sqlite":
        assert driver is None
        return
    assert driver is not None
    stamp = sqlite_time(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    rows = [(f"c{index}", f"Community {index}", "UTC", stamp) for index in range(2_500)]

    returned = await values_returning(
        driver,
        "INSERT INTO communities (slug, name, timezone, created_at)",
        rows,
        "ON CONFLICT (slug) DO NOTHING RETURNING slug",
    )
    again = await values_returning(
        driver,
        "INSERT INTO communities (slug, name, timezone, created_at)",
        rows[:10],
        "ON CONFLICT (slug) DO NOTHING RETURNING slug",
    )
    found = await select_in(driver, "SELECT slug FROM communities WHERE slug IN", (), ["c7"] * 3)

    assert sorted(slug for (slug,) in returned) == sorted(slug for slug, *_ in rows)
    assert again == []
    assert found == [("c7",)]
    # Written in the session's transaction: the ORM sees them, times and all.
    created = await session.scalar(select(Community.created_at).where(Community.slug == "c2499"))
    assert created == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def test_the_driver_sees_what_the_session_has_pending(session, backend):
    session.add(Community(slug="pending", name="Pending", created_at=MOMENTS[0]))
    driver = await sqlite_driver(session)
    if backend != "sqlite":
        assert driver is None
        return
    assert driver is not None

    rows = await driver.execute_fetchall("SELECT name FROM communities WHERE slug = 'pending'")

    assert list(rows) == [("Pending",)]
