"""Hold the database's write lock from another connection, as a burst of writers would; wait
until PostgreSQL transactions are blocked on a row lock."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@contextmanager
def write_lock_held(database_url: str) -> Iterator[None]:
    """Hold SQLite's write lock until the block ends (skips the test on PostgreSQL)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("holds SQLite's single write lock")
    path = database_url.split("///", 1)[1]
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


async def until_blocked_on_a_lock(
    sessions: async_sessionmaker[AsyncSession], count: int = 1, probes: int = 2000
) -> None:
    """Return once ``count`` PostgreSQL transactions wait on a lock held by another.

    PostgreSQL announces no such moment, so its own view (``pg_stat_activity``) is asked
    until it says so; each question is a round trip, which paces the asking (no sleep).
    """
    waiting = 0
    for _ in range(probes):
        async with sessions() as session:
            waiting = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                )
            )
        if waiting >= count:
            return
    raise AssertionError(f"only {waiting} of {count} transactions reached the lock")
