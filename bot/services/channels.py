"""Channels: where a community's posts go, by purpose and platform (``/channel set``).

A destination is a row: the community's channels for one purpose (``rituals``,
``ugc-review``, ``showcase``, ``recognition``, ``announcements``), or a ritual's own
channels. Each has at most one channel per platform. Features post to a destination with
:class:`bot.messages.Post`; the outbox finds its channels here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import dialect_insert
from bot.destinations import PURPOSES, ChannelRef, channel_on
from bot.errors import Invalid
from bot.features import ExportTable, Feature
from bot.models import Destination, DestinationChannel
from bot.services.audit import audit
from bot.services.callers import Actor, Role, require

# A moderator cleared the channel on purpose: kept as a row, so bot.toml does not put it back.
CLEARED = ""


@dataclass(frozen=True)
class DestinationView:
    """A purpose and its channel on each platform."""

    purpose: str
    channels: tuple[ChannelRef, ...]

    def channel_on(self, platform: str) -> str | None:
        """Return the channel id on ``platform``, if one is set."""
        return channel_on(self.channels, platform)


def check_purpose(purpose: str) -> str:
    """Return the purpose, normalised, or raise Invalid naming the purposes there are."""
    cleaned = purpose.strip().lower()
    if cleaned not in PURPOSES:
        raise Invalid(
            f"{purpose.strip()[:40]!r} is not a purpose; the purposes are {', '.join(PURPOSES)}.",
            field="purpose",
            code="purpose.unknown",
        )
    return cleaned


async def purpose_destination(
    session: AsyncSession, clock: Clock, community_id: int, purpose: str
) -> int:
    """Return the id of the community's destination for ``purpose``, creating it once."""
    await session.execute(
        dialect_insert(session, Destination)
        .values(community_id=community_id, purpose=purpose, created_at=clock.now())
        .on_conflict_do_nothing(index_elements=["community_id", "purpose"])
    )
    found = await session.scalar(
        select(Destination.id).where(
            Destination.community_id == community_id, Destination.purpose == purpose
        )
    )
    assert found is not None
    return found


async def new_destination(session: AsyncSession, clock: Clock, community_id: int) -> int:
    """Create a destination of its own (a ritual's channels); return its id."""
    destination = Destination(community_id=community_id, purpose=None, created_at=clock.now())
    session.add(destination)
    await session.flush()
    return destination.id


async def place_channel(
    session: AsyncSession, destination_id: int, platform: str, channel_id: str | None
) -> None:
    """Set (or with None, clear) a destination's channel on one platform."""
    if channel_id is None:
        await session.execute(
            delete(DestinationChannel).where(
                DestinationChannel.destination_id == destination_id,
                DestinationChannel.platform == platform,
            )
        )
        return
    await session.execute(
        dialect_insert(session, DestinationChannel)
        .values(destination_id=destination_id, platform=platform, channel_id=channel_id)
        .on_conflict_do_update(
            index_elements=["destination_id", "platform"], set_={"channel_id": channel_id}
        )
    )


async def channels_of(session: AsyncSession, destination_id: int) -> tuple[ChannelRef, ...]:
    """Return a destination's channels, by platform."""
    rows = await session.execute(
        select(DestinationChannel.platform, DestinationChannel.channel_id)
        .where(
            DestinationChannel.destination_id == destination_id,
            DestinationChannel.channel_id != CLEARED,
        )
        .order_by(DestinationChannel.platform)
    )
    return tuple(ChannelRef(platform, channel) for platform, channel in rows)


def check_channel_id(channel_id: str) -> str:
    """Refuse a channel id that no platform could have issued."""
    cleaned = channel_id.strip()
    if not 1 <= len(cleaned) <= 64 or not cleaned.isascii() or not cleaned.isalnum():
        raise Invalid(
            "That is not a channel; pick one from the channel list.",
            field="channel_id",
            code="channel_id.malformed",
        )
    return cleaned


async def set_channel(
    session: AsyncSession, clock: Clock, actor: Actor, purpose: str, channel_id: str
) -> DestinationView:
    """Post ``purpose`` in this channel on the caller's platform (moderators only)."""
    require(actor, Role.MODERATOR)
    purpose = check_purpose(purpose)
    channel_id = check_channel_id(channel_id)
    destination = await purpose_destination(session, clock, actor.community_id, purpose)
    await place_channel(session, destination, actor.caller.platform, channel_id)
    await audit(session, clock, actor, "channel.set", f"purpose:{purpose}", {"channel": channel_id})
    return DestinationView(purpose, await channels_of(session, destination))


async def clear_channel(session: AsyncSession, clock: Clock, actor: Actor, purpose: str) -> bool:
    """Stop posting ``purpose`` on the caller's platform (moderators only); False if unset."""
    require(actor, Role.MODERATOR)
    purpose = check_purpose(purpose)
    destination = await purpose_destination(session, clock, actor.community_id, purpose)
    had = channel_on(await channels_of(session, destination), actor.caller.platform)
    await place_channel(session, destination, actor.caller.platform, CLEARED)
    await audit(session, clock, actor, "channel.clear", f"purpose:{purpose}")
    return had is not None


async def list_channels(session: AsyncSession, community_id: int) -> list[DestinationView]:
    """Return every purpose with its channels (none where unset), in the purposes' order."""
    rows = await session.execute(
        select(Destination.purpose, DestinationChannel.platform, DestinationChannel.channel_id)
        .join(DestinationChannel, DestinationChannel.destination_id == Destination.id)
        .where(
            Destination.community_id == community_id,
            Destination.purpose.is_not(None),
            DestinationChannel.channel_id != CLEARED,
        )
        .order_by(DestinationChannel.platform)
    )
    found: dict[str, list[ChannelRef]] = {purpose: [] for purpose in PURPOSES}
    for purpose, platform, channel in rows:
        if purpose in found:
            found[purpose].append(ChannelRef(platform, channel))
    return [DestinationView(purpose, tuple(found[purpose])) for purpose in PURPOSES]


async def apply_configured(
    session: AsyncSession,
    clock: Clock,
    community_id: int,
    platform: str,
    channels: Mapping[str, str | int],
) -> int:
    """Set the channels bot.toml names where no moderator set or cleared one; return how many."""
    applied = 0
    for purpose, channel_id in channels.items():
        destination = await purpose_destination(session, clock, community_id, purpose)
        chosen = await session.scalar(
            select(DestinationChannel.id).where(
                DestinationChannel.destination_id == destination,
                DestinationChannel.platform == platform,
            )
        )
        if chosen is None:
            await place_channel(session, destination, platform, str(channel_id))
            applied += 1
    return applied


def _community_destinations(community_id: int) -> object:
    return select(Destination).where(Destination.community_id == community_id)


def _community_destination_channels(community_id: int) -> object:
    return (
        select(DestinationChannel)
        .join(Destination, Destination.id == DestinationChannel.destination_id)
        .where(Destination.community_id == community_id)
    )


FEATURE = Feature(
    name="channels",
    summary="Channels: where posts of each purpose go, per platform (/channel set).",
    export_tables=(
        ExportTable(
            "destinations", Destination, ("id", "purpose", "created_at"), _community_destinations
        ),
        ExportTable(
            "destination_channels",
            DestinationChannel,
            ("id", "destination_id", "platform", "channel_id"),
            _community_destination_channels,
        ),
    ),
)
