"""Where things are posted: a channel on one platform."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChannelRef:
    """A channel on one platform, as that platform names it."""

    platform: str
    channel_id: str
