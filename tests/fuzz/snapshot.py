"""Every row of every table, to show that a refused request or command wrote nothing.

``snapshot(engine)`` reads each table of ``Base.metadata`` in dependency order, with its rows
sorted, so two snapshots compare equal exactly when no row was added, removed or changed;
``changed_tables(before, after)`` names the tables that differ, for the assertion message.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

import bot.models  # noqa: F401 - every table on the metadata
from bot.db import Base

Snapshot = dict[str, list[tuple[object, ...]]]


def _order(row: tuple[object, ...]) -> tuple[str, ...]:
    # Rows of a table without a primary key have no natural order; repr sorts any column type.
    return tuple(repr(value) for value in row)


async def snapshot(engine: AsyncEngine) -> Snapshot:
    """Return every table's rows (name -> sorted rows) in one read-only transaction."""
    tables: Snapshot = {}
    async with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            rows = (await connection.execute(select(table))).all()
            tables[table.name] = sorted((tuple(row) for row in rows), key=_order)
    return tables


def changed_tables(before: Snapshot, after: Snapshot) -> dict[str, str]:
    """Return, for each table that differs, how many rows were added and removed."""
    changes: dict[str, str] = {}
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name, []), after.get(name, [])
        if old == new:
            continue
        added = [row for row in new if row not in old]
        removed = [row for row in old if row not in new]
        changes[name] = f"+{len(added)} -{len(removed)} (e.g. {(added or removed)[:1]})"
    return changes
