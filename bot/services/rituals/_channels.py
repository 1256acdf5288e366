"""A ritual's channels: its own destination row, with one channel per platform."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.destinations import ChannelRef, channel_on
from bot.models import Ritual
from bot.services import channels


async def channels_of(session: AsyncSession, ritual: Ritual) -> tuple[ChannelRef, ...]:
    """Return the channels the ritual posts in, one per platform at most."""
    return await channels.channels_of(session, ritual.destination_id)


async def channel_of(session: AsyncSession, ritual: Ritual, platform: str) -> str | None:
    """Return the ritual's channel on a platform."""
    return channel_on(await channels_of(session, ritual), platform)


async def new_destination(session: AsyncSession, clock: Clock, community_id: int) -> int:
    """Create the destination a new ritual posts to."""
    return await channels.new_destination(session, clock, community_id)


async def set_channel(
    session: AsyncSession, ritual: Ritual, platform: str, channel_id: str | None
) -> None:
    """Set (or clear) the ritual's channel on a platform."""
    await channels.place_channel(session, ritual.destination_id, platform, channel_id)
