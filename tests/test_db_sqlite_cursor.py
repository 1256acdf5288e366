"""SQLite statements through SQLAlchemy take one trip to aiosqlite's thread (`bot.db.sqlite_cursor`).

These build their own SQLite engine (the adapter is SQLite's), so they run the same on both legs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import create_engine


@pytest_asyncio.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'cursor.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record every function aiosqlite runs on its thread."""
    seen: list[Any] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(fn)
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return seen


async def test_a_statement_with_rows_is_one_trip_to_the_driver_thread(sqlite_engine, trips):
    async with sqlite_engine.begin() as connection:
        await connection.execute(text("INSERT INTO t (v) VALUES ('a'), ('b')"))
        trips.clear()
        result = await connection.execute(text("SELECT v FROM t ORDER BY v"))

        assert len(trips) == 1
        assert result.scalars().all() == ["a", "b"]


async def test_rowcount_lastrowid_and_returning_read_as_the_driver_gives_them(sqlite_engine):
    async with sqlite_engine.begin() as connection:
        inserted = await connection.execute(text("INSERT INTO t (v) VALUES ('a')"))
        returned = await connection.execute(
            text("INSERT INTO t (v) VALUES ('b'), ('c') RETURNING id, v")
        )
        updated = await connection.execute(text("UPDATE t SET v = v || '!' WHERE v != 'a'"))

        assert inserted.lastrowid == 1
        assert returned.all() == [(2, "b"), (3, "c")]
        assert updated.rowcount == 2


async def test_executemany_writes_every_row_in_one_trip(sqlite_engine, trips):
    async with sqlite_engine.begin() as connection:
        trips.clear()
        result = await connection.execute(
            text("INSERT INTO t (v) VALUES (:v)"), [{"v": "a"}, {"v": "b"}, {"v": "c"}]
        )

        assert len(trips) == 1
        assert result.rowcount == 3
        assert await connection.scalar(text("SELECT count(*) FROM t")) == 3


async def test_a_driver_error_is_raised_as_sqlalchemys_and_the_connection_stays_usable(
    sqlite_engine,
):
    async with sqlite_engine.connect() as connection:
        await connection.execute(text("INSERT INTO t (v) VALUES ('a')"))
        with pytest.raises(IntegrityError, match="UNIQUE"):
            await connection.execute(text("INSERT INTO t (v) VALUES ('a')"))
        await connection.rollback()

        assert await connection.scalar(text("SELECT count(*) FROM t")) == 0


async def test_a_streamed_result_still_reads_row_by_row(sqlite_engine):
    async with sqlite_engine.begin() as connection:
        await connection.execute(text("INSERT INTO t (v) VALUES ('a'), ('b'), ('c')"))
        streamed = await connection.stream(text("SELECT v FROM t ORDER BY v"))

        assert [row.v async for row in streamed] == ["a", "b", "c"]
