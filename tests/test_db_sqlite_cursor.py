"""SQLite statements through SQLAlchemy take one trip to aiosqlite's thread at most, and the
small ones of a write transaction none (`bot.db.sqlite_cursor`); writers queue on one gate.

These build their own SQLite engine (the adapter is SQLite's), so they run the same on both legs.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
import pytest_asyncio
from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import create_engine, sqlite_cursor
from bot.db.engine import READ_ONLY
from bot.db.sqlite_cursor import QUICK_VALUES, WriteGate, fetch_quick


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


async def test_a_read_is_one_trip_to_the_driver_thread_begin_included(sqlite_engine, trips):
    async with sqlite_engine.begin() as connection:
        await connection.execute(text("INSERT INTO t (v) VALUES ('a'), ('b')"))
    reads = sqlite_engine.execution_options(**{READ_ONLY: True})
    async with reads.connect() as connection:
        trips.clear()
        result = await connection.execute(text("SELECT v FROM t ORDER BY v"))

        assert len(trips) == 1  # the deferred BEGIN went with it
        assert result.scalars().all() == ["a", "b"]
        await connection.commit()
        assert len(trips) == 1  # ending a snapshot runs on the loop
        await connection.execute(text("SELECT count(*) FROM t"))
        await connection.rollback()
    assert len(trips) == 2  # the second read's own trip; its rollback ran on the loop


async def test_cheap_statements_of_a_write_transaction_take_no_trip_but_commit_does(
    sqlite_engine, trips
):
    async with sqlite_engine.begin() as connection:
        await connection.execute(text("INSERT INTO t (v) VALUES ('a')"))
        assert len(trips) == 1  # BEGIN IMMEDIATE and the first statement, together
        driver = (await connection.get_raw_connection()).driver_connection
        for letter in "bcdef":
            await fetch_quick(driver, "INSERT INTO t (v) VALUES (?)", (letter,))
        found = await fetch_quick(driver, "SELECT count(*) FROM t", ())
        assert len(trips) == 1 and found == [(6,)]
        # SQLAlchemy's own statements may be slow ones: they keep the thread.
        await connection.execute(text("SELECT count(*) FROM t"))
        assert len(trips) == 2
    assert len(trips) == 3  # COMMIT


async def test_a_bulk_statement_a_long_run_and_an_empty_transaction_take_the_thread(
    sqlite_engine, trips, monkeypatch
):
    async with sqlite_engine.begin() as connection:
        await connection.execute(text("INSERT INTO t (v) VALUES ('a')"))
        driver = (await connection.get_raw_connection()).driver_connection
        trips.clear()
        many = ", ".join("(?)" for _ in range(QUICK_VALUES + 1))
        bulk = "INSERT INTO t (v) VALUES " + many  # noqa: S608 -- placeholders only
        await fetch_quick(driver, bulk, [f"x{n}" for n in range(QUICK_VALUES + 1)])
        assert len(trips) == 1  # too many values to run on the loop
        monkeypatch.setattr(sqlite_cursor, "INLINE_SECONDS", 0.0)
        await fetch_quick(driver, "INSERT INTO t (v) VALUES (?)", ("b",))
        assert len(trips) == 2  # the loop has had no turn for too long: the thread takes it
    trips.clear()
    async with sqlite_engine.begin():
        pass
    assert trips == []  # nothing was sent, so nothing began and nothing is committed


async def test_a_begin_that_fails_is_sent_again_with_the_next_statement(tmp_path):
    path = tmp_path / "locked.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")

    @sa_event.listens_for(engine.sync_engine, "connect")
    def _impatient(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.cursor().execute("PRAGMA busy_timeout=50")

    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        async with engine.connect() as connection:
            await connection.begin()
            with pytest.raises(OperationalError, match="locked"):
                await connection.execute(text("INSERT INTO t (v) VALUES ('lost')"))
            other.execute("ROLLBACK")
            driver = (await connection.get_raw_connection()).driver_connection
            # Not inline and not outside a transaction: it carries the BEGIN again.
            await fetch_quick(driver, "INSERT INTO t (v) VALUES (?)", ("kept until rollback",))
            assert driver._connection.in_transaction
            await connection.rollback()
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT count(*) FROM t")) == 0
    finally:
        other.close()
        await engine.dispose()


async def test_writers_of_one_engine_queue_and_all_commit(sqlite_engine):
    async def write(letter: str) -> None:
        async with sqlite_engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": letter})
            for _ in range(5):  # gives the others turns while this holds the gate
                await asyncio.sleep(0)
            await connection.execute(text("UPDATE t SET v = v || '!' WHERE v = :v"), {"v": letter})

    await asyncio.gather(*(write(letter) for letter in "abcdefgh"))

    async with sqlite_engine.connect() as connection:
        found = (await connection.execute(text("SELECT v FROM t ORDER BY v"))).scalars().all()
    assert found == [f"{letter}!" for letter in "abcdefgh"]


async def test_the_gate_times_out_as_sqlite_would():
    gate = WriteGate(0.05)
    held = await gate.acquire()
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        await gate.acquire()
    held.release()
    (await gate.acquire()).release()


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
        await connection.execute(text("SELECT 1"))
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
