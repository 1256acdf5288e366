"""Telling the owners when a member's access cannot be granted or revoked, and how to fix it."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.events import AccessBlocked
from bot.messages import DirectMessage, Part, Rich, bold, owned, rich
from bot.models import Member, PlatformSpace
from bot.outbox import send
from bot.services.communities import SpaceRef
from bot.services.identities import resolve_passive_members

log = logging.getLogger(__name__)


def notice_key(event: AccessBlocked, day: str, owner_member_id: int) -> str:
    """Return the outbox key of one owner's notice: one per access, platform, reason and day."""
    reason = hashlib.sha256(event.reason.encode()).hexdigest()[:16]
    return f"access-blocked:{event.access}:{event.platform}:{reason}:{day}:{owner_member_id}"


async def _member_name(session: AsyncSession, member_id: int) -> str | None:
    return await session.scalar(select(Member.display_name).where(Member.id == member_id))


def notice(event: AccessBlocked, name: str | None) -> Rich:
    """Return the owner's DM: whose access, what went wrong, the fix, and that it retries."""
    who = owned(event.member_id, name or "a member", fallback="a member")
    where = event.platform.capitalize()
    what: tuple[Part, ...]
    if event.grant:
        what = ("Flywheel could not give ", who, " the access ", bold(event.access))
    else:
        what = ("Flywheel could not take the access ", bold(event.access), " from ", who)
    return rich(
        *what,
        f" on {where}: {event.reason}.",
        "\nFlywheel keeps trying (at least every 15 minutes) and it goes through by itself once "
        "this is fixed; other members waiting on the same fix go through with it.",
    )


async def _spaces(
    session: AsyncSession, community_id: int, platform: str, preferred: str
) -> SpaceRef | None:
    rows = await session.scalars(
        select(PlatformSpace)
        .where(PlatformSpace.community_id == community_id, PlatformSpace.platform == platform)
        .order_by(PlatformSpace.external_id != preferred, PlatformSpace.id)
    )
    space = rows.first()
    if space is None:
        return None
    return SpaceRef(space.id, space.community_id, space.platform, space.external_id)


async def tell_owners(
    session: AsyncSession,
    clock: Clock,
    event: AccessBlocked,
    *,
    owners: Mapping[str, Sequence[str]],
) -> int:
    """DM each configured owner (on their platform) about a blocked change; return how many.

    Owners are those bot.toml names on each platform the community is on; one who was never
    seen becomes a member (a passive one: someone erased is not brought back).
    """
    if event.community_id is None:
        return 0
    body = notice(event, await _member_name(session, event.member_id))
    day = clock.now().date().isoformat()
    queued = 0
    told = False
    for platform, user_ids in sorted(owners.items()):
        if not user_ids:
            continue
        space = await _spaces(session, event.community_id, platform, event.space)
        if space is None:
            continue
        found = await resolve_passive_members(
            session, clock, space=space, users=[(user_id, None) for user_id in user_ids]
        )
        for owner in sorted({resolved.member_id for resolved in found.values()}):
            told = True
            queued += await send(
                session,
                clock,
                DirectMessage(member_id=owner, platform=platform, body=body),
                key=notice_key(event, day, owner),
                community_id=event.community_id,
            )
    if not told:
        log.warning(
            "access %r for member %s on %s is blocked and no owner was told (set owner_user_ids "
            "in bot.toml): %s",
            event.access,
            event.member_id,
            event.platform,
            event.reason,
        )
    return queued
