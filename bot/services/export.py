"""Export everything the community owns: every table the features declare for it."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.features import ExportTable, discover

BATCH = 5_000


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def tables() -> list[ExportTable]:
    """Return every table the features export, in feature order."""
    return [table for feature in discover() for table in feature.export_tables]


async def _rows(
    session: AsyncSession, community_id: int, table: ExportTable
) -> AsyncIterator[dict[str, Any]]:
    model = table.model
    query = (
        table.query(community_id)
        if table.query
        else select(model).where(model.community_id == community_id)
    )
    result = await session.stream_scalars(
        query.order_by(model.id).execution_options(yield_per=BATCH)
    )
    async for row in result:
        yield {column: _plain(getattr(row, column)) for column in table.columns}


async def export_community(
    session: AsyncSession, community_id: int, *, out_dir: Path, fmt: str
) -> dict[str, int]:
    """Write one file per table into ``out_dir``; return the row count of each."""
    out_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - CLI only; nothing else runs on this loop
    counts: dict[str, int] = {}
    for table in tables():
        name, columns = table.name, table.columns
        count = 0
        if fmt == "csv":
            with (out_dir / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(columns))
                writer.writeheader()
                async for row in _rows(session, community_id, table):
                    writer.writerow(row)
                    count += 1
        else:
            with (out_dir / f"{name}.json").open("w", encoding="utf-8") as handle:
                handle.write("[")
                async for row in _rows(session, community_id, table):
                    handle.write(
                        ("," if count else "") + "\n" + json.dumps(row, ensure_ascii=False)
                    )
                    count += 1
                handle.write("\n]\n")
        counts[name] = count
    return counts
