"""Move rows from one member to another (linking two accounts), respecting unique keys."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, exists, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased


async def reassign(
    session: AsyncSession,
    model: type[Any],
    column: str,
    old: int,
    new: int,
    *,
    unique_with: tuple[str, ...] = (),
) -> None:
    """Point ``model.column`` from ``old`` to ``new``.

    Where a unique key of ``column`` and ``unique_with`` would be broken (both members
    checked in to the same occurrence), the old member's row is dropped: the new one has it.
    """
    target = getattr(model, column)
    if unique_with:
        twin = aliased(model)
        same = [getattr(twin, name) == getattr(model, name) for name in unique_with]
        await session.execute(
            delete(model).where(
                target == old, exists().where(and_(getattr(twin, column) == new, *same))
            )
        )
    await session.execute(update(model).where(target == old).values({column: new}))
