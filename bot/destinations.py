"""Destinations in the core's words: purposes, and a channel on some platform."""

from __future__ import annotations

import re
from dataclasses import dataclass

# The platforms a community can span (their front ends live in bot/discord and bot/slack).
PLATFORMS: tuple[str, ...] = ("discord", "slack")
# The purposes a community's channels are configured for (`/channel set <purpose>`).
PURPOSES: tuple[str, ...] = ("rituals", "ugc-review", "showcase", "recognition", "announcements")
ACCESS_KEY = r"^[a-z][a-z0-9_-]{0,39}$"


def checked_access_key(value: str | None) -> str | None:
    """Return an optional access key as given, or raise ValueError saying what one looks like."""
    if value is not None and not re.fullmatch(ACCESS_KEY, value):
        raise ValueError(
            "use an access key of [discord.access] / [slack.access]: lower-case letters, "
            "digits, - and _"
        )
    return value


@dataclass(frozen=True)
class ChannelRef:
    """A channel on one platform."""

    platform: str
    channel_id: str


def channel_on(channels: tuple[ChannelRef, ...], platform: str) -> str | None:
    """Return the channel id on ``platform`` among ``channels``, if there is one."""
    for channel in channels:
        if channel.platform == platform:
            return channel.channel_id
    return None
