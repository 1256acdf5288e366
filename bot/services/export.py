"""Export everything the community owns: members, identities, activities."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Activity, Identity, Member

TABLES: dict[str, tuple[type[Any], Sequence[str]]] = {
    "members": (
        Member,
        (
            "id",
            "display_name",
            "email",
            "points_total",
            "activity_count",
            "joined_at",
            "last_active_at",
            "merged_into_id",
            "erased_at",
        ),
    ),
    "identities": (Identity, ("id", "member_id", "platform", "user_id", "username", "created_at")),
    "activities": (
        Activity,
        (
            "id",
            "member_id",
            "kind",
            "points",
            "occurred_at",
            "source_key",
            "source_ref",
            "imported",
        ),
    ),
}
BATCH = 5_000


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


async def _rows(
    session: AsyncSession, community_id: int, name: str
) -> AsyncIterator[dict[str, Any]]:
    model, columns = TABLES[name]
    if model is Identity:
        query = select(Identity).join(Member, Member.id == Identity.member_id)
        query = query.where(Member.community_id == community_id)
    else:
        query = select(model).where(model.community_id == community_id)
    result = await session.stream_scalars(
        query.order_by(model.id).execution_options(yield_per=BATCH)
    )
    async for row in result:
        yield {column: _plain(getattr(row, column)) for column in columns}


async def export_community(
    session: AsyncSession, community_id: int, *, out_dir: Path, fmt: str
) -> dict[str, int]:
    """Write one file per table into ``out_dir``; return the row count of each."""
    out_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - CLI only; nothing else runs on this loop
    counts: dict[str, int] = {}
    for name, (_, columns) in TABLES.items():
        count = 0
        if fmt == "csv":
            with (out_dir / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(columns))
                writer.writeheader()
                async for row in _rows(session, community_id, name):
                    writer.writerow(row)
                    count += 1
        else:
            with (out_dir / f"{name}.json").open("w", encoding="utf-8") as handle:
                handle.write("[")
                async for row in _rows(session, community_id, name):
                    handle.write(
                        ("," if count else "") + "\n" + json.dumps(row, ensure_ascii=False)
                    )
                    count += 1
                handle.write("\n]\n")
        counts[name] = count
    return counts
