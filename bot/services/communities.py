"""Communities and the platform spaces bound to them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import dialect_insert
from bot.destinations import PLATFORMS
from bot.errors import NotFound
from bot.models import Community, PlatformSpace


@dataclass(frozen=True)
class SpaceRef:
    """A platform space and the community it belongs to."""

    space_id: int
    community_id: int
    platform: str
    external_id: str


async def ensure_community(
    session: AsyncSession, clock: Clock, *, slug: str, name: str, timezone: str
) -> int:
    """Return the id of the community with this slug, creating it on first use."""
    await session.execute(
        dialect_insert(session, Community)
        .values(slug=slug, name=name, timezone=timezone, created_at=clock.now())
        .on_conflict_do_nothing(index_elements=["slug"])
    )
    community_id = await session.scalar(select(Community.id).where(Community.slug == slug))
    assert community_id is not None
    return community_id


async def ensure_space(
    session: AsyncSession,
    clock: Clock,
    *,
    community_id: int,
    platform: str,
    external_id: str,
    name: str = "",
) -> SpaceRef:
    """Bind a guild or workspace to a community (once) and return it."""
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}")
    await session.execute(
        dialect_insert(session, PlatformSpace)
        .values(
            community_id=community_id,
            platform=platform,
            external_id=external_id,
            name=name,
            created_at=clock.now(),
        )
        .on_conflict_do_nothing(index_elements=["platform", "external_id"])
    )
    return await get_space(session, platform=platform, external_id=external_id)


async def get_space(session: AsyncSession, *, platform: str, external_id: str) -> SpaceRef:
    """Return the bound space, or raise NotFound if this guild/workspace is not set up."""
    space = await session.scalar(
        select(PlatformSpace).where(
            PlatformSpace.platform == platform, PlatformSpace.external_id == external_id
        )
    )
    if space is None:
        raise NotFound(f"This {platform} space is not connected to a Flywheel community yet.")
    return SpaceRef(space.id, space.community_id, space.platform, space.external_id)
