"""Engines and sessions for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.db import sqlite_cursor

SQLITE_BUSY_TIMEOUT_MS = 30_000
# 32 MiB of page cache (SQLite's default is 2 MiB): chat ingest updates the score rows and
# the ledger's indexes of thousands of members a second, and with the small cache those
# pages are read back from the file on every batch.
SQLITE_CACHE_KIB = 32_768
# Copy the write-ahead log back into the database every 10,000 pages (~40 MiB; SQLite's
# default is 1,000): a chat batch rewrites the same score and member pages each time, and
# with the default every commit of a batch also paid for a checkpoint and its fsync.
SQLITE_CHECKPOINT_PAGES = 10_000
# An execution option: transactions on an engine carrying it only read (see ``read_sessions``).
READ_ONLY = "flywheel_read_only"


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Open an engine with the settings each database needs to be safe under concurrency."""
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url,
            echo=echo,
            connect_args={"timeout": 30},
            json_serializer=dumps_json,
            # One trip to the driver's thread per statement; writers queue on the loop.
            module=sqlite_cursor.sqlite_module(SQLITE_BUSY_TIMEOUT_MS / 1000),
        )
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        json_serializer=dumps_json,
    )


def dumps_json(value: Any) -> str:
    """Return a JSON column's text as the engines write it."""
    # Keep non-ASCII text as itself so a search for a member's name finds it (privacy erase).
    return json.dumps(value, ensure_ascii=False)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver so that we, not pysqlite, decide how BEGIN is spelled.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A reader never needs the write lock: under WAL a deferred transaction reads
        # one snapshot and neither waits for writers nor makes them wait.
        # Under WAL a deferred transaction that reads and then writes fails at once with
        # "database is locked" if another writer got in first, whatever the busy timeout.
        # Taking the write lock up front makes concurrent writers queue instead.
        reads = bool(connection.get_execution_options().get(READ_ONLY))
        # Straight to the driver: one trip to its thread, where a statement through the
        # connection takes three (a read of a board is a few hundred microseconds in all).
        # A writer first waits its turn among this engine's writers (sqlite_cursor.WriteGate).
        sqlite_cursor.begin(
            connection.connection.dbapi_connection,
            "BEGIN" if reads else "BEGIN IMMEDIATE",
            writes=not reads,
        )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return the session factory; objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def read_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return a session factory for reads only (a public page, a lookup).

    Every other transaction on SQLite begins IMMEDIATE, so a session that only reads would
    still queue behind a burst of writers (and hold them up). These sessions begin a deferred
    transaction instead: one consistent snapshot, no write lock. A write in one fails on
    SQLite with "database is locked" rather than waiting: do not write in it.
    """
    return async_sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """Return an INSERT for the session's dialect, which supports ON CONFLICT."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def read_sessions_like(
    sessions: async_sessionmaker[AsyncSession],
) -> async_sessionmaker[AsyncSession]:
    """Return read-only sessions (:func:`read_sessions`) on the engine ``sessions`` are bound to.

    A factory bound to no engine is returned as it is.
    """
    bind = sessions.kw.get("bind")
    if not isinstance(bind, AsyncEngine):
        return sessions
    return read_sessions(bind)
