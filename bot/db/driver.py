"""SQLite's driver, reached under a session's transaction, for the few hottest statements.

Through SQLAlchemy each statement on aiosqlite is four trips to the driver's thread (open
a cursor, execute, fetch, close) and every bound value goes through its type's processor:
right for almost everything, too slow for chat ingest (thousands of rows a second) and a
leaderboard read (a millisecond budget). :func:`sqlite_driver` hands back the aiosqlite
connection the session's transaction runs on, so a statement is one trip with plain
values, in the same transaction. Times are bound and read in the text form
:class:`~bot.db.UTCDateTime` keeps on SQLite (:func:`sqlite_time`, :func:`from_sqlite_time`).

Only SQLite has this path; on PostgreSQL the callers use their Core statements.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from typing import Any, cast

import aiosqlite
from sqlalchemy import Executable, Table
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.base import Base
from bot.db.engine import dialect_insert
from bot.db.sqlite_cursor import fetch_quick

# SQLite's default SQLITE_MAX_VARIABLE_NUMBER (3.32 and later): a statement binds at most this.
MAX_VARIABLES = 32_766


_DRIVER = "flywheel_sqlite_driver"  # session.info: (the transaction, its aiosqlite connection)


async def sqlite_driver(session: AsyncSession) -> aiosqlite.Connection | None:
    """Return the aiosqlite connection under the session's transaction (None off SQLite).

    Pending ORM changes are flushed first, as ``session.execute`` would (autoflush): a
    statement sent to the driver sees them.
    """
    if session.get_bind().dialect.name != "sqlite":
        return None
    if session.new or session.dirty or session.deleted:
        await session.flush()
    # The connection stays the same for the whole transaction: found once per transaction
    # (asking the session is a trip through SQLAlchemy's greenlet each time).
    held = session.info.get(_DRIVER)
    if held is not None and held[0] is session.sync_session.get_transaction():
        return cast(aiosqlite.Connection, held[1])
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = cast(aiosqlite.Connection, raw.driver_connection)
    session.info[_DRIVER] = (session.sync_session.get_transaction(), driver)
    return driver


def sqlite_time(value: datetime) -> str:
    """Return an aware time as SQLite keeps it (naive UTC text, microseconds)."""
    if value.tzinfo is UTC:
        return value.isoformat(" ", "microseconds")[:26]  # without its "+00:00"
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the database; take times from the Clock")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def from_sqlite_time(value: str) -> datetime:
    """Return the aware UTC time SQLite keeps as ``value``."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def marks(count: int) -> str:
    """Return ``count`` comma-separated ``?`` placeholders."""
    return ",".join("?" * count)


async def values_returning(
    driver: aiosqlite.Connection,
    head: str,
    rows: Sequence[tuple[Any, ...]],
    tail: str,
    fixed: Sequence[Any] = (),
) -> list[Any]:
    """Run ``head VALUES (...), (...) tail`` over ``rows`` in chunks; return what they return.

    ``tail`` holds the conflict clause and the RETURNING list. ``fixed`` binds ``?1``,
    ``?2``, ... written in ``head`` (the rows' ``?`` come after them).
    """
    found: list[Any] = []
    for sql, values in _chunks(head, rows, tail, fixed):
        found.extend(await driver.execute_fetchall(sql, values))
    return found


def _chunks(
    head: str, rows: Sequence[tuple[Any, ...]], tail: str, fixed: Sequence[Any] = ()
) -> Iterator[tuple[str, list[Any]]]:
    """Yield ``head VALUES ... tail`` and its flat values for each chunk of ``rows``.

    Chunks are sized so that a statement binds at most :data:`MAX_VARIABLES` values (and
    repeat, so SQLite's statement cache keeps them prepared).
    """
    if not rows:
        return
    width = len(rows[0])
    size = min(1_000, (MAX_VARIABLES - len(fixed)) // width)
    row_marks = f"({marks(width)})"
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        values = _flat(chunk)
        if fixed:
            values[:0] = fixed
        yield f"{head} VALUES {','.join([row_marks] * len(chunk))} {tail}", values


async def values_insert(
    driver: aiosqlite.Connection,
    head: str,
    rows: Sequence[tuple[Any, ...]],
    tail: str,
    fixed: Sequence[Any] = (),
) -> tuple[int, int | None]:
    """Run ``head VALUES (...), (...) tail`` over ``rows`` in chunks, returning nothing.

    Return how many rows were inserted (``changes()``: an ``ON CONFLICT DO NOTHING`` in
    ``tail`` leaves some out) and the rowid of the last one (None if none was). On a rowid
    table the rows inserted are then the ids just below it: SQLite gives each new row the
    largest rowid so far plus one. Each chunk is one step of the driver, whatever its
    size (a ``RETURNING`` is one step, and one Python tuple, per row). ``fixed`` is as in
    :func:`values_returning`.
    """
    return await start_values_insert(driver, head, rows, tail, fixed)


def start_values_insert(
    driver: aiosqlite.Connection,
    head: str,
    rows: Sequence[tuple[Any, ...]],
    tail: str,
    fixed: Sequence[Any] = (),
) -> Awaitable[tuple[int, int | None]]:
    """Send :func:`values_insert`'s statements now; await the result for its answer.

    Every chunk is queued for the driver's thread at once (it runs them in order), so the
    thread does not wait on the event loop between chunks, and a caller that yields once
    (``await asyncio.sleep(0)``) can work in Python while they run.
    """
    sent = [
        asyncio.ensure_future(driver.execute(sql, values))
        for sql, values in _chunks(head, rows, tail, fixed)
    ]

    async def answer() -> tuple[int, int | None]:
        inserted, last = 0, None
        for cursor in await asyncio.gather(*sent):
            if cursor.rowcount > 0:
                inserted += cursor.rowcount
                last = cursor.lastrowid
        return inserted, last

    return answer()


async def select_in(
    driver: aiosqlite.Connection,
    head: str,
    fixed: Sequence[Any],
    values: Iterable[Any],
) -> list[Any]:
    """Return the rows of ``head (?, ...)`` (a query ending in ``IN``) over ``values``.

    ``fixed`` binds the placeholders of ``head`` itself.
    """
    wanted = list(values)
    size = MAX_VARIABLES - len(fixed)
    found: list[Any] = []
    for start in range(0, len(wanted), size):
        chunk = wanted[start : start + size]
        sql = f"{head} ({marks(len(chunk))})"
        found.extend(await driver.execute_fetchall(sql, [*fixed, *chunk]))
    return found


def _flat(rows: Iterable[tuple[Any, ...]]) -> list[Any]:
    return list(chain.from_iterable(rows))


def _bound(value: Any) -> Any:
    """Return a value as SQLite binds it: times as their text form, booleans as 0/1."""
    if isinstance(value, datetime):
        return sqlite_time(value)
    if isinstance(value, bool):
        return int(value)
    return value


async def insert_new(
    session: AsyncSession, model: type[Base], values: Mapping[str, Any], conflict: Sequence[str]
) -> int | None:
    """``INSERT … ON CONFLICT (conflict) DO NOTHING RETURNING id``: the new row's id, or None
    when a row with the same ``conflict`` columns exists (one trip to the driver on SQLite).

    ``values`` hold every column to write (defaults are not applied on SQLite's path).
    """
    table = cast(Table, model.__table__)
    driver = await sqlite_driver(session)
    if driver is None:
        statement = (
            dialect_insert(session, table)
            .values(dict(values))
            .on_conflict_do_nothing(index_elements=list(conflict))
            .returning(table.c.id)
        )
        found: int | None = await session.scalar(statement)
        return found
    names = list(values)
    # Table and column names come from the model, never from input; the values are bound.
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks(len(names))}) "  # noqa: S608
    sql += f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING RETURNING id"
    rows = await fetch_quick(driver, sql, [_bound(values[name]) for name in names])
    return int(rows[0][0]) if rows else None


async def insert_row(session: AsyncSession, row: Base, conflict: Sequence[str]) -> int | None:
    """Insert an unsaved ORM object as it is with :func:`insert_new`, outside the unit of work.

    Every column but ``id`` must be set on ``row``. Sets and returns its new id; None (the
    object left unsaved) when a row with the same ``conflict`` columns exists.
    """
    table = cast(Table, row.__table__)
    values = {c.key: getattr(row, c.key) for c in table.columns if c.key != "id"}
    inserted = await insert_new(session, type(row), values, conflict)
    if inserted is not None:
        cast(Any, row).id = inserted
    return inserted


@dataclass(frozen=True)
class _Prepared:
    """A Core statement compiled for SQLite once: its SQL and how each value is bound."""

    compiled: Any
    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]


# Per dialect (an engine's), per statement and parameter names: compiled once.
_PREPARED: weakref.WeakKeyDictionary[Any, dict[tuple[Any, tuple[str, ...]], _Prepared]] = (
    weakref.WeakKeyDictionary()
)


def _prepare(statement: Executable, dialect: Any, names: tuple[str, ...]) -> _Prepared:
    known = _PREPARED.setdefault(dialect, {})
    found = known.get((statement, names))
    if found is None:
        compiled: Any = cast(Any, statement).compile(dialect=dialect, column_keys=list(names))
        if (
            compiled.post_compile_params
            or compiled.literal_execute_params
            or compiled.insert_prefetch
            or compiled.update_prefetch
        ):
            raise ValueError(
                "run_core takes statements with plain bound parameters only: one with an "
                "expanding IN or a Python-side column default goes through session.execute"
            )
        positions = tuple(compiled.positiontup or ())
        processors = tuple(compiled.binds[name].type.bind_processor(dialect) for name in positions)
        found = known[(statement, names)] = _Prepared(
            compiled, compiled.string, positions, processors
        )
    return found


async def run_core(
    session: AsyncSession, statement: Executable, params: Mapping[str, Any]
) -> list[Any]:
    """Run a Core statement built once (bound parameters only) in the session's transaction;
    return its rows.

    On SQLite it is compiled once per engine and sent straight to the driver (one trip, a
    tenth of ``session.execute``'s Python): values are bound through their types' processors
    as SQLAlchemy binds them, but rows come back as the driver gives them (integers and text
    as themselves; times as text), so use it for statements returning ids or nothing. It is
    for cheap statements (a few rows by key): in a write transaction it runs on the loop's
    thread (``bot.db.sqlite_cursor.fetch_quick``). Elsewhere it is ``session.execute``.
    """
    driver = await sqlite_driver(session)
    if driver is None:
        result = await session.execute(statement, params)
        if isinstance(result, CursorResult) and not result.returns_rows:
            return []  # an UPDATE, or an INSERT without RETURNING
        return list(result.all())
    prepared = _prepare(statement, session.get_bind().dialect, tuple(params))
    values = prepared.compiled.construct_params(params)
    bound = [
        values[name] if process is None else process(values[name])
        for name, process in zip(prepared.names, prepared.processors, strict=True)
    ]
    return await fetch_quick(driver, prepared.sql, bound)
