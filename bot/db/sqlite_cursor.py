"""SQLite statements through SQLAlchemy in one trip to aiosqlite's thread, not four.

SQLAlchemy's aiosqlite adapter opens a driver cursor, executes, fetches and closes it, each
an ``await`` on the driver's thread: four thread switches for every statement, most of a
small statement's time (a webhook writes about fifteen). :class:`OneTripCursor` does the
four steps in one function run on that thread and keeps what SQLAlchemy reads afterwards
(the description, the rows, ``rowcount``, ``lastrowid``). Errors are the driver's own,
raised and translated as before; server-side cursors (``stream``) keep SQLAlchemy's class.

The module's connections also share a :class:`WriteGate`: a writing transaction waits for
the gate (an asyncio lock, per engine) before ``BEGIN IMMEDIATE`` and lets it go when it
commits, rolls back or closes. Within one process, writers then queue on the event loop
and each starts as soon as the one before it ends. Without it they met in SQLite's busy
handler, which sleeps 1, 2, 5, 10 … 100 ms between tries: a webhook's commit woke the event
and outbox loops, their transactions collided with the next request's, and the loser slept
through most of the lock's free time. Other processes still wait in the busy handler.

Trips to the driver's thread are few besides. ``BEGIN`` is not sent on its own: it goes with
the transaction's first statement, in one trip (a transaction that sends none costs none; a
BEGIN that fails is sent again with the next statement). Inside a write transaction, while it
holds the gate and SQLite's write lock, a statement its caller knows is cheap
(:func:`fetch_quick`: ``bot.db.driver``'s single-row inserts and ``run_core``'s lookups by
key, at most :data:`QUICK_VALUES` values) runs on the event loop's own thread: it cannot wait
for a lock there (the transaction holds the only one a writer needs under WAL), it takes
tens of microseconds, and the trip it saves took about a hundred (a queue, a thread switch,
a wake of the loop). After :data:`INLINE_SECONDS` without a turn for the loop the next one
takes the thread, so a long transaction still lets other tasks run. Every other statement
(SQLAlchemy's own, bulk ones, reads outside write transactions) and a write's ``COMMIT``
keep the thread, so a slow one never stalls the loop; ending a read-only transaction
(``COMMIT`` or ``ROLLBACK`` of a snapshot) runs inline.

:func:`sqlite_module` is passed to ``create_async_engine(module=…)``; the class names it
builds on are SQLAlchemy's aiosqlite adapter's (``sqlalchemy.dialects.sqlite.aiosqlite``,
2.1), checked by every SQLite test. Reaching into them is this module's whole purpose,
hence the file-wide SLF001 exemption.
"""

# ruff: noqa: SLF001

from __future__ import annotations

import asyncio
import sqlite3
import time
import weakref
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT, await_

Outcome = tuple[Any, list[Any] | None, int, int | None]


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> Outcome:
    """Execute on the driver's thread; return description, rows, rowcount and lastrowid."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement, fetch and close are one trip to the driver."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        # No driver cursor is opened here (SQLAlchemy's opens one: a trip of its own).
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        """The rows are all fetched already: nothing to size."""

    async def _async_soft_close(self) -> None:
        """Nothing is open on the driver's side to close."""

    def close(self) -> None:
        self._rows.clear()

    def setinputsizes(self, *inputsizes: Any) -> None:
        """SQLite ignores input sizes."""

    def nextset(self) -> None:
        """SQLite returns one result set per statement."""

    async def _run(self, operation: Any, parameters: Any, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            driver = cast(aiosqlite.Connection, self._connection)
            found: Outcome = await driver._execute(  # type: ignore[no-untyped-call]
                _run, driver._conn, operation, parameters, many
            )
        self._description, rows, self._rowcount, self._lastrowid = found
        self._rows = deque(rows) if rows else deque()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._run(operation, parameters, False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._run(operation, seq_of_parameters, True)


# A cheap statement (fetch_quick) binding at most this many values runs on the loop's thread
# inside a write transaction, until the transaction has held the loop this long.
QUICK_VALUES = 64
INLINE_SECONDS = 0.002


def _begun(connection: sqlite3.Connection, begin: str, fn: Any, args: Any, kwargs: Any) -> Any:
    """Begin the transaction, then run the first statement (one trip to the thread)."""
    connection.execute(begin)
    return fn(*args, **kwargs)


class _Driver(aiosqlite.Connection):
    """aiosqlite's connection, which runs a caller's cheap statements of a write transaction
    on the loop's thread (:func:`fetch_quick`) and ends read-only transactions there too."""

    def __init__(self, connector: Any, iter_chunk_size: int) -> None:
        super().__init__(connector, iter_chunk_size)
        self.owner: _Connection | None = None
        self.in_flight = 0  # calls sent to the thread and not finished there yet
        self._awake = time.perf_counter()  # when the caller last gave the loop a turn

    def _in_transaction(self) -> bool:
        return self._connection is not None and self._connection.in_transaction

    def may_inline(self, values: int) -> bool:
        """Whether a cheap statement binding ``values`` values may run on the loop now."""
        owner = self.owner
        return (
            owner is not None
            and owner.writing
            and not self.in_flight
            and values <= QUICK_VALUES
            and self._in_transaction()  # BEGIN went through: the write lock is ours
            # A transaction of many statements still gives other tasks a turn.
            and time.perf_counter() - self._awake < INLINE_SECONDS
        )

    def _answered(self, _sent: asyncio.Future[Any]) -> None:
        self.in_flight -= 1

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        owner = self.owner
        if (
            owner is not None
            and owner.reading
            and not self.in_flight
            and self._connection is not None
            and (fn == self._connection.commit or fn == self._connection.rollback)
        ):
            return fn()  # ending a read-only transaction lets go of a snapshot: no waiting
        begin = owner.take_begin() if owner is not None else None
        if begin is not None and self._connection is not None:
            fn, args, kwargs = _begun, (self._connection, begin, fn, args, kwargs), {}
        # Counted until the thread is done with it, even if the caller stops waiting: no
        # statement may run on the loop while the thread still uses the connection.
        self.in_flight += 1
        sent = asyncio.ensure_future(super()._execute(fn, *args, **kwargs))  # type: ignore[no-untyped-call]
        sent.add_done_callback(self._answered)
        try:
            return await asyncio.shield(sent)
        except Exception:
            if (
                begin is not None
                and owner is not None
                and sent.done()
                and not self._in_transaction()
            ):
                # BEGIN itself failed (another process held the lock past the busy timeout):
                # the next statement sends it again rather than run outside a transaction.
                owner.restore_begin(begin)
            raise
        finally:
            self._awake = time.perf_counter()


async def fetch_quick(driver: aiosqlite.Connection, sql: str, values: Sequence[Any]) -> list[Any]:
    """Run a statement the caller knows is cheap (a few rows by key) and return its rows.

    Inside a write transaction it runs on the loop's thread, no trip (unless the loop has
    had no turn for :data:`INLINE_SECONDS`, or the thread is busy); elsewhere it is
    ``execute_fetchall``.
    """
    if isinstance(driver, _Driver) and driver.may_inline(len(values)):
        raw = driver._connection
        assert raw is not None
        return raw.execute(sql, values).fetchall()
    return list(await driver.execute_fetchall(sql, values))


def _connect(database: Any, *, iter_chunk_size: int = 64, **kwargs: Any) -> _Driver:
    """``aiosqlite.connect``, making a :class:`_Driver`."""
    return _Driver(lambda: sqlite3.connect(database, **kwargs), iter_chunk_size)


class _Aiosqlite:
    """The aiosqlite module as SQLAlchemy's adapter reads it, with :func:`_connect`."""

    def __getattr__(self, name: str) -> Any:
        return _connect if name == "connect" else getattr(aiosqlite, name)


class WriteGate:
    """One writing transaction at a time among one engine's connections, queued on the loop."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        # An asyncio lock belongs to one event loop; an engine may be used from several
        # (tests, the CLI's runs), so each loop gets its own.
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    async def acquire(self) -> asyncio.Lock:
        """Wait for the gate; after the busy timeout, fail as SQLite would ("database is locked")."""
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        if not lock.locked():
            await lock.acquire()  # free: taken at once, no timer to set
            return lock
        try:
            async with asyncio.timeout(self._timeout):
                await lock.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        return lock


class _Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_gate", "_held", "_pending")
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any, gate: WriteGate) -> None:
        super().__init__(dbapi, connection)
        self._gate = gate
        self._held: asyncio.Lock | None = None
        self._pending: str | None = None  # a BEGIN to send with the first statement
        if isinstance(connection, _Driver):
            connection.owner = self

    @property
    def writing(self) -> bool:
        """Whether a write transaction is open (begun, holding the gate)."""
        return self._held is not None and self._pending is None

    @property
    def reading(self) -> bool:
        """Whether no write transaction is open or about to begin (a read, or none)."""
        return self._held is None and self._pending is None

    def take_begin(self) -> str | None:
        """Return the BEGIN not sent yet (the caller sends it), if any."""
        pending, self._pending = self._pending, None
        return pending

    def restore_begin(self, statement: str) -> None:
        """Keep a BEGIN that failed to be sent with the next statement."""
        if self._held is not None or statement == "BEGIN":
            self._pending = statement

    def begin(self, statement: str, *, writes: bool) -> None:
        """Begin a transaction with its first statement; one that ``writes`` waits for the
        engine's gate first."""
        self._release()  # a transaction left open before would otherwise hold it twice
        if writes:
            self._held = await_(self._gate.acquire())
        self._pending = statement

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None and held.locked():
            held.release()

    def commit(self) -> None:
        try:
            if self.take_begin() is None:  # else no statement ran: nothing began
                super().commit()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            # The pool rolls back every connection it takes back: a trip to the driver's
            # thread, for nothing when no transaction is open (the usual case, after commit).
            raw = cast(aiosqlite.Connection, self._connection)._connection
            if self.take_begin() is None and (raw is None or raw.in_transaction):
                super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        self._pending = None
        try:
            super().close()
        finally:
            self._release()

    def terminate(self) -> None:
        self._pending = None
        try:
            super().terminate()
        finally:
            self._release()


class _Module(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite module whose connections make :class:`OneTripCursor` cursors
    and share one :class:`WriteGate`."""

    def __init__(self, aiosqlite: Any, sqlite: Any, gate: WriteGate) -> None:
        super().__init__(aiosqlite, sqlite)
        self.gate = gate

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        return _Connection(self, adapted._connection, self.gate)


def sqlite_module(busy_timeout: float) -> Any:
    """Return the DBAPI module for ``create_async_engine(module=…)`` on SQLite (one per engine)."""
    return _Module(_Aiosqlite(), sqlite3, WriteGate(busy_timeout))


def begin(dbapi_connection: Any, statement: str, *, writes: bool) -> None:
    """Begin a transaction on a connection of :func:`sqlite_module`'s (in SQLAlchemy's greenlet)."""
    cast(_Connection, dbapi_connection).begin(statement, writes=writes)
