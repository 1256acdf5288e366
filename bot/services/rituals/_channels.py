"""A ritual's channel on each platform (temporary: replaced by destinations).

The model still keeps one column per platform; these helpers are the only code that knows
it, so the destinations rows can replace them in one place.
"""

# replaced by destinations

from __future__ import annotations

from bot.destinations import ChannelRef
from bot.errors import Invalid
from bot.models import Ritual

PLATFORMS = ("discord", "slack")


def channel_of(ritual: Ritual, platform: str) -> str | None:
    """Return the ritual's channel on a platform."""
    if platform == "discord":
        return ritual.discord_channel_id
    if platform == "slack":
        return ritual.slack_channel_id
    return None


def set_channel(ritual: Ritual, platform: str, channel_id: str | None) -> None:
    """Set the ritual's channel on a platform."""
    if platform == "discord":
        ritual.discord_channel_id = channel_id
    elif platform == "slack":
        ritual.slack_channel_id = channel_id
    else:
        raise Invalid(
            f"Rituals cannot post on {platform!r}.", field="channel_id", code="channel_id.platform"
        )


def channels_of(ritual: Ritual) -> tuple[ChannelRef, ...]:
    """Return the channels the ritual posts in, one per platform at most."""
    return tuple(
        ChannelRef(platform, channel)
        for platform in PLATFORMS
        if (channel := channel_of(ritual, platform))
    )
